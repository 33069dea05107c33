"""Quotes and bills under the meter's rule: the quote routes, legality at booking and change,
and the bill at end equal to the quote given at booking (issue 16, items 4 and 5).

Every stay here is placed on a named weekday and hour in New York (never "now"), on a day
that is not a meter holiday, so nothing depends on when the tests run.
"""

from datetime import UTC, datetime, time, timedelta
from unittest import mock
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.throttling import ScopedRateThrottle

from parking_spots.models import ParkingSpot, RateZone
from parking_spots.selectors import holidays_between
from reservations.models import Reservation
from reservations.services import reservation_activate, reservation_end
from testing.factories import ParkingSpotFactory

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")
MONDAY, SUNDAY = 0, 6
TWO_HOUR_METER = "2 HR Pas Mon-Sat 0900-1900"
EMAIL = "driver@example.com"


@pytest.fixture(autouse=True)
def _roomy_caps(settings):
    settings.HOLDS_MAX_PER_ADDRESS = settings.HOLDS_MAX_PER_EMAIL = 100
    settings.RESERVATIONS_AHEAD_MAX = 100


@pytest.fixture
def midtown(db) -> RateZone:
    """DOT's 2023 M1 rates, whatever an earlier test left in the table."""
    zone, _ = RateZone.objects.update_or_create(
        code="midtown-core",
        defaults={"name": "Midtown core", "first_hour_cents": 550, "later_hour_cents": 900},
    )
    return zone


@pytest.fixture
def meter(midtown) -> ParkingSpot:
    """A Midtown meter with a 2-hour limit, Monday to Saturday 09:00-19:00."""
    return ParkingSpotFactory(zone=midtown, meter_hours=TWO_HOUR_METER)


def next_local(weekday: int, hour: int, minute: int = 0) -> datetime:
    """The next `weekday` at least a day ahead, at hour:minute in New York, that is not a
    meter holiday."""
    day = timezone.now().astimezone(NY).date() + timedelta(days=1)
    while day.weekday() != weekday or holidays_between(start=day, end=day):
        day += timedelta(days=1)
    return datetime.combine(day, time(hour, minute), tzinfo=NY)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def quote(client, spot_id: int, **params):
    return client.get(f"/quote/{spot_id}/?{urlencode(params)}")


def book(client, spot, *, start: datetime, length: int):
    body = {"email": EMAIL, "reservation_length": length, "start_time": iso(start)}
    return client.post(f"/reservation-unauth/{spot.pk}/", {"reservation": body}, format="json")


def change(client, reservation_id: str, end: datetime):
    return client.patch(
        f"/update-reservation-unauth/{reservation_id}/{EMAIL}/",
        {"reservation": {"end_time": iso(end)}},
        format="json",
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "end_time"),
        ({"reservation_length": 0}, "reservation_length"),
        ({"reservation_length": "an hour"}, "reservation_length"),
        ({"reservation_length": 24 * 60 + 1}, "reservation_length"),
        ({"reservation_length": 60, "end_time": "2030-01-01T10:00:00Z"}, "reservation_length"),
        ({"end_time": "tomorrow"}, "end_time"),
        ({"end_time": "2030-01-01T10:00:00"}, "end_time"),  # no offset
        ({"end_time": "2020-01-01T10:00:00Z"}, "end_time"),  # before the start (now)
        ({"start_time": "2020-01-01T10:00:00Z", "reservation_length": 60}, "start_time"),
        ({"start_time": "2999-01-01T10:00:00Z", "reservation_length": 60}, "start_time"),
    ],
)
def test_quote_input_errors_are_400s_naming_the_parameter(api_client, meter, params, field):
    response = quote(api_client, meter.pk, **params)

    assert response.status_code == 400, response.content
    assert field in response.json()


def test_quote_of_an_unknown_spot_is_a_json_404(api_client, db):
    response = quote(api_client, 999_999_999, reservation_length=60)

    assert response.status_code == 404
    assert response.json()["detail"]


