"""Reserving ahead: a future window, its limits, its conflicts, free cancellation, and the
'starts soon' e-mail (issue 16, items 1 and 6)."""

from collections import Counter
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from outbox.models import OutboundEmail
from reservations.emails import format_local_time, format_local_window
from reservations.models import Reservation, ReservationStatus
from reservations.services import (
    SpotTaken,
    reservation_activate,
    reservation_cancel,
    reservation_create,
)
from tasks.services import due_work_dispatch
from testing.factories import ParkingSpotFactory, ReservationFactory
from tests.threads import race

pytestmark = pytest.mark.django_db
S = ReservationStatus


@pytest.fixture(autouse=True)
def _roomy_caps(settings):
    """One test client books many times from one address: the caps are other tests' topic."""
    settings.HOLDS_MAX_PER_ADDRESS = settings.HOLDS_MAX_PER_EMAIL = 100
    settings.RESERVATIONS_AHEAD_MAX = 100


def iso(moment) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def hours(n: float):
    """A whole minute `n` hours from now: what a client picking a time sends."""
    return (timezone.now() + timedelta(hours=n)).replace(second=0, microsecond=0)


def book(client, spot, *, start=None, length=60, email="guest@example.com", raw_start=None):
    body = {"email": email, "reservation_length": length}
    if start is not None:
        body["start_time"] = iso(start)
    if raw_start is not None:
        body["start_time"] = raw_start
    return client.post(f"/reservation-unauth/{spot.pk}/", {"reservation": body}, format="json")


def paid(response) -> Reservation:
    """The booking of `response`, its card saved (active), as payments would leave it."""
    assert response.status_code == 201, response.content
    reservation = Reservation.objects.get(public_id=response.json()["id"])
    return reservation_activate(reservation_id=reservation.pk, card_last4="4242")


def delete(client, reservation):
    return client.delete(f"/delete-reservation-unauth/{reservation.public_id}/{reservation.email}/")


def patch_end(client, reservation, end_time):
    path = f"/update-reservation-unauth/{reservation.public_id}/{reservation.email}/"
    return client.patch(path, {"reservation": {"end_time": end_time}}, format="json")


# --- booking a future window ----------------------------------------------------------------


def test_a_future_booking_holds_only_its_own_window(api_client, spot):
    start = hours(2)

    booked = book(api_client, spot, start=start, email="first@example.com")

    assert booked.status_code == 201, booked.content
    body = booked.json()
    assert (body["start_time"], body["end_time"]) == (iso(start), iso(start + timedelta(hours=1)))
    assert body["status"] == "pending_payment" and body["amount_cents"] == 0
    reservation = Reservation.objects.get(public_id=body["id"])
    # The payment hold runs from now, as for a booking that starts now.
    assert reservation.hold_expires_at - timezone.now() < timedelta(minutes=11)

    overlapping = book(api_client, spot, start=start + timedelta(minutes=30), email="b@x.com")
    assert overlapping.status_code == 409
    assert list(overlapping.json()) == ["parking_spot", "detail"]
    # Now, before it, and straight after it: all free.
    assert book(api_client, spot, length=90, email="now@example.com").status_code == 201
    after = book(api_client, spot, start=start + timedelta(hours=1), email="after@example.com")
    assert after.status_code == 201, after.content


def test_the_409_names_the_clash_in_new_york_time_and_the_next_free_window(api_client, spot):
    start = hours(3)
    first = paid(book(api_client, spot, start=start, email="first@example.com"))
    second = paid(
        book(api_client, spot, start=start + timedelta(minutes=90), email="second@example.com")
    )

    # 30 minutes into the first; the 30 minutes between the two are too short for an hour.
    response = book(api_client, spot, start=start + timedelta(minutes=30), email="c@x.com")

    assert response.status_code == 409
    body = response.json()
    assert list(body) == ["parking_spot", "detail"]  # what the original client shows first
    [message] = body["parking_spot"]
    assert message == body["detail"]
    window = format_local_window(first.start_time, first.end_time)
    assert message.startswith(f"This parking spot is not available from {window} (New York time).")
    assert f"free for 60 minutes from {format_local_time(second.end_time)}." in message
    assert " EST" in message or " EDT" in message
    # Times only: nothing about who holds the spot.
    for holder in (first, second):
        assert holder.email not in str(body) and holder.public_id not in str(body)


