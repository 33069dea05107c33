from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from parking_spots.models import ParkingSpot, RateZone
from reservations.models import Reservation, ReservationStatus
from reservations.pricing import reservation_amount_cents
from reservations.selectors import spot_is_held_now
from reservations.services import (
    TRANSITIONS,
    reservation_activate,
    reservation_cancel,
    reservation_cancel_stale_holds,
    reservation_change_end_time,
    reservation_create,
    reservation_end,
    reservation_end_now,
    reservation_link_opened,
    reservation_mark_paid,
    reservation_mark_payment_failed,
)
from secure_my_spot.exceptions import ApplicationError, ConflictError, NotFoundError
from testing.factories import ParkingSpotFactory, ReservationFactory

pytestmark = pytest.mark.django_db
S = ReservationStatus


def book(spot, minutes=60, email="Guest@Example.com", **kwargs):
    return reservation_create(spot_id=spot.pk, reservation_length=minutes, email=email, **kwargs)


def test_booking_holds_the_spot_from_now_at_its_zone_rates(spot, settings):
    settings.RESERVATION_HOLD_MINUTES = 7
    before = timezone.now()

    reservation = book(spot, minutes=45)

    assert reservation.status == S.PENDING_PAYMENT
    assert reservation.email == "guest@example.com"
    # Unzoned: "elsewhere", first hour 150 cents, later hours 250; `rate` is the first hour's.
    assert (reservation.first_hour_cents, reservation.later_hour_cents) == (150, 250)
    assert reservation.rate == Decimal("1.50")
    assert reservation.meter_hours == spot.meter_hours
    assert before <= reservation.start_time <= timezone.now()
    assert reservation.end_time - reservation.start_time == timedelta(minutes=45)
    assert reservation.hold_expires_at - reservation.start_time == timedelta(minutes=7)


def test_rates_and_hours_are_fixed_at_booking(spot):
    zone, _ = RateZone.objects.update_or_create(
        code="retail", defaults={"name": "Retail", "first_hour_cents": 200, "later_hour_cents": 300}
    )
    ParkingSpot.objects.filter(pk=spot.pk).update(zone=zone)
    reservation = book(spot, minutes=90)
    RateZone.objects.filter(pk=zone.pk).update(first_hour_cents=999, later_hour_cents=999)
    ParkingSpot.objects.filter(pk=spot.pk).update(meter_hours="1HR Pas Mon-Sun 0000-2400")

    reservation.refresh_from_db()
    assert (str(reservation.rate), reservation.first_hour_cents) == ("2.00", 200)
    assert reservation.meter_hours == spot.meter_hours
    # 60 minutes at 200 and 30 at 300, metered around the clock as booked.
    assert reservation_amount_cents(reservation, end=reservation.end_time) == 350


def test_second_booking_of_a_held_spot_conflicts(spot):
    book(spot)

    with pytest.raises(ConflictError):
        book(spot, email="other@example.com")
    assert Reservation.objects.count() == 1


def test_stale_hold_does_not_block_and_is_cancelled(spot):
    now = timezone.now()
    stale = ReservationFactory(
        spot=spot, status=S.PENDING_PAYMENT, start_time=now - timedelta(minutes=11), minutes=120
    )
    assert stale.hold_expires_at < now

    fresh = book(spot, email="second@example.com")

    stale.refresh_from_db()
    assert stale.status == S.CANCELLED
    assert stale.amount_cents == 0
    assert fresh.status == S.PENDING_PAYMENT


def test_stale_hold_is_not_holding_for_availability(spot):
    now = timezone.now()
    ReservationFactory(
        spot=spot, status=S.PENDING_PAYMENT, start_time=now - timedelta(minutes=11), minutes=120
    )
    held = ParkingSpot.objects.annotate(held=spot_is_held_now()).get(pk=spot.pk).held
    assert held is False


