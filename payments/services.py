import hashlib

from django.db import connection, transaction

from payments import gateway
from payments.models import StripeCustomer


def _email_digest(email: str) -> bytes:
    return hashlib.sha256(f"stripe-customer:{email}".encode()).digest()


def customer_get_or_create(*, email: str) -> str:
    """The Stripe Customer id of `email` (case-insensitive), created once and stored here.

    A transaction-level advisory lock per e-mail makes concurrent first bookings wait for
    the one that creates the Customer instead of each creating one; the idempotency key
    (a digest, no address in Stripe's logs) covers a retry after a lost response.
    """
    email = email.strip().lower()
    digest = _email_digest(email)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], signed=True)]
            )
        stored = StripeCustomer.objects.filter(email=email).first()
        if stored is not None:
            return stored.stripe_customer_id
        customer_id = gateway.customer_create(
            email=email, idempotency_key=f"customer-{digest.hex()[:32]}"
        )
        StripeCustomer.objects.create(email=email, stripe_customer_id=customer_id)
    return customer_id
