"""A signed-in person's vehicles: the routes, the cap per account, and what strangers get."""

import math
import re
import secrets
from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from reservations.models import Reservation
from secure_my_spot.ids import new_public_id
from testing.factories import ReservationFactory, UserFactory
from tests.threads import race
from users.models import User, Vehicle
from users.services import (
    VehicleLimitReached,
    auth_token_issue,
    vehicle_add,
    vehicle_remember,
)

PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def client_of(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {auth_token_issue(user=user)[1]}")
    return client


@pytest.fixture
def owner(db) -> User:
    return UserFactory()


@pytest.fixture
def driver(owner) -> APIClient:
    return client_of(owner)


def add(client: APIClient, plate: str = "abc-1234", state: str = "ny", **more):
    return client.post(
        "/vehicles/", {"vehicle": {"plate": plate, "state": state, **more}}, format="json"
    )


# --- the routes ---------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["/", ""])
def test_a_person_adds_lists_renames_and_removes_a_vehicle(driver, owner, slash):
    added = add(driver, "abc 1234", " ny ", nickname="Work van")
    assert added.status_code == 201, added.content
    vehicle = added.json()
    assert set(vehicle) == {"id", "plate", "state", "nickname", "created_at"}
    assert vehicle["plate"] == "ABC1234" and vehicle["state"] == "NY"
    assert vehicle["nickname"] == "Work van"

    listing = driver.get(f"/vehicles{slash}")
    assert listing.status_code == 200
    assert listing.json() == [vehicle]

    renamed = driver.patch(
        f"/vehicles/{vehicle['id']}{slash}", {"vehicle": {"nickname": "  Mum's car "}}, "json"
    )
    assert renamed.status_code == 200, renamed.content
    assert renamed.json() == {**vehicle, "nickname": "Mum's car"}

    removed = driver.delete(f"/vehicles/{vehicle['id']}{slash}")
    assert removed.status_code == 204
    assert driver.get("/vehicles/").json() == []
    assert not Vehicle.objects.filter(user=owner).exists()


def test_the_list_is_oldest_first_and_only_the_persons_own(driver, owner):
    plates = ["FIRST1", "SECOND2", "THIRD3"]
    for plate in plates:
        assert add(driver, plate).status_code == 201
    add(client_of(UserFactory()), "OTHER1")

    listing = driver.get("/vehicles/").json()

    assert [vehicle["plate"] for vehicle in listing] == plates


def test_the_nickname_is_optional_and_can_be_cleared(driver):
    vehicle = add(driver).json()
    assert vehicle["nickname"] == ""

    named = driver.patch(f"/vehicles/{vehicle['id']}/", {"vehicle": {"nickname": "Van"}}, "json")
    cleared = driver.patch(f"/vehicles/{vehicle['id']}/", {"vehicle": {"nickname": ""}}, "json")

    assert named.json()["nickname"] == "Van"
    assert cleared.status_code == 200 and cleared.json()["nickname"] == ""


def test_adding_a_plate_the_person_has_returns_it(driver, owner):
    first = add(driver, "ABC1234", "NY", nickname="Van")

    again = add(driver, "abc-1234", "ny", nickname="Another name")

    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()  # the same vehicle, its nickname left alone
    assert Vehicle.objects.filter(user=owner).count() == 1


def test_the_same_plate_from_another_state_is_another_vehicle(driver):
    assert add(driver, "ABC1234", "NY").status_code == 201
    assert add(driver, "ABC1234", "NJ").status_code == 201


def test_a_plate_may_belong_to_several_accounts(driver):
    """A family's car is booked from each of their accounts."""
    others = client_of(UserFactory())

    mine, theirs = add(driver, "FAM1LY"), add(others, "fam 1ly")

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert Vehicle.objects.filter(plate="FAM1LY").count() == 2


def test_removing_a_vehicle_leaves_its_reservations_unchanged(driver, owner):
    vehicle = add(driver, "ABC1234", "NY").json()
    reservation = ReservationFactory(user=owner, plate="ABC1234", plate_state="NY")
    before = Reservation.objects.filter(pk=reservation.pk).values().get()

    assert driver.delete(f"/vehicles/{vehicle['id']}/").status_code == 204

    assert Reservation.objects.filter(pk=reservation.pk).values().get() == before


def test_an_account_that_is_deleted_takes_its_vehicles_along(owner):
    vehicle_add(user=owner, plate="ABC1234", state="NY")

    owner.delete()

    assert not Vehicle.objects.exists()


# --- the cap per account --------------------------------------------------------------------


def test_an_account_keeps_at_most_the_cap_and_is_told_the_limit(driver, owner, settings):
    assert settings.VEHICLES_PER_ACCOUNT == 5  # ParkNYC's, the default
    added = [add(driver, f"CAR{n}") for n in range(5)]
    assert [response.status_code for response in added] == [201] * 5

    full = add(driver, "CAR5")

    assert full.status_code == 409
    body = full.json()
    assert list(body) == ["plate", "detail"]  # field-style first, as a taken spot's
    assert "at most 5 vehicles" in body["plate"][0]
    assert Vehicle.objects.filter(user=owner).count() == 5
    # A plate the account has is still its own, full or not.
    assert add(driver, "CAR0").status_code == 200
    # Room again once one is removed.
    assert driver.delete(f"/vehicles/{added[0].json()['id']}/").status_code == 204
    assert add(driver, "CAR5").status_code == 201


def test_the_cap_is_a_setting(driver, settings):
    settings.VEHICLES_PER_ACCOUNT = 1
    assert add(driver, "ONE1").status_code == 201

    full = add(driver, "TWO2")

    assert full.status_code == 409 and "at most 1 vehicle and" in full.json()["plate"][0]


def test_a_booked_plate_is_remembered_while_there_is_room(owner, settings):
    settings.VEHICLES_PER_ACCOUNT = 2
    first = vehicle_remember(user=owner, plate="abc 1234", state="ny")
    assert first is not None and (first.plate, first.plate_state) == ("ABC1234", "NY")
    assert vehicle_remember(user=owner, plate="ABC1234", state="NY") == first
    assert vehicle_remember(user=owner, plate="XYZ9", state="NJ") is not None

    assert vehicle_remember(user=owner, plate="NEW1", state="NY") is None  # full: no error
    assert vehicle_remember(user=owner, plate="ABC1234", state="NY") == first  # still its own
    assert Vehicle.objects.filter(user=owner).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_never_pass_the_cap(settings):
    """Twenty adds of different plates to one account at once, each on its own connection:
    the user-row lock lets exactly the cap through, and the others are told it is full."""
    threads_count = 20
    for round_number in range(5):
        user = UserFactory()

        def add_plate(n: int, user=user) -> str:
            try:
                vehicle_add(user=user, plate=f"RACE{n}", state="NY")
            except VehicleLimitReached:
                return "full"
            return "added"

        outcomes = race(threads_count, add_plate)
        cap = settings.VEHICLES_PER_ACCOUNT
        assert Counter(outcomes) == {"added": cap, "full": threads_count - cap}, round_number
        assert Vehicle.objects.filter(user=user).count() == cap


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_of_one_plate_make_one_vehicle():
    user = UserFactory()

    created = race(10, lambda _: vehicle_add(user=user, plate="SAME1", state="NY")[1])

    assert sorted(created) == [False] * 9 + [True]
    assert Vehicle.objects.filter(user=user).count() == 1


# --- strangers --------------------------------------------------------------------------------


def test_another_persons_vehicle_id_gives_nothing(driver):
    """Knowing someone's vehicle id (seen over a shoulder, in a log) reaches nothing."""
    victim = UserFactory()
    victims, _ = vehicle_add(user=victim, plate="VICTIM1", state="NY", nickname="Mine")

    renamed = driver.patch(
        f"/vehicles/{victims.public_id}/", {"vehicle": {"nickname": "pwned"}}, "json"
    )
    removed = driver.delete(f"/vehicles/{victims.public_id}/")
    unknown = driver.delete(f"/vehicles/{new_public_id()}/")

    assert renamed.status_code == removed.status_code == unknown.status_code == 404
    assert renamed.json() == removed.json() == unknown.json()  # owned elsewhere or not at all
    assert victims.public_id not in str(driver.get("/vehicles/").json())
    victims.refresh_from_db()
    assert victims.nickname == "Mine"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/vehicles/"), ("post", "/vehicles/"), ("patch", "ID"), ("delete", "ID")],
)
def test_without_a_token_every_route_is_401(owner, method, path):
    vehicle, _ = vehicle_add(user=owner, plate="ABC1234", state="NY")
    path = f"/vehicles/{vehicle.public_id}/" if path == "ID" else path
    body = {"vehicle": {"plate": "XYZ1", "state": "NY", "nickname": "x"}}

    anonymous = getattr(APIClient(), method)(path, body, format="json")
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token " + secrets.token_hex(32))
    forged = getattr(bad_token, method)(path, body, format="json")

    assert anonymous.status_code == forged.status_code == 401
    vehicle.refresh_from_db()
    assert Vehicle.objects.count() == 1 and vehicle.nickname == ""