@pytest.mark.parametrize(
    ("status", "start_offset", "minutes", "held"),
    [
        (S.ACTIVE, -5, 60, True),
        (S.ACTIVE, -65, 60, False),  # ran out, not yet ended by a worker
        (S.PENDING_PAYMENT, -5, 60, True),
        (S.PENDING_PAYMENT, -5, 3, False),  # live hold but the period is over
        (S.CANCELLED, -5, 60, False),
        (S.ENDED, -5, 60, False),
        (S.PAID, -5, 60, False),
        (S.PAYMENT_FAILED, -5, 60, False),
    ],
)
def test_spot_is_held_now(spot, status, start_offset, minutes, held):
    start = timezone.now() + timedelta(minutes=start_offset)
    ReservationFactory(spot=spot, status=status, start_time=start, minutes=minutes)
    other = ParkingSpotFactory()

    annotated = dict(
        ParkingSpot.objects.annotate(held=spot_is_held_now()).values_list("pk", "held")
    )

    assert annotated == {spot.pk: held, other.pk: False}


def test_inactive_unknown_and_too_long(spot):
    # Metered around the clock with a 2-hour limit: any hour the tests run is metered.
    spot.meter_hours = "2HR Pas Mon-Sun 0000-2400"
    spot.save()
    with pytest.raises(ApplicationError) as too_long:
        book(spot, minutes=121)
    assert too_long.value.field == "reservation_length"
    assert "2-hour limit daily 00:00-24:00" in str(too_long.value)
    assert book(spot, minutes=120).status == S.PENDING_PAYMENT

    closed = ParkingSpotFactory(active=False)
    with pytest.raises(ConflictError):
        book(closed)
    with pytest.raises(NotFoundError):
        reservation_create(spot_id=10**17, reservation_length=5, email="a@example.com")


def test_configured_maximum(spot, settings):
    settings.RESERVATION_MAX_MINUTES = 30
    with pytest.raises(ApplicationError):
        book(spot, minutes=31)
    assert book(spot, minutes=30)


def test_unpaid_failed_payment_blocks_the_owner_only(spot, user):
    # A guest bill nobody proved is the typist's: it stops no later booking of that e-mail.
    unproven = ReservationFactory(
        spot=ParkingSpotFactory(), status=S.PAYMENT_FAILED, email="guest@example.com"
    )
    assert book(spot, email="GUEST@example.com")

    # Once the mailbox's owner opened its manage link, the bill stands against the e-mail.
    reservation_link_opened(reservation=unproven)
    with pytest.raises(ConflictError, match="cannot book as a guest") as refused:
        book(ParkingSpotFactory(time_limit_minutes=None), email="GUEST@example.com")
    assert "unpaid" not in refused.value.message
    assert book(ParkingSpotFactory(time_limit_minutes=None), email="someone@example.com")

    ReservationFactory(
        spot=ParkingSpotFactory(), status=S.PAYMENT_FAILED, user=user, email="old@x.org"
    )
    with pytest.raises(ConflictError, match="unpaid"):
        reservation_create(spot_id=ParkingSpotFactory().pk, reservation_length=5, user=user)

    # Derived from the bill's state: settled, nothing stops anyone any more.
    Reservation.objects.filter(status=S.PAYMENT_FAILED).update(status=S.PAID)
    assert reservation_create(spot_id=ParkingSpotFactory().pk, reservation_length=5, user=user)
    assert book(ParkingSpotFactory(time_limit_minutes=None), email="guest@example.com")


def test_database_refuses_overlap_without_the_service(spot):
    ReservationFactory(spot=spot, status=S.ACTIVE)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReservationFactory(spot=spot, status=S.PENDING_PAYMENT, email="sneaky@example.com")
    # Back to back is fine, and non-holding rows never conflict.
    first = Reservation.objects.get()
    ReservationFactory(spot=spot, status=S.ACTIVE, start_time=first.end_time)
    ReservationFactory(spot=spot, status=S.CANCELLED)


# --- transitions ------------------------------------------------------------------------

LEGAL = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}


