import pytest
from rest_framework.test import APIClient

from enforcement.models import Scope
from enforcement.services import IssuedKey, enforcement_key_create

COVERAGE = "/enforcement/coverage/"


@pytest.fixture
def issued(db) -> IssuedKey:
    return enforcement_key_create(
        name="NYPD Traffic, Midtown", scopes=[Scope.COVERAGE], created_by=None
    )


@pytest.fixture
def agent(issued) -> APIClient:
    """An enforcement client sending its key as the route documents it."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Key {issued.clear}")
    return client