def test_a_signed_in_admin_session_is_not_enough(owner, admin_client):
    """Token auth only: the admin's cookie reaches no vehicle route (no CSRF surface)."""
    response = admin_client.post(
        "/vehicles/",
        {"vehicle": {"plate": "XYZ1", "state": "NY"}},
        content_type="application/json",
    )

    assert response.status_code == 401


def test_vehicle_ids_are_unguessable(driver, owner):
    ids = [add(driver, f"CAR{n}").json()["id"] for n in range(5)]
    vehicles = Vehicle.objects.filter(user=owner).order_by("pk")

    assert all(PUBLIC_ID.fullmatch(public_id) for public_id in ids)
    assert len(set(ids)) == 5
    assert not {str(vehicle.pk) for vehicle in vehicles} & set(ids)
    # 22 URL-safe characters carry 132 bits; the generator draws 128 random ones.
    assert 22 * math.log2(64) >= 128
    assert len({new_public_id() for _ in range(10_000)}) == 10_000
    # Neighbours of a known id find nothing.
    for guess in [ids[0][:-1] + char for char in "AQgw-_" if char != ids[0][-1]]:
        assert driver.delete(f"/vehicles/{guess}/").status_code == 404
    long_id = "A" * 65
    assert driver.delete(f"/vehicles/{long_id}/").status_code == 404


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "detail"),
        ("ABC1234", "detail"),
        (None, "vehicle"),  # no body at all
        (17, "detail"),
        ({}, "vehicle"),
        ({"vehicle": None}, "vehicle"),
        ({"vehicle": "ABC1234"}, "vehicle"),
        ({"vehicle": ["ABC1234", "NY"]}, "vehicle"),
        ({"plate": "ABC1234", "state": "NY"}, "vehicle"),
        ({"vehicle": {"state": "NY"}}, "plate"),
        ({"vehicle": {"plate": "ABC1234"}}, "state"),
        ({"vehicle": {"plate": None, "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": "ABC1234", "state": None}}, "state"),
        ({"vehicle": {"plate": "ABC1234", "state": "NY", "nickname": None}}, "nickname"),
        ({"vehicle": {"plate": {"x": 1}, "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": ["A"], "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": True, "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": "", "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": "AB&12", "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": "\u0410\u0412\u04211234", "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": "\U0001f697\U0001f697", "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": "ILUVNYC12", "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": "A" * 20_000, "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": "ABC\x001234", "state": "NY"}}, "plate"),
        ({"vehicle": {"plate": "ABC1234", "state": "XX"}}, "state"),
        ({"vehicle": {"plate": "ABC1234", "state": "New York"}}, "state"),
        ({"vehicle": {"plate": "ABC1234", "state": "N" * 20_000}}, "state"),
        ({"vehicle": {"plate": "ABC1234", "state": "NY", "nickname": "n" * 41}}, "nickname"),
    ],
)
def test_bad_input_to_add_is_a_400_naming_the_field(driver, body, field):
    response = driver.post("/vehicles/", body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Vehicle.objects.exists()


def test_a_full_state_name_is_answered_with_its_code(driver):
    response = add(driver, "ABC1234", "New York")

    assert "two-letter code" in response.json()["state"][0]
    assert "NY" in response.json()["state"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "detail"),
        ({}, "vehicle"),
        ({"vehicle": {}}, "nickname"),
        ({"vehicle": {"nickname": None}}, "nickname"),
        ({"vehicle": {"nickname": {"a": 1}}}, "nickname"),
        ({"vehicle": {"nickname": "n" * 10_000}}, "nickname"),
        ({"vehicle": {"nickname": "car\x00"}}, "nickname"),
    ],
)
def test_bad_input_to_rename_is_a_400_naming_the_field(driver, owner, body, field):
    vehicle, _ = vehicle_add(user=owner, plate="ABC1234", state="NY", nickname="Van")

    response = driver.patch(f"/vehicles/{vehicle.public_id}/", body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    vehicle.refresh_from_db()
    assert vehicle.nickname == "Van"


def test_plate_and_state_cannot_be_changed_by_a_rename(driver, owner):
    """A vehicle is its plate: a new plate is a new vehicle, so the list never misleads."""
    vehicle, _ = vehicle_add(user=owner, plate="ABC1234", state="NY")

    response = driver.patch(
        f"/vehicles/{vehicle.public_id}/",
        {"vehicle": {"nickname": "Van", "plate": "XYZ9", "state": "NJ"}},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["plate"], response.json()["state"]) == ("ABC1234", "NY")


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        '{"vehicle": {"plate": "ABC\\ud8001234", "state": "NY"}}',  # a lone surrogate
        '{"vehicle": {"plate": "ABC1234", "state": "NY"}, "vehicle": 1}',
        "[" * 10_000 + "]" * 10_000,
    ],
)
def test_a_body_that_is_no_json_object_is_a_400(driver, raw):
    response = driver.generic("POST", "/vehicles/", raw, content_type="application/json")

    assert response.status_code == 400, response.content
    assert not Vehicle.objects.exists()