def test_transition_table_is_the_documented_lifecycle():
    assert {
        (S.PENDING_PAYMENT, S.ACTIVE),
        (S.PENDING_PAYMENT, S.CANCELLED),
        (S.ACTIVE, S.ENDED),
        (S.ENDED, S.PAID),
        (S.ENDED, S.PAYMENT_FAILED),
        (S.PAYMENT_FAILED, S.PAID),
    } == LEGAL


def _end_expired(reservation_id):
    Reservation.objects.filter(pk=reservation_id).update(end_time=timezone.now())
    return reservation_end(reservation_id=reservation_id)


ACTIONS = {
    S.ACTIVE: lambda pk: reservation_activate(reservation_id=pk, card_last4="4242"),
    S.CANCELLED: lambda pk: reservation_cancel(reservation_id=pk),
    S.ENDED: _end_expired,
    S.PAID: lambda pk: reservation_mark_paid(reservation_id=pk),
    S.PAYMENT_FAILED: lambda pk: reservation_mark_payment_failed(reservation_id=pk),
}


# The ending task may run late, again after the charge, or for a hold that never became
# active: it leaves whatever is not an active reservation as it is.
ALREADY_PAST = {
    (S.PAID, S.ENDED),
    (S.PAYMENT_FAILED, S.ENDED),
    (S.PENDING_PAYMENT, S.ENDED),
    (S.CANCELLED, S.ENDED),
}


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(ACTIONS))
def test_every_transition_is_checked(spot, source, target):
    reservation = ReservationFactory(spot=spot, status=source, minutes=30)
    if (source, target) in ALREADY_PAST:
        assert ACTIONS[target](reservation.pk).status == source
    elif (source, target) in LEGAL or source == target:
        result = ACTIONS[target](reservation.pk)
        assert result.status == target
        result.refresh_from_db()
        assert result.status == target
    else:
        with pytest.raises(ConflictError):
            ACTIONS[target](reservation.pk)
        reservation.refresh_from_db()
        assert reservation.status == source


def test_ending_bills_the_time_used(spot):
    start = timezone.now() - timedelta(minutes=90, seconds=1)
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE, start_time=start, minutes=91)
    Reservation.objects.filter(pk=reservation.pk).update(
        end_time=start + timedelta(minutes=90, seconds=1)
    )

    ended = reservation_end(reservation_id=reservation.pk)

    assert ended.status == S.ENDED
    assert ended.ended_at == start + timedelta(minutes=90, seconds=1)
    assert ended.amount_cents == 683
    assert reservation_end(reservation_id=reservation.pk).amount_cents == 683  # repeatable


def test_end_of_a_running_reservation_waits_for_its_end(spot):
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE)

    assert reservation_end(reservation_id=reservation.pk).status == S.ACTIVE


def test_end_now_frees_the_spot_bills_and_hands_over_to_the_workers(
    spot, outbox, django_capture_on_commit_callbacks, enqueued
):
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE, card_last4="4242")

    with django_capture_on_commit_callbacks(execute=True):
        reservation_end_now(reservation_id=reservation.pk)

    reservation.refresh_from_db()
    assert reservation.status == S.ENDED
    assert reservation.end_time == reservation.ended_at <= timezone.now()
    assert reservation.amount_cents == 50  # 5 started minutes at 4.50/h = 38 cents -> minimum
    # The charge, then the 'ended' e-mail with its outcome, are the workers' job.
    assert outbox.deliver() == []
    assert enqueued.drain() == [("tasks.reservation_finish", [reservation.pk])]
    assert book(spot, email="next@example.com").status == S.PENDING_PAYMENT


def test_pending_cannot_be_ended_and_active_cannot_be_cancelled(spot):
    pending = ReservationFactory(spot=spot, status=S.PENDING_PAYMENT)
    active = ReservationFactory(status=S.ACTIVE)

    with pytest.raises(ConflictError):
        reservation_end_now(reservation_id=pending.pk)
    with pytest.raises(ConflictError):
        reservation_cancel(reservation_id=active.pk)
    assert reservation_cancel(reservation_id=pending.pk).status == S.CANCELLED
    assert reservation_cancel(reservation_id=pending.pk).status == S.CANCELLED  # repeatable


