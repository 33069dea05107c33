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