def test_the_service_refuses_an_unnormalisable_plate_by_field(owner):
    with pytest.raises(ValidationError) as refused:
        vehicle_add(user=owner, plate="AB&12", state="NY")
    assert set(refused.value.message_dict) == {"plate"}

    with pytest.raises(ValidationError) as refused:
        vehicle_add(user=owner, plate="AB12", state="XX")
    assert set(refused.value.message_dict) == {"state"}


# --- throttles ------------------------------------------------------------------------------


def test_writes_are_throttled_per_account_and_reads_are_not(driver, owner, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"writes": "3/minute"})
    vehicle, _ = vehicle_add(user=owner, plate="ABC1234", state="NY")
    path = f"/vehicles/{vehicle.public_id}/"

    statuses = [
        add(driver, "XYZ1").status_code,
        driver.patch(path, {"vehicle": {"nickname": "a"}}, format="json").status_code,
        add(driver, "XYZ2").status_code,
        add(driver, "XYZ3").status_code,
        driver.delete(path).status_code,
    ]

    assert statuses == [201, 200, 201, 429, 429]
    assert driver.get("/vehicles/").status_code == 200
    # Another token of the same account shares the count; another account has its own.
    assert add(client_of(owner), "XYZ4").status_code == 429
    assert add(client_of(UserFactory()), "XYZ4").status_code == 201