# --- changing the end -------------------------------------------------------------------


def test_extension_overlapping_a_later_reservation_conflicts(spot):
    first = ReservationFactory(spot=spot, status=S.ACTIVE, minutes=30)
    ReservationFactory(
        spot=spot, status=S.ACTIVE, start_time=first.end_time, email="next@example.com"
    )

    with pytest.raises(ConflictError):
        reservation_change_end_time(
            reservation_id=first.pk, end_time=first.end_time + timedelta(minutes=1)
        )
    first.refresh_from_db()
    assert first.end_time - first.start_time == timedelta(minutes=30)


def test_extension_and_shortening_email_the_user(spot, outbox):
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE, minutes=30)
    longer = reservation.end_time + timedelta(minutes=30)

    changed = reservation_change_end_time(reservation_id=reservation.pk, end_time=longer)
    assert changed.end_time == longer
    reservation_change_end_time(
        reservation_id=reservation.pk, end_time=longer - timedelta(minutes=50)
    )

    sent = outbox.deliver()
    assert [mail.subject for mail in sent] == ["Your parking reservation has changed"] * 2
    assert "EST" in sent[0].body and "EST" in sent[0].alternatives[0][0]


def test_end_before_start_or_past_maximum_is_bad_input(spot, settings):
    settings.RESERVATION_MAX_MINUTES = 60
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE, minutes=30)

    with pytest.raises(ApplicationError) as before:
        reservation_change_end_time(
            reservation_id=reservation.pk, end_time=reservation.start_time - timedelta(seconds=1)
        )
    with pytest.raises(ApplicationError) as too_long:
        reservation_change_end_time(
            reservation_id=reservation.pk,
            end_time=reservation.start_time + timedelta(minutes=61),
        )
    assert before.value.status_code == too_long.value.status_code == 400
    assert reservation_change_end_time(
        reservation_id=reservation.pk, end_time=reservation.start_time + timedelta(minutes=60)
    )


def test_run_out_reservation_cannot_be_extended(spot):
    reservation = ReservationFactory(
        spot=spot, status=S.ACTIVE, start_time=timezone.now() - timedelta(minutes=40), minutes=30
    )
    with pytest.raises(ConflictError):
        reservation_change_end_time(
            reservation_id=reservation.pk, end_time=timezone.now() + timedelta(minutes=5)
        )


# --- e-mails ------------------------------------------------------------------------------


def test_the_confirmation_email_says_when_where_and_which_card(spot, outbox):
    reservation = ReservationFactory(
        spot=spot,
        status=S.PENDING_PAYMENT,
        hold_expires_at=timezone.now() + timedelta(minutes=5),
        card_brand="visa",
        card_last4="4242",
        start_time=timezone.make_aware(timezone.datetime(2026, 7, 4, 16, 0)),
    )

    reservation_activate(reservation_id=reservation.pk)

    [mail] = outbox.deliver()
    assert mail.to == ["guest@example.com"]
    assert "Sat Jul 04 2026, 12:00 PM EDT" in mail.body  # 16:00 UTC in New York summer time
    assert "$4.50 per hour" in mail.body and "ending in 4242" in mail.body
    assert mail.alternatives[0][1] == "text/html" and "4242" in mail.alternatives[0][0]


def test_stale_hold_sweep_is_repeatable(spot):
    now = timezone.now()
    ReservationFactory(spot=spot, status=S.PENDING_PAYMENT, start_time=now - timedelta(minutes=20))
    ReservationFactory(status=S.PENDING_PAYMENT)

    assert reservation_cancel_stale_holds(now=now) == 1
    assert reservation_cancel_stale_holds(now=now) == 0
    assert Reservation.objects.filter(status=S.PENDING_PAYMENT).count() == 1