def test_a_90_minute_monday_stay_in_midtown_costs_1000_cents(api_client, meter):
    start = next_local(MONDAY, 10)

    response = quote(api_client, meter.pk, start_time=iso(start), reservation_length=90)

    assert response.status_code == 200, response.content
    body = response.json()
    # First hour 550, then 30 minutes at 900 an hour: 450.
    assert (body["amount_cents"], body["currency"]) == (1000, "usd")
    assert (body["metered_minutes"], body["minimum_applied"]) == (90, False)
    assert [
        (s["minutes"], s["rate_cents_per_hour"], s["amount_cents"], s["step"])
        for s in body["segments"]
    ] == [(60, 550, 550, "first hour"), (30, 900, 450, "later hours")]
    assert datetime.fromisoformat(body["start_time"]) == start
    assert datetime.fromisoformat(body["end_time"]) == start + timedelta(minutes=90)
    assert body["parking_spot"] == meter.pk
    # The 2-hour limit from 10:00 ends the legal stay at noon.
    assert datetime.fromisoformat(body["legal_max_end"]) == start + timedelta(hours=2)
    assert body["limited_by"] == "2-hour limit Mon-Sat 09:00-19:00"


def test_a_sunday_stay_at_a_monday_to_saturday_meter_costs_nothing(api_client, meter):
    start = next_local(SUNDAY, 10)

    body = quote(
        api_client, meter.pk, start_time=iso(start), end_time=iso(start + timedelta(hours=3))
    ).json()

    assert (body["amount_cents"], body["metered_minutes"], body["segments"]) == (0, 0, [])
    assert body["minimum_applied"] is False


def test_a_quote_without_a_start_is_for_now(api_client, db):
    before = timezone.now()

    body = quote(api_client, ParkingSpotFactory().pk, reservation_length=60).json()

    start = datetime.fromisoformat(body["start_time"])
    assert before <= start <= timezone.now()
    # The factory's spot meters around the clock at "elsewhere"'s 150 cents the first hour.
    assert (body["amount_cents"], body["metered_minutes"]) == (150, 60)
    assert (body["legal_max_end"], body["limited_by"]) == (None, "")


def test_a_booking_past_the_posted_limit_is_a_400_naming_it(api_client, meter):
    response = book(api_client, meter, start=next_local(MONDAY, 10), length=150)

    assert response.status_code == 400, response.content
    assert "2-hour limit Mon-Sat 09:00-19:00" in response.json()["reservation_length"][0]
    assert not Reservation.objects.exists()


def test_the_same_length_outside_metered_hours_is_allowed(api_client, meter):
    response = book(api_client, meter, start=next_local(SUNDAY, 10), length=150)

    assert response.status_code == 201, response.content
    assert response.json()["quoted_amount_cents"] == 0


def test_an_extension_past_the_posted_limit_is_a_400_naming_it(api_client, meter):
    start = next_local(MONDAY, 10)
    booked = book(api_client, meter, start=start, length=60).json()

    response = change(api_client, booked["id"], start + timedelta(hours=3))

    assert response.status_code == 400, response.content
    assert "2-hour limit" in response.json()["end_time"][0]
    assert change(api_client, booked["id"], start + timedelta(hours=2)).status_code == 200


def test_a_booking_carries_its_quote_and_first_hour_rate(api_client, meter):
    start = next_local(MONDAY, 10)
    quoted = quote(api_client, meter.pk, start_time=iso(start), reservation_length=90).json()

    response = book(api_client, meter, start=start, length=90)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["quoted_amount_cents"] == quoted["amount_cents"] == 1000
    assert body["rate"] == "5.50"
    assert body["amount_cents"] == 0  # nothing billed before it is paid for


