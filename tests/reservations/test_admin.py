from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from parking_spots.selectors import holidays_between
from reservations.models import Reservation, ReservationStatus
from testing.factories import ParkingSpotFactory, ReservationFactory

pytestmark = pytest.mark.django_db
S = ReservationStatus
CHANGELIST = reverse("admin:reservations_reservation_changelist")


def listed_ids(response) -> set[int]:
    assert response.status_code == 200
    return {reservation.pk for reservation in response.context["cl"].result_list}


def test_filters_and_search(admin_client):
    active = ReservationFactory(
        spot=ParkingSpotFactory(street="Atlantic Avenue"), email="ann@example.com"
    )
    paid = ReservationFactory(
        spot=ParkingSpotFactory(street="Broadway"), status=S.PAID, email="bob@x.com"
    )

    assert listed_ids(admin_client.get(CHANGELIST)) == {active.pk, paid.pk}
    assert listed_ids(admin_client.get(CHANGELIST, {"status__exact": "paid"})) == {paid.pk}
    assert listed_ids(admin_client.get(CHANGELIST, {"q": "ANN@"})) == {active.pk}
    assert listed_ids(admin_client.get(CHANGELIST, {"q": "atlantic"})) == {active.pk}
    assert listed_ids(admin_client.get(CHANGELIST, {"q": str(paid.spot_id)})) >= {paid.pk}
    day = active.start_time.date()
    by_day = {
        "start_time__year": day.year,
        "start_time__month": day.month,
        "start_time__day": day.day,
    }
    assert listed_ids(admin_client.get(CHANGELIST, by_day)) == {active.pk, paid.pk}


def test_operators_find_stays_by_plate_typed_any_way(admin_client):
    car = ReservationFactory(plate="ABC1234", plate_state="NY")
    ReservationFactory(plate="ABC1235", plate_state="NY")
    ReservationFactory()

    for typed in ("ABC1234", "abc-1234", " abc 1234 "):
        assert listed_ids(admin_client.get(CHANGELIST, {"q": typed})) == {car.pk}
    assert "ABC1234" in admin_client.get(CHANGELIST).content.decode()


def test_money_is_read_only_and_nothing_is_added_or_deleted(admin_client):
    reservation = ReservationFactory(status=S.ENDED)
    url = reverse("admin:reservations_reservation_change", args=[reservation.pk])

    page = admin_client.get(url)
    saved = admin_client.post(url, {"amount_cents": 1, "rate": "0.01", "status": "paid"})

    assert page.status_code == 200
    assert 'name="amount_cents"' not in page.content.decode()
    # No Save at all: it would rewrite the row without the lock a worker may hold.
    assert 'name="_save"' not in page.content.decode()
    assert saved.status_code == 403
    reservation.refresh_from_db()
    assert (reservation.amount_cents, str(reservation.rate), reservation.status) == (
        450,
        "4.50",
        S.ENDED,
    )
    assert admin_client.get(reverse("admin:reservations_reservation_add")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_end_now_action_goes_through_the_service(admin_client, mailoutbox, enqueued):
    active = ReservationFactory(card_last4="4242")
    pending = ReservationFactory(status=S.PENDING_PAYMENT)

    response = admin_client.post(
        CHANGELIST,
        {"action": "end_now", "_selected_action": [active.pk, pending.pk]},
        follow=True,
    )

    assert response.status_code == 200
    messages = [str(message) for message in response.context["messages"]]
    assert any("Ended 1 reservation" in message for message in messages)
    assert any(f"#{pending.pk}" in message for message in messages)
    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert statuses == {active.pk: S.ENDED, pending.pk: S.PENDING_PAYMENT}
    assert enqueued.drain() == [("tasks.reservation_finish", [active.pk])]


def test_the_pricing_it_was_booked_with_and_its_quote_are_shown_read_only(admin_client):
    monday_evening = datetime(2026, 11, 16, 18, 0, tzinfo=ZoneInfo("America/New_York"))
    assert not holidays_between(start=monday_evening.date(), end=monday_evening.date())
    reservation = ReservationFactory(
        status=S.PAID,
        meter_hours="2 HR Pas Mon-Sat 0900-1900",
        first_hour_cents=550,
        later_hour_cents=900,
        start_time=monday_evening,
        minutes=90,  # 18:00-19:30: metered until 19:00 only
    )

    page = admin_client.get(reverse("admin:reservations_reservation_change", args=[reservation.pk]))

    content = page.content.decode()
    assert page.status_code == 200
    for field in ("first_hour_cents", "later_hour_cents", "meter_hours"):
        assert f'name="{field}"' not in content
    assert "2 HR Pas Mon-Sat 0900-1900" in content
    assert ">550<" in content and ">900<" in content
    assert "$5.50 for 60 metered min (the sum of the segments, rounded once)" in content
    assert "Mon Nov 16 2026, 06:00 PM to 07:00 PM EST: 60 min at $5.50 per hour (first hour)" in (
        content
    )
    assert reservation.amount_cents == 550
