"""Settling a failed end-of-stay charge on-session: POST /settle-reservation-*, Stripe.js
(localstripe playing it), GET /confirm-settlement-*, the webhook; the bill is taken once."""

import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from urllib.parse import urlsplit

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from payments import gateway
from payments.emails import SUBJECT as PAYMENT_FAILED_SUBJECT
from payments.models import Payment, PaymentKind, PaymentState
from payments.services import settlement
from payments.services.charges import payment_charge_reservation
from payments.services.common import payment_metadata
from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_link_opened
from testing.factories import ParkingSpotFactory, UserFactory
from testing.localstripe import (
    CARD_ALWAYS_AUTHENTICATE,
    CARD_DECLINED_ON_CHARGE,
    CARD_OK,
    LocalStripe,
)
from tests.payments.conftest import payments_of, signed_in_as, unique_email
from tests.payments.test_charge import without_card
from tests.payments.test_webhooks import deliver, event

S = ReservationStatus


@pytest.fixture
def failed_reservation(localstripe, ended_reservation) -> Callable[..., Reservation]:
    """An ended reservation whose off-session charge failed: `payment_failed`, blocking."""

    def make(card_number: str = CARD_DECLINED_ON_CHARGE, **kwargs) -> Reservation:
        reservation = ended_reservation(card_number, **kwargs)
        failed = payment_charge_reservation(reservation_id=reservation.pk)
        assert failed.status == S.PAYMENT_FAILED
        # localstripe's decline names no PaymentIntent, so the charge's is not recorded.
        failed.charge_intents = {
            intent["id"] for intent in localstripe.payment_intents(failed.stripe_customer_id)
        }
        return failed

    return make


def book(client: APIClient):
    body = {"reservation": {"reservation_length": 30}}
    return client.post(f"/reservation-auth/{ParkingSpotFactory().pk}/", body, format="json")


def owner_path(reservation: Reservation) -> str:
    return f"auth/{reservation.public_id}/"


def guest_path(reservation: Reservation) -> str:
    return f"unauth/{reservation.public_id}/{reservation.email.upper()}/"


def settle(client: APIClient, path: str, **headers):
    return client.post(f"/settle-reservation-{path}", **headers)


def confirm(client: APIClient, path: str):
    return client.get(f"/confirm-settlement-{path}")


def settlement_rows(reservation: Reservation) -> list:
    return [p for p in payments_of(reservation) if p.kind == PaymentKind.SETTLEMENT]


def settlement_intents(localstripe: LocalStripe, reservation: Reservation) -> list[dict]:
    """The PaymentIntents made for the reservation's Customer since its charge failed."""
    return [
        intent
        for intent in localstripe.payment_intents(reservation.stripe_customer_id)
        if intent["id"] not in reservation.charge_intents
    ]


def succeeded_intents(localstripe: LocalStripe, reservation: Reservation) -> list[dict]:
    intents = localstripe.payment_intents(reservation.stripe_customer_id)
    return [intent for intent in intents if intent["status"] == "succeeded"]