def test_the_bill_at_end_equals_the_quote_given_at_booking(api_client, meter, midtown):
    start = next_local(MONDAY, 10)
    quoted = quote(api_client, meter.pk, start_time=iso(start), reservation_length=90).json()
    booked = book(api_client, meter, start=start, length=90).json()
    reservation = Reservation.objects.get(public_id=booked["id"])
    reservation_activate(reservation_id=reservation.pk, card_last4="4242")
    # An operator's later change of the zone's rates prices new bookings only.
    RateZone.objects.filter(pk=midtown.pk).update(first_hour_cents=999, later_hour_cents=999)

    with mock.patch("django.utils.timezone.now", return_value=start + timedelta(minutes=91)):
        ended = reservation_end(reservation_id=reservation.pk)
        body = api_client.get(f"/reservation-unauth/{booked['id']}/{EMAIL}/").json()

    assert ended.status == "ended"
    assert ended.amount_cents == quoted["amount_cents"] == 1000
    assert body["amount_cents"] == body["quoted_amount_cents"] == 1000


def test_the_bill_so_far_is_the_meter_price_of_the_time_so_far(api_client, meter):
    start = next_local(MONDAY, 10)
    booked = book(api_client, meter, start=start, length=90).json()
    reservation = Reservation.objects.get(public_id=booked["id"])
    reservation_activate(reservation_id=reservation.pk, card_last4="4242")

    with mock.patch("django.utils.timezone.now", return_value=start + timedelta(minutes=30)):
        body = api_client.get(f"/reservation-unauth/{booked['id']}/{EMAIL}/").json()

    assert body["amount_cents"] == 275  # 30 minutes of the 550-cent first hour
    assert body["quoted_amount_cents"] == 1000


def test_the_quote_for_a_new_end_uses_the_reservation_s_own_rates(api_client, meter, midtown):
    start = next_local(MONDAY, 10)
    booked = book(api_client, meter, start=start, length=60).json()
    RateZone.objects.filter(pk=midtown.pk).update(first_hour_cents=999, later_hour_cents=999)
    path = f"/quote-reservation-unauth/{booked['id']}/{EMAIL}/"

    body = api_client.get(f"{path}?{urlencode({'end_time': iso(start + timedelta(hours=2))})}")

    assert body.status_code == 200, body.content
    assert body.json()["amount_cents"] == 550 + 900
    assert datetime.fromisoformat(body.json()["legal_max_end"]) == start + timedelta(hours=2)
    assert "end_time" in api_client.get(path).json()
    before_start = urlencode({"end_time": iso(start - timedelta(minutes=1))})
    assert "end_time" in api_client.get(f"{path}?{before_start}").json()
    stranger = f"/quote-reservation-unauth/{booked['id']}/someone@example.com/?end_time=x"
    assert api_client.get(stranger).status_code == 404


def test_the_owner_quotes_a_new_end_by_token(signed_in, meter):
    start = next_local(SUNDAY, 10)
    booked = signed_in.post(
        f"/reservation-auth/{meter.pk}/",
        {"reservation": {"reservation_length": 60, "start_time": iso(start)}},
        format="json",
    ).json()

    response = signed_in.get(
        f"/quote-reservation-auth/{booked['id']}/?"
        + urlencode({"end_time": iso(start + timedelta(hours=4))})
    )

    assert response.status_code == 200, response.content
    assert response.json()["amount_cents"] == 0


def test_another_account_cannot_quote_a_reservation(api_client, signed_in, meter):
    booked = book(api_client, meter, start=next_local(SUNDAY, 10), length=60).json()

    response = signed_in.get(f"/quote-reservation-auth/{booked['id']}/?end_time=x")

    assert response.status_code == 404


def test_the_quote_route_is_throttled_per_client_address(api_client, meter, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"spot_windows": "2/minute"})

    codes = [quote(api_client, meter.pk, reservation_length=60).status_code for _ in range(3)]

    assert codes == [200, 200, 429]
    other = api_client.get(f"/quote/{meter.pk}/?reservation_length=60", REMOTE_ADDR="10.9.8.7")
    assert other.status_code == 200
