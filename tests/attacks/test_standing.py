"""Attacks on a person's standing (issue 12, item 3), each tried with the default settings.

Before the change: a failed charge blocked every booking by its e-mail, whoever had typed that
e-mail, so a stranger's guest booking with a card that declines at the end locked the
address's owner (account included) out with a 409 that told anyone the address owed money.
Now an unpaid bill stops the account that owes it, and a guest e-mail only once its owner
proved it and the bill was made under that proof; a guest is never told about money.
"""

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from rest_framework.test import APIClient

from payments.services.charges import payment_charge_reservation
from reservations.links import reservation_link_token
from reservations.models import Reservation, ReservationStatus
from reservations.pricing import FLAT_METER_HOURS
from reservations.services import GUEST_EMAIL_HELD, reservation_mark_paid
from testing.factories import ParkingSpotFactory, UserFactory
from testing.localstripe import CARD_DECLINED_ON_CHARGE
from tests.payments.conftest import signed_in_as
from users.selectors import email_is_proven
from users.services import user_verify_email
from users.tokens import verification_token_make

pytestmark = pytest.mark.django_db

S = ReservationStatus
VICTIM = "jane.doe@example.com"
MONEY_WORDS = ("unpaid", "owe", "settle", "debt", "charge", "payment", "bill")


def verified_user(email: str):
    """An account whose owner followed the verification link mailed to it."""
    return user_verify_email(token=verification_token_make(user=UserFactory(email=email)))


def book_guest(client: APIClient, email: str):
    body = {"reservation": {"email": email, "reservation_length": 60}}
    return client.post(f"/reservation-unauth/{ParkingSpotFactory().pk}/", body, format="json")


def book_auth(client: APIClient):
    body = {"reservation": {"reservation_length": 60}}
    return client.post(f"/reservation-auth/{ParkingSpotFactory().pk}/", body, format="json")


def decline_at_the_end(client: APIClient, localstripe, path: str) -> Reservation:
    """Save the card that declines off-session through the API, end the stay 30 minutes in,
    and let the workers' charge fail: the bill is then unpaid (`payment_failed`)."""
    created = client.post(f"/create-payment-intent-{path}/")
    assert created.status_code == 201, created.content
    localstripe.confirm_card_setup(created.json()["clientSecret"], CARD_DECLINED_ON_CHARGE)
    assert client.get(f"/confirm-successful-setup-intent-{path}/").status_code == 204
    public_id = path.split("/")[1]
    Reservation.objects.filter(public_id=public_id).update(
        start_time=F("start_time") - timedelta(minutes=30)
    )
    end = {"reservation": {"end_time": None}}
    assert client.patch(f"/update-reservation-{path}/", end, format="json").status_code == 200
    reservation = Reservation.objects.get(public_id=public_id)
    assert payment_charge_reservation(reservation_id=reservation.pk).status == S.PAYMENT_FAILED
    return reservation


def test_a_strangers_declined_guest_booking_locks_nobody_out(localstripe):
    victim = verified_user(VICTIM)
    stranger = APIClient(REMOTE_ADDR="203.0.113.66")

    booked = book_guest(stranger, VICTIM.upper())
    assert booked.status_code == 201, booked.content
    decline_at_the_end(stranger, localstripe, f"unauth/{booked.json()['id']}/{VICTIM}")

    # Not the victim's account, not the victim booking as a guest...
    assert book_auth(signed_in_as(victim)).status_code == 201
    assert book_guest(APIClient(REMOTE_ADDR="198.51.100.7"), VICTIM).status_code == 201
    # ... and the stranger's next booking under that address says nothing about anyone's bill.
    again = book_guest(stranger, VICTIM)
    assert again.status_code == 201, again.content
    assert "detail" not in again.json()
    assert (again.json()["status"], again.json()["amount_cents"]) == (S.PENDING_PAYMENT, 0)


