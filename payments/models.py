from django.db import models
from django.db.models.functions import Lower


class StripeCustomer(models.Model):
    """The Stripe Customer of an e-mail, kept here so a booking never lists Stripe's customers."""

    email = models.EmailField(max_length=254, unique=True, help_text="Stored lower-case.")
    stripe_customer_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")),
                name="payments_stripecustomer_email_lowercase",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.stripe_customer_id})"


class StripeWebhookEvent(models.Model):
    """Every webhook event seen, by Stripe's id: Stripe delivers at least once, we act once."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(
        blank=True, help_text="Why a processed event changed nothing; empty when it was applied."
    )

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class PaymentState(models.TextChoices):
    # Stripe holds a PaymentIntent whose outcome is not final (processing, or not yet asked).
    PENDING = "pending", "pending"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"


class Payment(models.Model):
    """One attempt to take a reservation's bill, as pretix keeps an OrderPayment beside its
    Order: the card, the PaymentIntent, the amount and what Stripe answered.

    The reservation keeps its lifecycle (its `paid` and `payment_failed` are what the public
    contract answers); what happened to the money is here, and refunds will hang off it. A
    charge's row is written only once Stripe has answered, so a retry after a lost answer
    sends the same idempotency key (`attempt`); rows are also written for a charge that could
    not be tried (no card saved) and for a PaymentIntent a webhook reported first.
    """

    reservation = models.ForeignKey(
        "reservations.Reservation", on_delete=models.PROTECT, related_name="payments"
    )
    attempt = models.PositiveSmallIntegerField()
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    state = models.CharField(max_length=20, choices=PaymentState.choices)
    stripe_payment_method_id = models.CharField(max_length=255, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    error_code = models.CharField(
        max_length=255, blank=True, help_text="Stripe's decline or failure code."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("reservation", "attempt")
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "attempt"], name="payment_one_row_per_attempt"
            ),
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                condition=~models.Q(stripe_payment_intent_id=""),
                name="payment_one_row_per_payment_intent",
            ),
            # However a charge is retried or reconciled, a bill is taken once.
            models.UniqueConstraint(
                fields=["reservation"],
                condition=models.Q(state=PaymentState.SUCCEEDED),
                name="payment_one_success_per_reservation",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=PaymentState.values), name="payment_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Payment {self.attempt} of reservation {self.reservation_id} ({self.state})"
