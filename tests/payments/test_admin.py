import pytest
from model_bakery import baker

from payments.models import StripeCustomer, StripeWebhookEvent

pytestmark = pytest.mark.django_db


def test_operator_sees_stripe_customers_but_cannot_change_them(admin_client):
    customer = StripeCustomer.objects.create(
        email="ana@example.com", stripe_customer_id="cus_admin"
    )

    listing = admin_client.get("/admin/payments/stripecustomer/", secure=True)
    assert listing.status_code == 200
    assert b"cus_admin" in listing.content
    assert admin_client.get("/admin/payments/stripecustomer/add/", secure=True).status_code == 403
    deleted = admin_client.post(
        f"/admin/payments/stripecustomer/{customer.pk}/delete/", {"post": "yes"}, secure=True
    )
    assert deleted.status_code == 403
    assert StripeCustomer.objects.filter(pk=customer.pk).exists()


def test_operator_lists_webhook_events(admin_client):
    baker.make(StripeWebhookEvent, event_id="evt_admin")

    listing = admin_client.get("/admin/payments/stripewebhookevent/", secure=True)

    assert listing.status_code == 200
    assert b"evt_admin" in listing.content
