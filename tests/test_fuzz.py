"""Property-based fuzzing of every documented route: no input may produce a 5xx.

schemathesis generates bodies, paths and query strings from the OpenAPI schema (and
mutations that break it) and sends them through the real WSGI application and database.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.throttling import ScopedRateThrottle
from schemathesis.checks import not_a_server_error

from testing.factories import PASSWORD, ParkingSpotFactory, UserFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def _keep_test_connection():
    """As Django's test client does: requests must not close the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, monkeypatch, localstripe, _keep_test_connection) -> str:
    """A signed-in account, spots to book, Stripe, and throttles out of the fuzzer's way."""
    from users.services import auth_token_issue

    monkeypatch.setattr(
        ScopedRateThrottle, "THROTTLE_RATES", dict.fromkeys(ScopedRateThrottle.THROTTLE_RATES)
    )
    ParkingSpotFactory.create_batch(3)
    return auth_token_issue(user=UserFactory(password=PASSWORD))[1]


@schema.exclude(path_regex="^/sign-out/$").parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
@pytest.mark.django_db
def test_no_input_causes_a_server_error(case, token):
    response = case.call(headers={"Authorization": f"Token {token}"})

    case.validate_response(response, checks=[not_a_server_error])
