from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from reservations.models import Reservation


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


class PaymentKind(models.TextChoices):
    # The end-of-stay charge of the saved card, made by the workers without the driver.
    CHARGE = "charge", "end-of-stay charge"
    # A failed charge paid by the driver on-session (3-D Secure where the bank asks).
    SETTLEMENT = "settlement", "settlement"


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
    kind = models.CharField(max_length=16, choices=PaymentKind.choices, default=PaymentKind.CHARGE)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    state = models.CharField(max_length=20, choices=PaymentState.choices)
    stripe_payment_method_id = models.CharField(max_length=255, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    error_code = models.CharField(
        max_length=255, blank=True, help_text="Stripe's decline or failure code."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("reservation", "attempt")
        indexes = [
            # The money views: what happened on a day, by state.
            models.Index(fields=["state", "updated_at"], name="payment_state_updated"),
        ]
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
            models.CheckConstraint(
                condition=models.Q(kind__in=PaymentKind.values), name="payment_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Payment {self.attempt} of reservation {self.reservation_id} ({self.state})"


class RefundState(models.TextChoices):
    # Written before Stripe is asked, so its amount counts against what is left to refund.
    PENDING = "pending", "pending"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELED = "canceled", "canceled"


# The refunds whose amount is spent or may still be: all but those that will never move money.
REFUND_COUNTING_STATES = (RefundState.PENDING, RefundState.SUCCEEDED)


class Refund(models.Model):
    """Money given back from one succeeded payment, asked by an operator with a reason.

    The row is written (under the payment's row lock, checked against what is left) before
    Stripe is asked, as pretix writes an OrderRefund before its provider runs: two operators
    refunding at once cannot together give back more than was paid, and a lost answer is
    retried with the same idempotency key (the row's id).
    """

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.TextField(help_text="Why, in the operator's words; shown on the receipt.")
    state = models.CharField(
        max_length=16, choices=RefundState.choices, default=RefundState.PENDING
    )
    stripe_refund_id = models.CharField(max_length=255, blank=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("payment", "created_at", "id")
        indexes = [models.Index(fields=["state", "updated_at"], name="refund_state_updated")]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_refund_id"],
                condition=~models.Q(stripe_refund_id=""),
                name="refund_one_row_per_stripe_refund",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0), name="refund_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=RefundState.values), name="refund_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Refund {self.pk} of {self.amount_cents} cents ({self.state})"


class Dispute(models.Model):
    """A chargeback the card holder's bank opened against a payment, as Stripe reports it."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(max_length=255, unique=True)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=64, blank=True, help_text="Stripe's dispute reason.")
    status = models.CharField(max_length=32, help_text="Stripe's: needs_response, won, lost...")
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["created_at"], name="dispute_created")]

    def __str__(self) -> str:
        return f"Dispute {self.stripe_dispute_id} ({self.status})"


class ReservationBill(Reservation):
    """A reservation seen for its money (payment, refunds, disputes) in the admin.

    A proxy, so the reservations app, which may not know payments, keeps its own admin.
    """

    class Meta:
        proxy = True
        verbose_name = "reservation bill"