# --- admin ----------------------------------------------------------------------------------


def test_operators_find_vehicles_by_plate_as_people_type_it(owner, admin_client):
    vehicle_add(user=owner, plate="ABC1234", state="NY", nickname="Van")
    vehicle_add(user=UserFactory(), plate="XYZ9", state="NJ")

    found = admin_client.get("/admin/users/vehicle/", {"q": "abc-1234"})
    by_part = admin_client.get("/admin/users/vehicle/", {"q": "abc1"})

    assert found.status_code == by_part.status_code == 200
    for page in (found, by_part):
        assert b"ABC1234" in page.content and b"XYZ9" not in page.content
    assert admin_client.get("/admin/users/vehicle/add/").status_code == 403


def test_the_user_admin_shows_the_persons_vehicles(owner, admin_client):
    vehicle_add(user=owner, plate="ABC1234", state="NY", nickname="Work van")

    page = admin_client.get(f"/admin/users/user/{owner.pk}/change/")

    assert page.status_code == 200
    assert b"ABC1234" in page.content and b"Work van" in page.content


def test_an_operator_removes_a_vehicle_from_the_persons_page(owner, admin_client):
    kept, _ = vehicle_add(user=owner, plate="KEEP1", state="NY")
    removed, _ = vehicle_add(user=owner, plate="DROP1", state="NY")
    url = f"/admin/users/user/{owner.pk}/change/"
    page = admin_client.get(url)
    form, formset = page.context["adminform"].form, page.context["inline_admin_formsets"][0]
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "groups", "user_permissions")
    }
    data.update({"date_joined_0": "2026-01-01", "date_joined_1": "09:00:00"})
    prefix = formset.formset.prefix
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": 2,
            f"{prefix}-INITIAL_FORMS": 2,
            f"{prefix}-0-id": kept.pk,
            f"{prefix}-0-user": owner.pk,
            f"{prefix}-0-nickname": "Renamed",
            f"{prefix}-1-id": removed.pk,
            f"{prefix}-1-user": owner.pk,
            f"{prefix}-1-DELETE": "on",
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    assert list(Vehicle.objects.filter(user=owner).values_list("plate", "nickname")) == [
        ("KEEP1", "Renamed")
    ]