# --- the way back -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_declined_charge_settled_with_another_card_unblocks_the_account(
    localstripe, failed_reservation, signed_in, user
):
    reservation = failed_reservation(CARD_DECLINED_ON_CHARGE, user=user)
    assert book(signed_in).status_code == 409

    created = settle(signed_in, owner_path(reservation))

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["amount_cents"], body["currency"]) == (reservation.amount_cents, "usd")
    [row] = settlement_rows(reservation)
    assert (row.state, row.attempt, row.card_last4) == (PaymentState.PENDING, 2, "0341")
    assert body["clientSecret"].startswith(f"{row.stripe_payment_intent_id}_secret_")
    [intent] = settlement_intents(localstripe, reservation)
    assert (intent["amount"], intent["customer"]) == (
        reservation.amount_cents,
        reservation.stripe_customer_id,
    )
    assert intent["payment_method"] == reservation.stripe_payment_method_id  # the default
    assert intent["metadata"]["reservation"] == reservation.public_id

    paid = localstripe.confirm_card_payment(body["clientSecret"], CARD_OK)
    assert paid["status"] == "succeeded", paid
    confirmed = confirm(signed_in, owner_path(reservation))

    assert confirmed.status_code == 204, confirmed.content
    assert Reservation.objects.get(pk=reservation.pk).status == S.PAID
    charge, row = payments_of(reservation)
    assert (charge.kind, charge.state) == (PaymentKind.CHARGE, PaymentState.FAILED)
    assert (row.kind, row.state) == (PaymentKind.SETTLEMENT, PaymentState.SUCCEEDED)
    # The card that paid, not the saved one that declined.
    assert (row.card_brand, row.card_last4) == ("visa", "4242")
    assert row.stripe_payment_method_id == paid["payment_method"]
    assert len(succeeded_intents(localstripe, reservation)) == 1
    assert confirm(signed_in, owner_path(reservation)).status_code == 204
    assert book(signed_in).status_code == 201


