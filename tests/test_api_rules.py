"""The contract's general rules, checked on the routes that exist."""

import pytest
from rest_framework.throttling import ScopedRateThrottle

from testing.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/sign-in", "/sign-in/"])
def test_routes_answer_with_and_without_slash_without_redirect(api_client, user, path):
    body = {"credentials": {"email": user.email, "password": PASSWORD}}

    response = api_client.post(path, body, format="json")

    assert response.status_code == 201


@pytest.mark.parametrize("path", ["/sign-out", "/sign-out/"])
def test_delete_without_slash_reaches_the_view(signed_in, path):
    assert signed_in.delete(path).status_code == 204


@pytest.mark.parametrize("path", ["/change-pw", "/change-pw/"])
def test_patch_body_survives_both_forms(signed_in, user, path):
    body = {
        "credentials": {
            "email": user.email,
            "password": PASSWORD,
            "new_password": "another-long-password-77",
            "new_password_confirmed": "another-long-password-77",
        }
    }
    assert signed_in.patch(path, body, format="json").status_code == 204


MALFORMED_BODIES = [
    ("not json at all", "application/json"),
    ('{"credentials": ', "application/json"),
    ("[1, 2, 3]", "application/json"),
    ("null", "application/json"),
    ('"a string"', "application/json"),
    ("{}", "application/json"),
    ('{"credentials": null}', "application/json"),
    ('{"credentials": "x"}', "application/json"),
    ('{"credentials": []}', "application/json"),
    ('{"credentials": {}}', "application/json"),
    ('{"credentials": {"email": 1, "password": {"a": 1}}}', "application/json"),
    ('{"credentials": {"email": ["x"], "password": true}}', "application/json"),
    ('{"credentials": {"email": "a@b.co", "password": "' + "x" * 5000 + '"}}', "application/json"),
    ('{"credentials": {"email": "a@b.co", "password": 1e999}}', "application/json"),
    ('{"credentials": {"email": "a@b.co", "password": NaN}}', "application/json"),
    ('{"credentials": {"email": "a@b.co", "password": ' + "9" * 4000 + "}}", "application/json"),
    ('{"credentials": {"email": "\\ud800@b.co", "password": "\\ud800"}}', "application/json"),
    ('{"credentials": {"email": "a\\u0000@b.co", "password": "x\\u0000y"}}', "application/json"),
    (b'{"credentials": {"email": "\xff\xfe@b.co", "password": "p"}}', "application/json"),
    ("email=a@b.co&password=x", "application/x-www-form-urlencoded"),
    ("<xml/>", "text/xml"),
]


@pytest.mark.parametrize("path", ["/sign-up/", "/sign-in/"])
@pytest.mark.parametrize(("body", "content_type"), MALFORMED_BODIES)
def test_malformed_bodies_are_4xx_json(api_client, path, body, content_type):
    response = api_client.generic("POST", path, body, content_type=content_type)

    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()


@pytest.mark.parametrize(("body", "content_type"), MALFORMED_BODIES)
def test_malformed_change_password_bodies_are_4xx_json(signed_in, body, content_type):
    response = signed_in.generic("PATCH", "/change-pw/", body, content_type=content_type)

    assert 400 <= response.status_code < 500, response.content
    assert response.json()


def test_missing_wrapper_is_named(api_client):
    response = api_client.post("/sign-in/", {"email": "a@b.co", "password": "x"}, format="json")

    assert response.status_code == 400
    assert "credentials" in response.json()


def test_unknown_route_is_json_404(api_client):
    response = api_client.get("/no-such-route/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_wrong_method_is_json_405(api_client):
    response = api_client.get("/sign-in/")

    assert response.status_code == 405
    assert "detail" in response.json()


@pytest.fixture
def tight_throttle(monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "3/minute"})


def test_sign_in_is_throttled_per_client_address(api_client, user, tight_throttle):
    body = {"credentials": {"email": user.email, "password": "wrong-password-1"}}
    statuses = [api_client.post("/sign-in/", body, format="json").status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]
    blocked = api_client.post("/sign-in/", body, format="json")
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert "detail" in blocked.json()
    other_address = api_client.post("/sign-in/", body, format="json", REMOTE_ADDR="10.9.8.7")
    assert other_address.status_code == 401


def test_cors_allows_configured_spa_origin(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    response = api_client.options(
        "/sign-in/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )

    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    denied = api_client.options(
        "/sign-in/", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert "Access-Control-Allow-Origin" not in denied


SEARCH = "/available-parking-spots-filter/?lat=40.758&long=-73.9855&unit=km&dist=1"


def test_a_repeated_query_string_is_validated_once_and_answered_alike(api_client, db):
    from secure_my_spot.api import _validated_queries

    _validated_queries.clear()
    # A unit the route's plain fast path leaves to the serializer (availability.areas).
    spelled = SEARCH.replace("unit=km", "unit=KM")
    first = api_client.get(spelled)
    second = api_client.get(spelled)

    assert first.status_code == second.status_code == 200
    assert first.content == second.content == api_client.get(SEARCH).content
    assert len(_validated_queries) == 1
    # Invalid strings are never memoised: each one is answered with its own 400.
    for _ in range(2):
        assert api_client.get(spelled.replace("dist=1", "dist=-1")).status_code == 400
    assert len(_validated_queries) == 1


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*", "nonsense"])
def test_spot_routes_answer_json_whatever_the_accept_header(api_client, db, accept):
    for path in ("/available-parking-spots/", SEARCH):
        response = api_client.get(path, HTTP_ACCEPT=accept)

        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.json() == []