def test_a_spot_booked_out_for_the_whole_horizon_says_so(spot, settings):
    settings.RESERVATION_MAX_DAYS_AHEAD = 1
    ReservationFactory(spot=spot, start_time=timezone.now(), minutes=24 * 60 + 120)

    with pytest.raises(SpotTaken) as refused:
        reservation_create(
            spot_id=spot.pk, reservation_length=60, email="x@example.com", start_time=hours(2)
        )

    assert "no free 60 minutes within the next 1 days" in refused.value.message


@pytest.mark.parametrize(
    ("start", "why"),
    [
        (lambda: timezone.now() - timedelta(minutes=5), "in the past"),
        (lambda: timezone.now() + timedelta(days=30, minutes=5), "at most 30 days ahead"),
    ],
)
def test_a_start_in_the_past_or_too_far_ahead_is_a_400_naming_it(api_client, spot, start, why):
    response = book(api_client, spot, start=start())

    assert response.status_code == 400, response.content
    assert list(response.json()) == ["start_time"]
    assert why in response.json()["start_time"][0]
    assert not Reservation.objects.exists()


@pytest.mark.parametrize("raw", ["2030-01-01T12:00:00", "tomorrow", 12, "2030-02-30T00:00:00Z"])
def test_a_malformed_start_is_a_400_naming_it(api_client, spot, raw):
    response = book(api_client, spot, raw_start=raw)

    assert response.status_code == 400
    assert "start_time" in response.json()


@pytest.mark.parametrize("offset", [timedelta(seconds=-50), timedelta(seconds=50), None])
def test_a_start_within_a_minute_of_now_or_null_is_now(api_client, spot, offset):
    before = timezone.now()
    raw = None if offset is None else iso(before + offset)

    response = book(api_client, spot, raw_start=raw)

    assert response.status_code == 201, response.content
    reservation = Reservation.objects.get()
    assert before <= reservation.start_time <= timezone.now()


def test_the_signed_in_route_books_ahead_too(signed_in, user, spot):
    start = hours(24)
    body = {"reservation": {"reservation_length": 30, "start_time": iso(start)}}

    response = signed_in.post(f"/reservation-auth/{spot.pk}/", body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["start_time"] == iso(start)


def test_an_offset_other_than_utc_means_the_same_moment(api_client, spot):
    start = hours(5)
    new_york = start.astimezone(timezone.get_fixed_timezone(-5 * 60)).isoformat()

    response = book(api_client, spot, raw_start=new_york)

    assert response.status_code == 201, response.content
    assert response.json()["start_time"] == iso(start)


# --- the race ---------------------------------------------------------------------------------

THREADS = 20
ROUNDS = 10


@pytest.mark.django_db(transaction=True)
def test_overlapping_future_windows_racing_get_exactly_one_winner_per_round():
    """Each of twenty threads asks for an hour starting a minute later than the one before:
    every two windows overlap, so exactly one may win, decided by PostgreSQL."""
    for round_number in range(ROUNDS):
        spot = ParkingSpotFactory()
        base = hours(4 + round_number)

        def book_window(n: int, spot_id=spot.pk, base=base) -> str:
            try:
                reservation_create(
                    spot_id=spot_id,
                    reservation_length=60,
                    email=f"racer{n}@example.com",
                    start_time=base + timedelta(minutes=n),
                )
            except SpotTaken:
                return "conflict"
            return "won"

        outcomes = race(THREADS, book_window)
        assert Counter(outcomes) == {"won": 1, "conflict": THREADS - 1}, round_number
        assert Reservation.objects.filter(spot=spot).count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_through_the_api_for_overlapping_future_windows_gives_one_201(spot):
    base = hours(6)

    def book_window(n: int) -> tuple[int, list[str]]:
        response = book(
            APIClient(), spot, start=base + timedelta(minutes=5 * n), email=f"r{n}@x.com"
        )
        return response.status_code, list(response.json())

    answers = race(10, book_window)

    assert sorted(code for code, _ in answers) == [201] + [409] * 9
    assert {tuple(keys) for code, keys in answers if code == 409} == {("parking_spot", "detail")}


# --- cancelling and ending before the start ---------------------------------------------------


def test_a_paid_future_reservation_is_cancelled_free_until_it_starts(api_client, spot):
    reservation = paid(book(api_client, spot, start=hours(2)))

    response = delete(api_client, reservation)

    assert response.status_code == 204
    reservation.refresh_from_db()
    assert (reservation.status, reservation.amount_cents) == (S.CANCELLED, 0)
    assert delete(api_client, reservation).status_code == 204  # repeatable
    again = book(api_client, spot, start=reservation.start_time, email="next@example.com")
    assert again.status_code == 201  # the window is free at once


def test_after_the_free_period_delete_is_a_409_and_ending_bills_the_first_minute(
    api_client, spot, settings
):
    settings.RESERVATION_FREE_CANCEL_BEFORE_START_MINUTES = 60
    reservation = paid(book(api_client, spot, start=hours(0.5), length=120))

    refused = delete(api_client, reservation)

    assert refused.status_code == 409
    assert "Free cancellation ended at" in refused.json()["detail"]
    reservation.refresh_from_db()
    assert reservation.status == S.ACTIVE

    ended = patch_end(api_client, reservation, None)

    assert ended.status_code == 200, ended.content
    body = ended.json()
    assert (body["status"], body["amount_cents"]) == ("ended", 50)  # the minimum charge
    assert body["end_time"] == iso(reservation.start_time + timedelta(minutes=1))
    assert book(api_client, spot, start=reservation.start_time, email="n@x.com").status_code == 201


def test_ending_a_future_reservation_while_free_cancels_it(api_client, spot):
    reservation = paid(book(api_client, spot, start=hours(2)))

    response = patch_end(api_client, reservation, None)

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["amount_cents"]) == ("cancelled", 0)


