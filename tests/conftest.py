import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from secure_my_spot.process_role import process_role_declare
from tests.factories import UserFactory

pytest_plugins = ["tests.browser", "tests.localstripe", "tests.workers"]

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _clean_cache():
    """Throttle counters live in the (real, test-only) Redis database: start each test at zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_process_role():
    """Importing wsgi or asgi declares the web role for the whole process (its database and
    Stripe waits): keep that to the test that did it."""
    yield
    process_role_declare(role=None)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory(password=PASSWORD)


@pytest.fixture
def signed_in(api_client, user):
    """A client carrying a token from the real sign-in route."""
    response = api_client.post(
        "/sign-in/", {"credentials": {"email": user.email, "password": PASSWORD}}, format="json"
    )
    assert response.status_code == 201, response.content
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    api_client.token = response.json()["token"]
    return api_client
