"""GET /enforcement/coverage/: what an agent learns about a car or a meter, and nothing more."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from enforcement.models import CoverageLookup, Scope
from enforcement.services import enforcement_key_create
from enforcement.throttles import EnforcementKeyRateThrottle
from testing.factories import ParkingSpotFactory, ReservationFactory
from tests.enforcement.conftest import COVERAGE

pytestmark = pytest.mark.django_db

# Every key any answer may carry: where, which car, when. A new field is a decision, not an
# accident: this list changes with it.
ANSWER_KEYS = {"covered", "reason", "checked_at", "query", "stays"}
QUERY_KEYS = {"plate", "state", "meter"}
STAY_KEYS = {
    "parking_spot",
    "meter",
    "borough",
    "street",
    "plate",
    "state",
    "start_time",
    "end_time",
    "status",
}
PERSONAL = ("guest@example.com", "4242", "visa", "cus_", "seti_", "pm_")


def ask(agent: APIClient, **params) -> dict:
    """A lookup answered 200, its JSON held to the allow-lists."""
    response = agent.get(COVERAGE, params)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == ANSWER_KEYS
    assert set(body["query"]) == QUERY_KEYS
    for stay in body["stays"]:
        assert set(stay) == STAY_KEYS
    text = response.content.decode()
    assert not any(value in text for value in PERSONAL), text
    return body


def minutes(n: int):
    return timezone.now() + timedelta(minutes=n)


def paid_card(**fields) -> dict:
    """What a confirmed reservation carries that enforcement must never see."""
    return {
        "card_brand": "visa",
        "card_last4": "4242",
        "stripe_customer_id": "cus_123",
        "stripe_setup_intent_id": "seti_123",
        "stripe_payment_method_id": "pm_123",
        **fields,
    }


def test_a_running_paid_stay_covers_its_plate_typed_any_way(agent):
    stay = ReservationFactory(plate="ABC1234", plate_state="NY", **paid_card())

    body = ask(agent, plate="abc-1234", state="ny")

    assert (body["covered"], body["reason"]) == (True, "covered")
    assert body["query"] == {"plate": "ABC1234", "state": "NY", "meter": None}
    [shown] = body["stays"]
    assert shown["parking_spot"] == stay.spot_id
    assert shown["meter"] == stay.spot.meter_number
    assert (shown["plate"], shown["state"], shown["status"]) == ("ABC1234", "NY", "active")
    assert shown["street"] == stay.spot.street


def test_the_same_plate_of_another_state_is_not_covered(agent):
    ReservationFactory(plate="ABC1234", plate_state="NY")

    body = ask(agent, plate="ABC1234", state="NJ")

    assert (body["covered"], body["reason"], body["stays"]) == (False, "not_found", [])


def test_an_unknown_plate_is_not_found(agent):
    body = ask(agent, plate="ZZZ9999", state="NY")

    assert (body["covered"], body["reason"], body["stays"]) == (False, "not_found", [])


@pytest.mark.parametrize("status", ["ended", "paid", "payment_failed", "active"])
def test_a_stay_that_ended_is_expired_and_says_nothing_of_payment(agent, status):
    # `active` past its end: the workers have not ended it yet; it covers nothing either.
    ReservationFactory(
        plate="ABC1234", plate_state="NY", status=status, start_time=minutes(-120), minutes=60
    )

    body = ask(agent, plate="ABC1234", state="NY")

    assert (body["covered"], body["reason"]) == (False, "expired")
    [shown] = body["stays"]
    assert shown["status"] == "ended"


def test_a_stay_booked_ahead_is_not_started(agent):
    ReservationFactory(plate="ABC1234", plate_state="NY", start_time=minutes(30))

    body = ask(agent, plate="ABC1234", state="NY")

    assert (body["covered"], body["reason"]) == (False, "not_started")
    assert body["stays"][0]["status"] == "active"


def test_not_covered_names_the_stay_nearest_now(agent):
    ReservationFactory(plate="ABC1234", plate_state="NY", start_time=minutes(-300), minutes=60)
    ReservationFactory(plate="ABC1234", plate_state="NY", start_time=minutes(-100), minutes=60)
    soon = ReservationFactory(plate="ABC1234", plate_state="NY", start_time=minutes(20))

    body = ask(agent, plate="ABC1234", state="NY")

    assert body["reason"] == "not_started"
    assert [stay["parking_spot"] for stay in body["stays"]] == [soon.spot_id]
    ReservationFactory(plate="ABC1234", plate_state="NY", start_time=minutes(-70), minutes=60)
    assert ask(agent, plate="ABC1234", state="NY")["reason"] == "expired"


@pytest.mark.parametrize("status", ["pending_payment", "cancelled"])
def test_an_unpaid_hold_or_a_cancelled_stay_covers_nothing(agent, status):
    stay = ReservationFactory(plate="ABC1234", plate_state="NY", status=status)

    by_plate = ask(agent, plate="ABC1234", state="NY")
    by_meter = ask(agent, meter=stay.spot.meter_number)

    assert (by_plate["covered"], by_plate["reason"]) == (False, "not_found")
    assert (by_meter["covered"], by_meter["reason"]) == (False, "not_found")


def test_covered_at_another_meter_is_other_spot(agent):
    elsewhere = ReservationFactory(plate="ABC1234", plate_state="NY")
    here = ParkingSpotFactory()

    body = ask(agent, plate="ABC1234", state="NY", meter=here.meter_number)

    assert (body["covered"], body["reason"]) == (False, "other_spot")
    assert [stay["meter"] for stay in body["stays"]] == [elsewhere.spot.meter_number]
    at_its_meter = ask(agent, plate="ABC1234", state="NY", meter=elsewhere.spot.meter_number)
    assert (at_its_meter["covered"], at_its_meter["reason"]) == (True, "covered")


def test_a_meter_answers_with_the_plate_parked_there_now(agent):
    spot = ParkingSpotFactory()
    ReservationFactory(spot=spot, plate="OLD1", plate_state="NJ", start_time=minutes(-200))
    ReservationFactory(spot=spot, plate="NOW2", plate_state="NY", **paid_card())

    body = ask(agent, meter=f" {spot.meter_number} ")

    assert (body["covered"], body["reason"]) == (True, "covered")
    assert [(stay["plate"], stay["state"]) for stay in body["stays"]] == [("NOW2", "NY")]
    assert body["query"] == {"plate": None, "state": None, "meter": spot.meter_number}


def test_a_meter_without_a_stay_now(agent):
    spot = ParkingSpotFactory()
    assert ask(agent, meter=spot.meter_number)["reason"] == "not_found"
    ReservationFactory(spot=spot, plate="OLD1", plate_state="NJ", start_time=minutes(-90))

    body = ask(agent, meter=spot.meter_number)

    assert (body["covered"], body["reason"]) == (False, "expired")
    assert body["stays"][0]["plate"] == "OLD1"


def test_an_unknown_meter_is_a_404_naming_it(agent):
    response = agent.get(COVERAGE, {"meter": "9999999"})

    assert response.status_code == 404
    assert list(response.json()) == ["meter"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "plate"),
        ({"plate": "ABC1234"}, "state"),
        ({"state": "NY"}, "plate"),
        ({"plate": "ABC1234", "state": "XX"}, "state"),
        ({"plate": "ABC_1234", "state": "NY"}, "plate"),
        ({"plate": "", "state": "NY"}, "plate"),
        ({"plate": "A" * 40, "state": "NY"}, "plate"),
        ({"meter": "12;34"}, "meter"),
        ({"meter": "1" * 65}, "meter"),
        ({"meter": ""}, "plate"),  # an empty parameter counts as absent
    ],
)
def test_bad_parameters_are_a_400_naming_them(agent, params, named):
    response = agent.get(COVERAGE, params)

    assert response.status_code == 400
    assert named in response.json()


@pytest.mark.parametrize(
    "query",
    [
        "plate=%00&state=NY",
        "plate=ABC1234&state=%00",
        "meter=%00",
        "meter=%FF%FE",
        "plate=%F0%9F%9A%97&state=NY",
        "plate=ABC1234&state=NY&meter=" + "9" * 5000,
        "plate[]=1&state[]=2",
        "plate=ABC1234&plate=XYZ9&state=NY",
        "meter=%D9%A1%D9%A2",
        "plate=" + "%20" * 300 + "&state=NY",
    ],
)
def test_garbage_is_never_a_server_error(agent, query):
    response = agent.get(f"{COVERAGE}?{query}")

    assert response.status_code in (200, 400, 404), response.content
    assert response["Content-Type"] == "application/json"
    assert CoverageLookup.objects.count() == 1


def test_every_answered_lookup_is_logged(agent, issued):
    stay = ReservationFactory(plate="ABC1234", plate_state="NY")
    agent.get(COVERAGE, {"plate": "abc 1234", "state": "ny"}, REMOTE_ADDR="203.0.113.9")
    agent.get(COVERAGE, {"meter": stay.spot.meter_number})
    agent.get(COVERAGE, {"plate": "ABC1234"})
    agent.get(COVERAGE, {"meter": "9999999"})
    APIClient().get(COVERAGE, {"meter": stay.spot.meter_number})  # no key: nothing answered

    lookups = list(CoverageLookup.objects.order_by("id"))

    assert len(lookups) == 4
    assert {lookup.key_id for lookup in lookups} == {issued.key.pk}
    first = lookups[0]
    assert (first.given_plate, first.given_state, first.plate, first.plate_state) == (
        "abc 1234",
        "ny",
        "ABC1234",
        "NY",
    )
    assert (first.covered, first.reason, first.client_address) == (True, "covered", "203.0.113.9")
    assert (lookups[1].meter, lookups[1].covered) == (stay.spot.meter_number, True)
    assert (lookups[2].reason, lookups[2].covered, lookups[2].plate) == ("invalid", None, "")
    assert (lookups[3].reason, lookups[3].given_meter) == ("unknown_meter", "9999999")


def test_the_throttle_counts_per_key_not_per_address(agent, monkeypatch):
    monkeypatch.setattr(EnforcementKeyRateThrottle, "THROTTLE_RATES", {"enforcement": "3/minute"})
    other = APIClient()
    other_key = enforcement_key_create(name="Other", scopes=[Scope.COVERAGE], created_by=None)
    other.credentials(HTTP_AUTHORIZATION=f"Key {other_key.clear}")
    params = {"plate": "ABC1234", "state": "NY"}

    statuses = [
        agent.get(COVERAGE, params, REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(4)
    ]
    refused = agent.get(COVERAGE, params)

    assert statuses == [200, 200, 200, 429]
    assert int(refused["Retry-After"]) > 0 and "detail" in refused.json()
    assert other.get(COVERAGE, params).status_code == 200
    assert CoverageLookup.objects.count() == 4
