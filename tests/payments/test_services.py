from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connection

from payments.models import StripeCustomer
from payments.services.cards import customer_get_or_create
from tests.payments.conftest import unique_email


def stripe_customers(localstripe, email: str) -> list[str]:
    listed = localstripe.request("GET", "/v1/customers", {"email": email, "limit": 100})
    return [customer["id"] for customer in listed["data"]]


@pytest.mark.django_db
def test_customer_is_created_once_per_email_whatever_its_case(localstripe):
    email = unique_email()

    first = customer_get_or_create(email=email)
    again = customer_get_or_create(email=f"  {email.upper()} ")

    assert first == again
    assert stripe_customers(localstripe, email.lower()) == [first]
    stored = StripeCustomer.objects.get()
    assert (stored.email, stored.stripe_customer_id) == (email.lower(), first)


@pytest.mark.django_db
def test_other_email_gets_its_own_customer(localstripe):
    assert customer_get_or_create(email=unique_email()) != customer_get_or_create(
        email=unique_email()
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_bookings_share_one_customer(localstripe):
    email = unique_email()
    callers = 4
    barrier = Barrier(callers)

    def book(spelling: str) -> str:
        try:
            barrier.wait(timeout=10)
            return customer_get_or_create(email=spelling)
        finally:
            connection.close()

    spellings = [email, email.lower(), email.upper(), f" {email} "]
    with ThreadPoolExecutor(max_workers=callers) as pool:
        ids = list(pool.map(book, spellings))

    assert len(set(ids)) == 1
    assert stripe_customers(localstripe, email.lower()) == ids[:1]
    assert StripeCustomer.objects.count() == 1
