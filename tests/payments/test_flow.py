"""The whole payment flow through the API, the real stripe library and localstripe."""

import logging
import re
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import F
from rest_framework.test import APIClient

from outbox.models import OutboundEmail
from payments.models import StripeCustomer
from payments.services.charges import payment_charge_reservation
from reservations.models import Reservation, ReservationStatus
from testing.factories import ParkingSpotFactory, UserFactory
from testing.localstripe import CARD_OK
from tests.payments.conftest import recorded_payment_intent, signed_in_as, unique_email
from tests.payments.test_webhooks import deliver, event

pytestmark = pytest.mark.django_db
END_NOW = {"reservation": {"end_time": None}}
S = ReservationStatus


def book_guest(client, spot, email: str) -> str:
    body = {"reservation": {"email": email, "reservation_length": 60}}
    response = client.post(f"/reservation-unauth/{spot.pk}/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def book_auth(client, spot) -> str:
    body = {"reservation": {"reservation_length": 60}}
    response = client.post(f"/reservation-auth/{spot.pk}/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def started_minutes_ago(reservation_id: str, minutes: int) -> None:
    """Move the start back so the bill is more than the minimum charge."""
    Reservation.objects.filter(public_id=reservation_id).update(
        start_time=F("start_time") - timedelta(minutes=minutes)
    )


def test_guest_flow_from_booking_to_paid(
    api_client, localstripe, outbox, django_capture_on_commit_callbacks
):
    spot = ParkingSpotFactory()
    email = unique_email()
    reservation_id = book_guest(api_client, spot, email)
    # The e-mail in the path matches in any letter case.
    guest = f"{reservation_id}/{email.upper()}"

    created = api_client.post(f"/create-payment-intent-unauth/{guest}/")
    assert created.status_code == 201, created.content
    client_secret = created.json()["clientSecret"]
    reservation = Reservation.objects.get(public_id=reservation_id)
    assert client_secret.startswith(f"{reservation.stripe_setup_intent_id}_secret_")
    assert StripeCustomer.objects.get(email=email.lower()).stripe_customer_id == (
        reservation.stripe_customer_id
    )

    assert localstripe.confirm_card_setup(client_secret, CARD_OK)["status"] == "succeeded"
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = api_client.get(f"/confirm-successful-setup-intent-unauth/{guest}/")

    assert confirmed.status_code == 204, confirmed.content
    reservation.refresh_from_db()
    assert reservation.status == S.ACTIVE
    assert reservation.stripe_payment_method_id.startswith("pm_")
    assert (reservation.card_brand, reservation.card_last4) == ("visa", "4242")
    assert [message.to for message in outbox.deliver()] == [[email.lower()]]
    assert "ending in 4242" in outbox.deliver()[0].body

    started_minutes_ago(reservation_id, 37)
    with django_capture_on_commit_callbacks(execute=True):
        ended = api_client.patch(f"/update-reservation-unauth/{guest}/", END_NOW, format="json")
    assert ended.status_code == 200, ended.content
    reservation.refresh_from_db()
    assert reservation.status == S.ENDED
    # 37 minutes and a little: 38 started minutes of the first hour at $1.50 ("elsewhere").
    assert reservation.amount_cents == 95

    assert payment_charge_reservation(reservation_id=reservation.pk).status == S.PAID

    reservation.refresh_from_db()
    [payment_intent] = localstripe.payment_intents(reservation.stripe_customer_id)
    assert payment_intent["id"] == recorded_payment_intent(reservation)
    assert payment_intent["status"] == "succeeded"
    assert (payment_intent["amount"], payment_intent["currency"]) == (95, "usd")
    assert payment_intent["metadata"] == {
        "reservation": reservation.public_id,
        "deployment": settings.DEPLOYMENT_TAG,
    }
    assert payment_intent["payment_method"] == reservation.stripe_payment_method_id
    assert api_client.get(f"/reservation-unauth/{guest}/").json()["paid"] is True


def test_signed_in_flow_from_booking_to_paid(
    signed_in, user, localstripe, outbox, django_capture_on_commit_callbacks
):
    spot = ParkingSpotFactory(rate="6.00")
    reservation_id = book_auth(signed_in, spot)

    created = signed_in.post(f"/create-payment-intent-auth/{reservation_id}")
    assert created.status_code == 201, created.content
    localstripe.confirm_card_setup(created.json()["clientSecret"], CARD_OK)
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = signed_in.get(f"/confirm-successful-setup-intent-auth/{reservation_id}")
    assert confirmed.status_code == 204, confirmed.content
    assert Reservation.objects.get(public_id=reservation_id).status == S.ACTIVE
    assert [message.to for message in outbox.deliver()] == [[user.email]]

    started_minutes_ago(reservation_id, 20)
    with django_capture_on_commit_callbacks(execute=True):
        ended = signed_in.patch(
            f"/update-reservation-auth/{reservation_id}/", END_NOW, format="json"
        )
    assert ended.status_code == 200, ended.content

    reservation = payment_charge_reservation(
        reservation_id=Reservation.objects.get(public_id=reservation_id).pk
    )

    assert reservation.status == S.PAID
    # 21 started minutes of the first hour at $1.50 ("elsewhere"): 52.5 cents, half up.
    assert reservation.amount_cents == 53
    [payment_intent] = localstripe.payment_intents(reservation.stripe_customer_id)
    assert (payment_intent["amount"], payment_intent["status"]) == (53, "succeeded")
    listed = signed_in.get("/expired-reservations-auth/").json()
    assert [(item["id"], item["status"], item["paid"]) for item in listed] == [
        (reservation_id, "paid", True)
    ]


def test_a_second_booking_of_the_same_email_reuses_its_stripe_customer(api_client, localstripe):
    email = unique_email()
    customers = []
    for spot in ParkingSpotFactory.create_batch(2):
        reservation_id = book_guest(api_client, spot, email)
        response = api_client.post(f"/create-payment-intent-unauth/{reservation_id}/{email}/")
        assert response.status_code == 201, response.content
        customers.append(Reservation.objects.get(public_id=reservation_id).stripe_customer_id)

    assert customers[0] == customers[1]
    listed = localstripe.request("GET", "/v1/customers", {"email": email.lower()})
    assert [customer["id"] for customer in listed["data"]] == customers[:1]


def test_create_twice_returns_the_same_setup_intent(api_client, localstripe):
    email = unique_email()
    reservation_id = book_guest(api_client, ParkingSpotFactory(), email)
    url = f"/create-payment-intent-unauth/{reservation_id}/{email}"

    first = api_client.post(url)
    second = api_client.post(url + "/")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    setup_intent_id = Reservation.objects.get(public_id=reservation_id).stripe_setup_intent_id
    assert first.json()["clientSecret"].startswith(f"{setup_intent_id}_secret_")


def test_create_for_an_active_reservation_or_a_lapsed_hold_is_409(api_client, localstripe):
    email = unique_email()
    active, lapsed = (
        book_guest(api_client, spot, email) for spot in ParkingSpotFactory.create_batch(2)
    )
    Reservation.objects.filter(public_id=active).update(status=S.ACTIVE, hold_expires_at=None)
    Reservation.objects.filter(public_id=lapsed).update(hold_expires_at=F("start_time"))

    for reservation_id in (active, lapsed):
        response = api_client.post(f"/create-payment-intent-unauth/{reservation_id}/{email}/")
        assert response.status_code == 409, response.content
        assert "detail" in response.json()
    assert not Reservation.objects.exclude(stripe_setup_intent_id="").exists()


def test_confirm_before_the_card_is_set_up_is_409_and_changes_nothing(
    api_client, localstripe, outbox, django_capture_on_commit_callbacks
):
    email = unique_email()
    reservation_id = book_guest(api_client, ParkingSpotFactory(), email)
    confirm = f"/confirm-successful-setup-intent-unauth/{reservation_id}/{email}/"

    with django_capture_on_commit_callbacks(execute=True):
        before_setup_intent = api_client.get(confirm)
        api_client.post(f"/create-payment-intent-unauth/{reservation_id}/{email}/")
        before_card = api_client.get(confirm)

    assert (before_setup_intent.status_code, before_card.status_code) == (409, 409)
    assert "requires_payment_method" in before_card.json()["detail"]
    reservation = Reservation.objects.get(public_id=reservation_id)
    assert (reservation.status, reservation.stripe_payment_method_id) == (S.PENDING_PAYMENT, "")
    assert outbox.deliver() == []


def test_confirm_twice_sends_one_email(
    api_client, localstripe, outbox, django_capture_on_commit_callbacks
):
    email = unique_email()
    reservation_id = book_guest(api_client, ParkingSpotFactory(), email)
    secret = api_client.post(f"/create-payment-intent-unauth/{reservation_id}/{email}/").json()
    localstripe.confirm_card_setup(secret["clientSecret"], CARD_OK)

    confirm = f"/confirm-successful-setup-intent-unauth/{reservation_id}/{email}"
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [api_client.get(confirm).status_code for _ in range(2)]

    assert statuses == [204, 204]
    assert len(outbox.deliver()) == 1


def test_confirm_after_the_hold_ran_out_and_the_spot_was_taken_is_409(
    api_client, localstripe, outbox, django_capture_on_commit_callbacks
):
    spot = ParkingSpotFactory()
    email = unique_email()
    reservation_id = book_guest(api_client, spot, email)
    secret = api_client.post(f"/create-payment-intent-unauth/{reservation_id}/{email}/").json()
    localstripe.confirm_card_setup(secret["clientSecret"], CARD_OK)
    Reservation.objects.filter(public_id=reservation_id).update(hold_expires_at=F("start_time"))
    book_guest(api_client, spot, unique_email())

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.get(
            f"/confirm-successful-setup-intent-unauth/{reservation_id}/{email}/"
        )

    assert response.status_code == 409, response.content
    reservation = Reservation.objects.get(public_id=reservation_id)
    assert reservation.status == S.CANCELLED
    assert localstripe.payment_intents(reservation.stripe_customer_id) == []
    assert outbox.deliver() == []


def test_guest_routes_need_the_right_email_and_auth_routes_the_owner(signed_in, localstripe):
    api_client = APIClient()
    email = unique_email()
    guest_reservation = book_guest(api_client, ParkingSpotFactory(), email)
    others = signed_in_as(UserFactory())
    other_reservation = book_auth(others, ParkingSpotFactory())

    responses = [
        api_client.post(f"/create-payment-intent-unauth/{guest_reservation}/other@example.com/"),
        api_client.get(
            f"/confirm-successful-setup-intent-unauth/{guest_reservation}/not-an-email/"
        ),
        api_client.post(f"/create-payment-intent-unauth/{other_reservation}/{others.email}/"),
        signed_in.post(f"/create-payment-intent-auth/{other_reservation}/"),
        signed_in.get(f"/confirm-successful-setup-intent-auth/{other_reservation}/"),
        signed_in.post(f"/create-payment-intent-auth/{guest_reservation}/"),
        api_client.post("/create-payment-intent-unauth/999999999999999999/a@example.com/"),
    ]

    assert [response.status_code for response in responses] == [404] * len(responses)
    assert api_client.post(f"/create-payment-intent-auth/{guest_reservation}/").status_code == 401
    assert not Reservation.objects.exclude(stripe_setup_intent_id="").exists()


def test_malformed_requests_to_the_payment_routes_are_4xx(localstripe):
    client = APIClient()
    email = unique_email()
    reservation_id = book_guest(client, ParkingSpotFactory(), email)
    create = f"/create-payment-intent-unauth/{reservation_id}/{email}/"
    confirm = f"/confirm-successful-setup-intent-unauth/{reservation_id}/{email}/"

    responses = {
        "non-JSON body": client.post(create, b"\xff{", content_type="application/json"),
        "form body": client.post(create, {"clientSecret": "x"}),
        "wrong method": client.delete(create),
        "confirm by POST": client.post(confirm, {}, format="json"),
        "bad unicode e-mail": client.post(
            f"/create-payment-intent-unauth/{reservation_id}/%ED%A0%80/"
        ),
        "id too long": client.get(f"/confirm-successful-setup-intent-unauth/{'a' * 65}/a@b.c/"),
        "no id": client.post("/create-payment-intent-auth//"),
    }

    codes = {name: response.status_code for name, response in responses.items()}
    # The body is never read: a create with junk still creates.
    assert codes == {
        "non-JSON body": 201,
        "form body": 201,
        "wrong method": 405,
        "confirm by POST": 405,
        "bad unicode e-mail": 404,
        "id too long": 404,
        "no id": 404,
    }
    assert all(response["Content-Type"] == "application/json" for response in responses.values())


def test_stripe_down_on_the_payment_routes_is_503_and_changes_nothing(
    api_client, localstripe, settings
):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    email = unique_email()
    reservation_id = book_guest(api_client, ParkingSpotFactory(), email)
    guest = f"{reservation_id}/{email}"

    with localstripe.stopped():
        create = api_client.post(f"/create-payment-intent-unauth/{guest}/")
    secret = api_client.post(f"/create-payment-intent-unauth/{guest}/").json()["clientSecret"]
    localstripe.confirm_card_setup(secret, CARD_OK)
    with localstripe.stopped():
        confirm = api_client.get(f"/confirm-successful-setup-intent-unauth/{guest}/")

    assert (create.status_code, confirm.status_code) == (503, 503)
    assert "detail" in confirm.json()
    assert (create["Retry-After"], confirm["Retry-After"]) == ("5", "5")
    assert Reservation.objects.get(public_id=reservation_id).status == S.PENDING_PAYMENT
    assert api_client.get(f"/confirm-successful-setup-intent-unauth/{guest}/").status_code == 204


def test_stripe_calls_of_one_reservation(
    api_client, localstripe, caplog, django_capture_on_commit_callbacks
):
    """What one guest reservation costs in Stripe calls, every route called twice and both
    webhooks delivered: the numbers the README gives."""
    email = unique_email()
    reservation_id = book_guest(api_client, ParkingSpotFactory(), email)
    guest = f"{reservation_id}/{email}"
    caplog.set_level(logging.INFO, logger="stripe")

    api_client.post(f"/create-payment-intent-unauth/{guest}/")
    client_secret = api_client.post(f"/create-payment-intent-unauth/{guest}/").json()
    localstripe.confirm_card_setup(client_secret["clientSecret"], CARD_OK)
    for _ in range(2):
        assert (
            api_client.get(f"/confirm-successful-setup-intent-unauth/{guest}/").status_code == 204
        )
    reservation = Reservation.objects.get(public_id=reservation_id)
    deliver(event("setup_intent.succeeded", reservation.stripe_setup_intent_id))
    with django_capture_on_commit_callbacks(execute=True):
        api_client.patch(f"/update-reservation-unauth/{guest}/", END_NOW, format="json")
    for _ in range(2):
        assert payment_charge_reservation(reservation_id=reservation.pk).status == S.PAID
    reservation.refresh_from_db()
    deliver(event("payment_intent.succeeded", recorded_payment_intent(reservation)))

    calls = Counter(
        re.search(r"method=(\w+) url=\S*?(/v1/[a-z_]+)", record.getMessage()).groups()
        for record in caplog.records
        if "Request to Stripe api" in record.getMessage()
    )
    assert calls == {
        ("post", "/v1/customers"): 1,
        ("post", "/v1/setup_intents"): 1,
        # The second create returns the same SetupIntent; the first confirm checks it.
        ("get", "/v1/setup_intents"): 2,
        ("post", "/v1/payment_intents"): 1,
        # The second charge finds the reservation paid; the webhook asks Stripe.
        ("get", "/v1/payment_intents"): 1,
    }


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_down_does_not_fail_a_confirmed_card(
    api_client, localstripe, mail_server_down, settings, outbox
):
    email = unique_email()
    reservation_id = book_guest(api_client, ParkingSpotFactory(), email)
    guest = f"{reservation_id}/{email}"
    secret = api_client.post(f"/create-payment-intent-unauth/{guest}/").json()["clientSecret"]
    localstripe.confirm_card_setup(secret, CARD_OK)

    response = api_client.get(f"/confirm-successful-setup-intent-unauth/{guest}/")

    assert response.status_code == 204
    assert Reservation.objects.get(public_id=reservation_id).status == S.ACTIVE
    # The e-mail waits in the outbox, with why, until the mail server is back.
    assert outbox.deliver() == []
    [waiting] = OutboundEmail.objects.filter(to=email.lower(), sent_at__isnull=True)
    assert waiting.attempts == 1 and "ConnectionRefusedError" in waiting.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert [message.to for message in outbox.deliver()] == [[email.lower()]]
