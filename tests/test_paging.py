"""Lists that grow with history page when asked; without parameters, the contract's array."""

import pytest
from rest_framework.test import APIClient

from reservations.models import ReservationStatus as S
from testing.factories import ReservationFactory, UserFactory
from users.services import auth_token_issue, vehicle_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def driver(owner) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {auth_token_issue(user=owner)[1]}")
    return client


@pytest.fixture
def history(owner) -> list[str]:
    """Five billed reservations, newest first as the list orders them."""
    made = [ReservationFactory(status=S.PAID, user=owner, email=owner.email) for _ in range(5)]
    return [r.public_id for r in sorted(made, key=lambda r: (r.end_time, r.pk), reverse=True)]


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def test_without_parameters_the_past_list_is_the_bare_array(driver, history):
    answer = driver.get("/expired-reservations-auth/")
    assert answer.status_code == 200
    assert isinstance(answer.json(), list)
    assert sorted(ids(answer.json())) == sorted(history)


def test_limit_and_offset_page_the_past_list(driver, history):
    everything = ids(driver.get("/expired-reservations-auth/").json())

    first = driver.get("/expired-reservations-auth/?limit=2").json()
    second = driver.get("/expired-reservations-auth/?limit=2&offset=2").json()
    last = driver.get("/expired-reservations-auth?limit=2&offset=4").json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert (first["count"], first["previous"]) == (5, None)
    assert "limit=2" in first["next"] and "offset=2" in first["next"]
    assert ids(first["results"]) + ids(second["results"]) + ids(last["results"]) == everything
    assert last["next"] is None and last["previous"] is not None


def test_offset_alone_pages_with_the_largest_page(driver, history):
    page = driver.get("/expired-reservations-auth/?offset=3").json()
    assert (page["count"], len(page["results"])) == (5, 2)


def test_a_limit_over_the_maximum_is_lowered_to_it(driver, history):
    page = driver.get("/expired-reservations-auth/?limit=100000&offset=1").json()
    assert (len(page["results"]), page["next"]) == (4, None)
    assert "limit=100&" in page["previous"] or page["previous"].endswith("limit=100")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("offset=99999999999999999999999", "offset"),
        ("limit=1e3", "limit"),
    ],
)
def test_a_bad_limit_or_offset_is_a_400_naming_it(driver, history, query, field):
    answer = driver.get(f"/expired-reservations-auth/?{query}")
    assert answer.status_code == 400
    assert field in answer.json()


def test_the_vehicle_list_pages_the_same_way(driver, owner):
    for plate in ("AAA1111", "BBB2222", "CCC3333"):
        vehicle_add(user=owner, plate=plate, state="NY", nickname="")

    bare = driver.get("/vehicles/").json()
    page = driver.get("/vehicles/?limit=2&offset=1").json()

    assert [v["plate"] for v in bare] == ["AAA1111", "BBB2222", "CCC3333"]
    assert page["count"] == 3
    assert [v["plate"] for v in page["results"]] == ["BBB2222", "CCC3333"]
    assert driver.get("/vehicles/?limit=nope").status_code == 400


def test_paging_is_the_owners_only(history):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {auth_token_issue(user=UserFactory())[1]}")
    assert other.get("/expired-reservations-auth/?limit=10").json()["count"] == 0
    assert APIClient().get("/expired-reservations-auth/?limit=10").status_code == 401