def test_a_started_reservation_is_still_ended_not_deleted(api_client, spot):
    running = ReservationFactory(spot=spot, status=S.ACTIVE)

    assert delete(api_client, running).status_code == 409
    running.refresh_from_db()
    assert running.status == S.ACTIVE


def test_an_unpaid_future_hold_is_cancelled_as_today(spot):
    hold = reservation_create(
        spot_id=spot.pk, reservation_length=60, email="x@example.com", start_time=hours(2)
    )

    assert reservation_cancel(reservation_id=hold.pk).status == S.CANCELLED


# --- changing the end of a future reservation ---------------------------------------------------


def test_a_future_reservation_can_be_extended_or_shortened_within_its_window(api_client, spot):
    reservation = paid(book(api_client, spot, start=hours(2), length=60))

    longer = patch_end(api_client, reservation, iso(reservation.end_time + timedelta(minutes=30)))
    shorter = patch_end(api_client, reservation, iso(reservation.start_time + timedelta(minutes=1)))
    at_start = patch_end(api_client, reservation, iso(reservation.start_time))

    assert longer.status_code == shorter.status_code == 200
    assert shorter.json()["end_time"] == iso(reservation.start_time + timedelta(minutes=1))
    assert at_start.status_code == 400 and "end_time" in at_start.json()


def test_an_extension_into_another_reservation_names_it_and_the_latest_end(api_client, spot):
    reservation = paid(book(api_client, spot, start=hours(2), length=60))
    later = paid(
        book(api_client, spot, start=reservation.end_time + timedelta(minutes=30), email="l@x.com")
    )

    response = patch_end(api_client, reservation, iso(later.end_time))

    assert response.status_code == 409
    body = response.json()
    assert list(body) == ["end_time", "detail"]
    window = format_local_window(later.start_time, later.end_time)
    assert body["end_time"][0] == (
        f"This parking spot is not available from {window} (New York time). This reservation "
        f"can end at {format_local_time(later.start_time)} at the latest."
    )
    reservation.refresh_from_db()
    assert reservation.end_time == reservation.start_time + timedelta(hours=1)


# --- caps on reservations booked ahead ---------------------------------------------------------


def test_reservations_booked_ahead_are_capped_per_email_and_per_address(api_client, settings):
    settings.RESERVATIONS_AHEAD_MAX = 2
    spots = ParkingSpotFactory.create_batch(5)
    for spot in spots[:2]:
        paid(book(api_client, spot, start=hours(2), email="hoarder@example.com"))

    same_email = book(api_client, spots[2], start=hours(2), email="hoarder@example.com")
    other_email = book(api_client, spots[3], start=hours(2), email="another@example.com")
    starting_now = book(api_client, spots[4], email="hoarder@example.com")

    assert same_email.status_code == other_email.status_code == 409
    assert "at most 2 that have not started" in same_email.json()["detail"]
    assert "per network address" in other_email.json()["detail"]
    assert starting_now.status_code == 201  # the cap is on bookings ahead only