def test_a_guest_booking_never_tells_a_stranger_that_an_address_owes(localstripe):
    """The victim really owes (their verified account's charge failed): a stranger typing
    the address gets an answer that names no money, and the owner is told to sign in."""
    victim = verified_user(VICTIM)
    owner = signed_in_as(victim)
    booked = book_auth(owner)
    decline_at_the_end(owner, localstripe, f"auth/{booked.json()['id']}")

    probe = book_guest(APIClient(REMOTE_ADDR="203.0.113.66"), "Jane.Doe@Example.com")

    assert probe.status_code == 409
    assert probe.json() == {"detail": GUEST_EMAIL_HELD}
    assert not any(word in GUEST_EMAIL_HELD.lower() for word in MONEY_WORDS)
    assert "sign in" in GUEST_EMAIL_HELD


def test_a_real_debtor_cannot_escape_a_block_on_a_verified_account(localstripe):
    debtor = verified_user("debtor@example.com")
    client = signed_in_as(debtor)
    booked = book_auth(client)
    unpaid = decline_at_the_end(client, localstripe, f"auth/{booked.json()['id']}")

    blocked = book_auth(client)
    as_guest = book_guest(APIClient(REMOTE_ADDR="198.51.100.9"), "DEBTOR@example.com")

    assert blocked.status_code == 409
    assert "unpaid" in blocked.json()["detail"]  # the owner is told why
    assert (as_guest.status_code, as_guest.json()) == (409, {"detail": GUEST_EMAIL_HELD})

    # The block is the bill's state, not a flag: settled, it is gone.
    reservation_mark_paid(reservation_id=unpaid.pk)
    assert book_auth(client).status_code == 201
    assert book_guest(APIClient(REMOTE_ADDR="198.51.100.9"), "debtor@example.com").status_code == (
        201
    )


def test_a_guest_who_opened_the_manage_link_is_held_to_the_bill(localstripe):
    guest = APIClient(REMOTE_ADDR="198.51.100.20")
    booked = book_guest(guest, "Walker@Example.com")
    reservation = Reservation.objects.get(public_id=booked.json()["id"])
    link = guest.get(f"/reservation-link/{reservation_link_token(reservation=reservation)}/")
    assert link.status_code == 200
    assert email_is_proven(email="walker@example.com")

    decline_at_the_end(guest, localstripe, f"unauth/{reservation.public_id}/walker@example.com")

    again = book_guest(APIClient(REMOTE_ADDR="198.51.100.21"), "walker@example.com")
    assert (again.status_code, again.json()) == (409, {"detail": GUEST_EMAIL_HELD})
    # A different account is not this guest's: its own standing is clean.
    assert book_auth(signed_in_as(UserFactory(email="walker@example.org"))).status_code == 201


def test_an_unverified_account_books_only_when_the_setting_allows_it(settings):
    settings.UNVERIFIED_ACCOUNTS_MAY_BOOK = False
    unverified = signed_in_as(UserFactory())

    refused = book_auth(unverified)

    assert refused.status_code == 403
    assert "Verify your e-mail" in refused.json()["detail"]
    assert not Reservation.objects.exists()
    assert book_auth(signed_in_as(verified_user("checked@example.com"))).status_code == 201
    settings.UNVERIFIED_ACCOUNTS_MAY_BOOK = True
    assert book_auth(unverified).status_code == 201


def test_bills_from_before_an_account_was_verified_do_not_follow_the_address():
    """Someone signs up with another's address (unverified) and leaves a bill; the address's
    owner later takes the account over by a reset or verification: guest bookings under the
    address are not stopped by what was booked before the proof."""
    squatter = UserFactory(email="taken@example.com")
    Reservation.objects.create(
        user=squatter,
        email=squatter.email,
        spot=ParkingSpotFactory(),
        rate="4.50",
        first_hour_cents=450,
        later_hour_cents=450,
        meter_hours=FLAT_METER_HOURS,
        start_time=timezone.now() - timedelta(hours=2),
        end_time=timezone.now() - timedelta(hours=1),
        ended_at=timezone.now() - timedelta(hours=1),
        amount_cents=450,
        status=S.PAYMENT_FAILED,
    )
    user_verify_email(token=verification_token_make(user=squatter))

    assert book_guest(APIClient(), "taken@example.com").status_code == 201