@pytest.mark.django_db
def test_a_guest_settles_from_the_failed_charge_email_and_may_book_again(
    localstripe,
    ended_reservation,
    outbox,
    django_capture_on_commit_callbacks,
    settings,
):
    """The e-mail's link is the manage link: its page reads the reservation (id and e-mail)
    and calls the guest settle route with them."""
    settings.FRONTEND_BASE_URL, settings.PUBLIC_BASE_URL = "", "https://api.example.com"
    email = unique_email()
    reservation = ended_reservation(CARD_DECLINED_ON_CHARGE, email=email)
    reservation_link_opened(reservation=reservation)  # the mailbox's owner: the e-mail is proven
    with django_capture_on_commit_callbacks(execute=True):
        payment_charge_reservation(reservation_id=reservation.pk)
    guest = APIClient()
    book_body = {"reservation": {"email": email, "reservation_length": 30}}
    spot = ParkingSpotFactory().pk
    assert guest.post(f"/reservation-unauth/{spot}/", book_body, format="json").status_code == 409

    [mail] = [m for m in outbox.deliver() if m.subject == PAYMENT_FAILED_SUBJECT]
    assert "How to settle it: open this reservation" in mail.body
    [link] = re.findall(r"https?://\S+", mail.body)
    assert link in mail.alternatives[0][0]
    page = guest.get(urlsplit(link).path).json()
    path = f"unauth/{page['id']}/{page['email']}/"
    created = settle(guest, path)
    assert created.status_code == 201, created.content
    assert localstripe.confirm_card_payment(created.json()["clientSecret"], CARD_OK)["status"] == (
        "succeeded"
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert confirm(guest, path).status_code == 204

    assert Reservation.objects.get(pk=reservation.pk).status == S.PAID
    assert guest.post(f"/reservation-unauth/{spot}/", book_body, format="json").status_code == 201
    # Paid from payment_failed: the driver already had the 'ended' e-mail; nothing more.
    assert [m.subject for m in outbox.deliver()].count(PAYMENT_FAILED_SUBJECT) == 1


@pytest.mark.django_db
def test_an_accounts_failed_charge_email_says_to_sign_in_and_settle(
    localstripe, failed_reservation, user, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        failed_reservation(CARD_DECLINED_ON_CHARGE, user=user)

    [mail] = [m for m in outbox.deliver() if m.subject == PAYMENT_FAILED_SUBJECT]
    assert "sign in to Secure My Spot, open this reservation" in mail.body
    assert re.findall(r"https?://\S+", mail.body) == []


@pytest.mark.django_db
def test_a_card_that_asks_for_3d_secure_settles_once_the_driver_authenticates(
    localstripe, failed_reservation, signed_in, user
):
    reservation = failed_reservation(CARD_ALWAYS_AUTHENTICATE, user=user)
    assert payments_of(reservation)[0].error_code == "authentication_required"
    secret = settle(signed_in, owner_path(reservation)).json()["clientSecret"]

    # The saved card, on-session: the bank asks, the driver passes 3-D Secure.
    paid = localstripe.confirm_card_payment(secret, authenticate=True)

    assert paid["status"] == "succeeded", paid
    assert confirm(signed_in, owner_path(reservation)).status_code == 204
    [row] = settlement_rows(reservation)
    assert (row.state, row.card_last4) == (PaymentState.SUCCEEDED, "3184")


@pytest.mark.django_db
def test_failed_authentication_leaves_the_bill_open_and_the_same_payment_to_retry(
    localstripe, failed_reservation, signed_in, user
):
    reservation = failed_reservation(CARD_ALWAYS_AUTHENTICATE, user=user)
    first = settle(signed_in, owner_path(reservation))
    secret = first.json()["clientSecret"]

    refused = localstripe.confirm_card_payment(secret, authenticate=False)
    assert refused["status"] == "requires_payment_method"
    not_yet = confirm(signed_in, owner_path(reservation))
    assert not_yet.status_code == 409
    assert "requires_payment_method" in not_yet.json()["detail"]
    assert Reservation.objects.get(pk=reservation.pk).status == S.PAYMENT_FAILED

    again = settle(signed_in, owner_path(reservation))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert localstripe.confirm_card_payment(secret, CARD_OK)["status"] == "succeeded"
    assert confirm(signed_in, owner_path(reservation)).status_code == 204
    assert len(settlement_intents(localstripe, reservation)) == 1


@pytest.mark.django_db
def test_a_declined_settlement_stays_open_for_another_try(
    localstripe, failed_reservation, api_client, outbox, django_capture_on_commit_callbacks
):
    reservation = failed_reservation(CARD_DECLINED_ON_CHARGE)
    first = settle(api_client, guest_path(reservation)).json()
    payment_intent_id = first["clientSecret"].split("_secret_")[0]

    # The saved card, on-session: declined again.
    declined = localstripe.confirm_card_payment(first["clientSecret"])
    with django_capture_on_commit_callbacks(execute=True):
        reported = deliver(event("payment_intent.payment_failed", payment_intent_id))

    assert declined["error"]["code"] == "card_declined"
    assert reported.status_code == 200
    [row] = settlement_rows(reservation)
    assert (row.state, row.error_code) == (PaymentState.FAILED, "card_declined")
    assert Reservation.objects.get(pk=reservation.pk).status == S.PAYMENT_FAILED
    # Told once, when the charge failed; not again.
    assert [m.subject for m in outbox.deliver()].count(PAYMENT_FAILED_SUBJECT) == 1
    # Stripe lets the client confirm the same PaymentIntent with another card.
    again = settle(api_client, guest_path(reservation))
    assert (again.status_code, again.json()) == (200, first)


@pytest.mark.django_db
def test_a_failed_charge_without_a_saved_card_is_settled_with_a_new_one(localstripe, api_client):
    reservation = without_card(S.PAYMENT_FAILED)
    path = guest_path(reservation)

    created = settle(api_client, path)

    assert created.status_code == 201, created.content
    reservation.refresh_from_db()
    assert reservation.stripe_customer_id.startswith("cus_")
    paid = localstripe.confirm_card_payment(created.json()["clientSecret"], CARD_OK)
    assert paid["customer"] == reservation.stripe_customer_id
    assert confirm(api_client, path).status_code == 204
    assert Reservation.objects.get(pk=reservation.pk).status == S.PAID


@pytest.mark.django_db
def test_a_settlement_stripe_cancelled_is_replaced(localstripe, failed_reservation, api_client):
    reservation = failed_reservation()
    first = settle(api_client, guest_path(reservation)).json()["clientSecret"]
    [cancelled] = settlement_rows(reservation)
    # An operator cancels it in Stripe's dashboard.
    localstripe.request("POST", f"/v1/payment_intents/{cancelled.stripe_payment_intent_id}/cancel")

    replaced = settle(api_client, guest_path(reservation))

    assert replaced.status_code == 201
    assert replaced.json()["clientSecret"] != first
    old, new = settlement_rows(reservation)
    assert (old.state, old.error_code) == (PaymentState.FAILED, "canceled")
    assert (new.state, new.attempt) == (PaymentState.PENDING, 3)
    assert localstripe.confirm_card_payment(first, CARD_OK).get("status") != "succeeded"
    paid = localstripe.confirm_card_payment(replaced.json()["clientSecret"], CARD_OK)
    assert paid["status"] == "succeeded"
    assert confirm(api_client, guest_path(reservation)).status_code == 204


@pytest.mark.django_db
def test_confirm_before_paying_is_a_409_naming_stripes_status(
    localstripe, failed_reservation, api_client
):
    reservation = failed_reservation()
    path = guest_path(reservation)
    nothing = confirm(api_client, path)
    assert nothing.status_code == 409
    assert "settle it first" in nothing.json()["detail"]

    settle(api_client, path)
    early = confirm(api_client, path)

    assert early.status_code == 409
    assert "requires_confirmation" in early.json()["detail"]
    assert Reservation.objects.get(pk=reservation.pk).status == S.PAYMENT_FAILED


@pytest.mark.django_db
def test_the_idempotency_key_replays_the_first_answer(
    localstripe, failed_reservation, signed_in, user
):
    reservation = failed_reservation(user=user)

    first = settle(signed_in, owner_path(reservation), HTTP_IDEMPOTENCY_KEY="settle-1")
    retry = settle(signed_in, owner_path(reservation), HTTP_IDEMPOTENCY_KEY="settle-1")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert len(settlement_intents(localstripe, reservation)) == 1


# --- exactly once -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_settles_at_once_share_one_payment_intent_and_charge_once(
    localstripe, failed_reservation
):
    reservation = failed_reservation()
    callers = 4
    barrier = Barrier(callers)

    def at_once(call: Callable) -> Callable:
        def caller(_: int):
            try:
                barrier.wait(timeout=10)
                return call(APIClient(), guest_path(reservation))
            finally:
                connection.close()

        return caller

    with ThreadPoolExecutor(max_workers=callers) as pool:
        responses = list(pool.map(at_once(settle), range(callers)))

    assert sorted(r.status_code for r in responses) == [200] * (callers - 1) + [201]
    secrets = {r.json()["clientSecret"] for r in responses}
    assert len(secrets) == 1
    [row] = settlement_rows(reservation)
    live = [i for i in settlement_intents(localstripe, reservation) if i["status"] != "canceled"]
    assert [i["id"] for i in live] == [row.stripe_payment_intent_id]
    [secret] = secrets

    assert localstripe.confirm_card_payment(secret, CARD_OK)["status"] == "succeeded"
    with ThreadPoolExecutor(max_workers=callers) as pool:
        confirms = list(pool.map(at_once(confirm), range(callers)))

    assert [r.status_code for r in confirms] == [204] * callers
    assert len(succeeded_intents(localstripe, reservation)) == 1
    again = settle(APIClient(), guest_path(reservation))
    assert (again.status_code, again.json()["detail"]) == (409, "This reservation is already paid.")


@pytest.mark.django_db
def test_a_settle_that_loses_the_race_cancels_its_payment_intent(
    localstripe, failed_reservation, monkeypatch
):
    """Deterministic interleaving: another settle records its PaymentIntent while this one
    is asking Stripe for its own."""
    reservation = failed_reservation()
    create = gateway.payment_intent_create_on_session
    winners, calls = [], []

    def create_then_lose(**kwargs):
        made = create(**kwargs)
        calls.append(made.payment_intent_id)
        if len(calls) == 1:
            winners.append(
                settlement.payment_settlement_get_or_create(reservation_id=reservation.pk)
            )
        return made

    monkeypatch.setattr(gateway, "payment_intent_create_on_session", create_then_lose)

    lost = settlement.payment_settlement_get_or_create(reservation_id=reservation.pk)

    [winner] = winners
    assert (winner.created, lost.created) == (True, False)
    assert lost.client_secret == winner.client_secret
    [row] = settlement_rows(reservation)
    lost_intent, won_intent = calls
    assert row.stripe_payment_intent_id == won_intent
    statuses = {i["id"]: i["status"] for i in settlement_intents(localstripe, reservation)}
    assert statuses == {won_intent: "requires_confirmation", lost_intent: "canceled"}


@pytest.mark.django_db
def test_the_workers_charge_after_settlement_does_nothing(
    localstripe, failed_reservation, api_client
):
    reservation = failed_reservation()
    secret = settle(api_client, guest_path(reservation)).json()["clientSecret"]
    assert localstripe.confirm_card_payment(secret, CARD_OK)["status"] == "succeeded"
    assert confirm(api_client, guest_path(reservation)).status_code == 204
    before = [(p.pk, p.state, p.updated_at) for p in payments_of(reservation)]
    intents = len(localstripe.payment_intents(reservation.stripe_customer_id))

    for _ in range(2):
        assert payment_charge_reservation(reservation_id=reservation.pk).status == S.PAID

    assert [(p.pk, p.state, p.updated_at) for p in payments_of(reservation)] == before
    assert len(localstripe.payment_intents(reservation.stripe_customer_id)) == intents
    assert len(succeeded_intents(localstripe, reservation)) == 1


@pytest.mark.django_db
def test_the_webhook_settles_and_a_replay_changes_nothing(
    localstripe, failed_reservation, api_client, outbox, django_capture_on_commit_callbacks
):
    reservation = failed_reservation()
    secret = settle(api_client, guest_path(reservation)).json()["clientSecret"]
    payment_intent_id = secret.split("_secret_")[0]
    assert localstripe.confirm_card_payment(secret, CARD_OK)["status"] == "succeeded"
    payload = event("payment_intent.succeeded", payment_intent_id, status="succeeded")

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(payload).status_code == 200
    after_first = [(p.pk, p.state, p.card_last4, p.updated_at) for p in payments_of(reservation)]
    sent = len(outbox.deliver())
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(payload).status_code == 200  # the same event again
        replay = event("payment_intent.succeeded", payment_intent_id)  # a new event, same PI
        assert deliver(replay).status_code == 200

    assert Reservation.objects.get(pk=reservation.pk).status == S.PAID
    row = settlement_rows(reservation)[0]
    assert (row.state, row.card_last4) == (PaymentState.SUCCEEDED, "4242")
    # Nothing was written again: updated_at stays the moment the payment succeeded.
    assert [
        (p.pk, p.state, p.card_last4, p.updated_at) for p in payments_of(reservation)
    ] == after_first
    assert len(outbox.deliver()) == sent
    assert confirm(api_client, guest_path(reservation)).status_code == 204
    assert len(succeeded_intents(localstripe, reservation)) == 1


@pytest.mark.django_db
def test_a_second_payment_intent_succeeding_after_settlement_is_left_for_an_operator(
    localstripe, failed_reservation, api_client, caplog
):
    """Someone with the secret key completes another recorded PaymentIntent of a settled bill
    (Stripe took the money twice): the webhook answers 2xx, records nothing as paid twice,
    and says why, instead of failing on the one-success-per-reservation constraint."""
    reservation = failed_reservation()
    secret = settle(api_client, guest_path(reservation)).json()["clientSecret"]
    assert localstripe.confirm_card_payment(secret, CARD_OK)["status"] == "succeeded"
    assert confirm(api_client, guest_path(reservation)).status_code == 204
    reservation.refresh_from_db()
    second = gateway.payment_intent_create_on_session(
        customer_id=reservation.stripe_customer_id,
        payment_method_id=reservation.stripe_payment_method_id,
        amount_cents=reservation.amount_cents,
        metadata=payment_metadata(reservation=reservation),
        idempotency_key="an-operators-second-payment",
    )
    Payment.objects.create(
        reservation=reservation,
        attempt=len(payments_of(reservation)) + 1,
        kind=PaymentKind.SETTLEMENT,
        amount_cents=reservation.amount_cents,
        currency="usd",
        state=PaymentState.PENDING,
        stripe_payment_intent_id=second.payment_intent_id,
    )
    assert localstripe.confirm_card_payment(second.client_secret, CARD_OK)["status"] == "succeeded"

    with caplog.at_level(logging.WARNING, logger="payments.services"):
        answer = deliver(event("payment_intent.succeeded", second.payment_intent_id))

    assert answer.status_code == 200
    states = [p.state for p in payments_of(reservation)]
    assert states.count(PaymentState.SUCCEEDED) == 1 and states[-1] == PaymentState.PENDING
    assert "already paid" in caplog.text and "refund one of them" in caplog.text
    assert Reservation.objects.get(pk=reservation.pk).status == S.PAID


# --- who may settle what ------------------------------------------------------------------


@pytest.mark.django_db
def test_settling_a_paid_reservation_is_a_409(localstripe, ended_reservation, api_client):
    reservation = ended_reservation(CARD_OK)
    assert payment_charge_reservation(reservation_id=reservation.pk).status == S.PAID

    refused = settle(api_client, guest_path(reservation))

    assert (refused.status_code, refused.json()["detail"]) == (
        409,
        "This reservation is already paid.",
    )
    assert settlement_rows(reservation) == []
    assert len(localstripe.payment_intents(reservation.stripe_customer_id)) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", [S.ACTIVE, S.ENDED, S.PENDING_PAYMENT, S.CANCELLED])
def test_settling_a_reservation_without_a_failed_charge_is_a_409_naming_it(status, api_client):
    reservation = without_card(status)

    refused = settle(api_client, guest_path(reservation))

    assert refused.status_code == 409
    assert status in refused.json()["detail"]
    assert confirm(api_client, guest_path(reservation)).status_code == 409


@pytest.mark.django_db
def test_someone_elses_reservation_is_a_404_on_every_route(
    localstripe, failed_reservation, api_client, user
):
    owned = failed_reservation(user=user)
    guests = failed_reservation(email=unique_email())
    stranger = signed_in_as(UserFactory())
    wrong_email = f"unauth/{guests.public_id}/someone@example.com/"
    # An account's reservation is reached with its token only, not with its e-mail.
    by_email = f"unauth/{owned.public_id}/{user.email}/"

    responses = [
        settle(stranger, owner_path(owned)),
        confirm(stranger, owner_path(owned)),
        settle(stranger, owner_path(guests)),
        settle(api_client, wrong_email),
        confirm(api_client, wrong_email),
        settle(api_client, by_email),
        settle(api_client, "unauth/not-an-id/someone@example.com/"),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    assert settlement_rows(owned) == settlement_rows(guests) == []
    assert settle(api_client, owner_path(owned)).status_code == 401


@pytest.mark.django_db
def test_settle_routes_are_throttled(localstripe, failed_reservation, signed_in, user, monkeypatch):
    monkeypatch.setattr(
        ScopedRateThrottle,
        "THROTTLE_RATES",
        {"auth": "20/minute", "writes": "2/minute", "guest": "2/minute"},
    )
    owned = failed_reservation(user=user)
    guests = failed_reservation()

    owner = [settle(signed_in, owner_path(owned)).status_code for _ in range(2)]
    owner.append(confirm(signed_in, owner_path(owned)).status_code)
    guest = [settle(APIClient(), guest_path(guests)).status_code for _ in range(2)]
    guest.append(settle(APIClient(), guest_path(guests)).status_code)

    assert owner == [201, 200, 429]
    assert guest == [201, 200, 429]
    assert len(settlement_intents(localstripe, guests)) == 1