def test_a_cancelled_future_reservation_frees_its_place_under_the_cap(api_client, settings):
    settings.RESERVATIONS_AHEAD_MAX = 1
    first, second = ParkingSpotFactory.create_batch(2)
    reservation = paid(book(api_client, first, start=hours(2)))
    assert book(api_client, second, start=hours(2)).status_code == 409

    assert delete(api_client, reservation).status_code == 204

    assert book(api_client, second, start=hours(2)).status_code == 201


# --- e-mails ---------------------------------------------------------------------------------


def test_the_confirmation_states_free_cancellation_until_the_start(api_client, spot, outbox):
    reservation = paid(book(api_client, spot, start=hours(2)))

    [mail] = outbox.deliver()

    assert mail.subject == "Your parking reservation is confirmed"
    start = format_local_time(reservation.start_time)
    assert f"Free cancellation until {start}, when the reservation starts" in mail.body
    assert "nothing is charged" in mail.body
    html = mail.alternatives[0][0]
    assert f"Free cancellation until {start}</strong>" in html


def test_the_confirmation_states_an_earlier_deadline_and_its_cost(
    api_client, spot, outbox, settings
):
    settings.RESERVATION_FREE_CANCEL_BEFORE_START_MINUTES = 60
    reservation = paid(book(api_client, spot, start=hours(5)))

    [mail] = outbox.deliver()

    deadline = format_local_time(reservation.start_time - timedelta(hours=1))
    assert f"Free cancellation until {deadline}:" in mail.body
    assert "billed for its first minute, at least the minimum charge of $0.50" in mail.body


def test_the_confirmation_of_a_stay_from_now_says_it_cannot_be_cancelled(api_client, spot, outbox):
    paid(book(api_client, spot))

    [mail] = outbox.deliver()

    assert "has started, so it can no longer be cancelled" in mail.body


def ahead(*, starts_in: timedelta, booked_ago: timedelta, **kwargs) -> Reservation:
    reservation = ReservationFactory(start_time=timezone.now() + starts_in, **kwargs)
    Reservation.objects.filter(pk=reservation.pk).update(created_at=timezone.now() - booked_ago)
    return reservation


def test_the_starts_soon_email_goes_out_once_before_the_start(outbox):
    due = ahead(starts_in=timedelta(minutes=20), booked_ago=timedelta(days=1))
    not_yet = ahead(starts_in=timedelta(minutes=45), booked_ago=timedelta(days=1))
    # Booked 25 minutes ahead: its confirmation has just said it all.
    booked_late = ahead(starts_in=timedelta(minutes=20), booked_ago=timedelta(minutes=5))
    unpaid = ahead(
        starts_in=timedelta(minutes=20), booked_ago=timedelta(minutes=40), status=S.PENDING_PAYMENT
    )
    Reservation.objects.filter(pk=unpaid.pk).update(hold_expires_at=timezone.now())

    first = due_work_dispatch()
    second = due_work_dispatch()

    assert first.start_remind == [due.pk] and second.start_remind == []
    assert first.counts()["start_remind"] == 1
    [email] = OutboundEmail.objects.filter(kind="starting")
    assert email.stale_at == due.start_time
    assert email.dedupe_key == f"reservation:{due.pk}:starting"
    [mail] = outbox.deliver()
    assert mail.subject == "Your parking reservation starts soon"
    assert f"starts soon, at {format_local_time(due.start_time)}" in mail.body
    assert "Free cancellation until" in mail.body
    assert {not_yet.pk, booked_late.pk, unpaid.pk}.isdisjoint(first.start_remind)


def test_the_starts_soon_email_is_dropped_when_still_unsent_at_the_start(outbox, mail_server_down):
    due = ahead(starts_in=timedelta(minutes=20), booked_ago=timedelta(days=1))
    due_work_dispatch()
    [email] = OutboundEmail.objects.filter(kind="starting")
    assert email.stale_at == due.start_time
    assert outbox.deliver() == []  # the mail server is down

    OutboundEmail.objects.filter(pk=email.pk).update(stale_at=timezone.now())  # it started

    assert outbox.deliver() == []
    email.refresh_from_db()
    assert email.sent_at is None and email.last_error.startswith("Dropped unsent")
    assert due_work_dispatch().start_remind == []  # never queued again


def test_no_starts_soon_email_when_turned_off(settings):
    settings.RESERVATION_START_REMINDER_MINUTES = 0
    ahead(starts_in=timedelta(minutes=20), booked_ago=timedelta(days=1))

    assert due_work_dispatch().start_remind == []
