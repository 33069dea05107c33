import factory.random
import pytest
from django.core import mail
from django.core.cache import cache
from rest_framework.test import APIClient

from outbox.models import OutboundEmail
from outbox.services import email_send
from secure_my_spot.process_role import process_role_declare
from testing.factories import PASSWORD, UserFactory

pytest_plugins = ["tests.browser", "tests.localstripe", "tests.workers"]


@pytest.fixture(scope="session", autouse=True)
def _same_made_up_values():
    """The factories' Faker values follow one seed: the same tests in the same order get the
    same values, so a failure that one of them caused repeats."""
    factory.random.reseed_random("secure-my-spot")


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
def admin_client(client):
    """An operator signed in to the admin (pytest-django's own assumes a username field)."""
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


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


class Outbox:
    """The e-mails a test's changes queued, sent as the workers send them."""

    def deliver(self) -> list[mail.EmailMessage]:
        """Send every unsent e-mail now (a due retry or not) and return all mail sent so far
        in this test (locmem)."""
        for pk in OutboundEmail.objects.filter(sent_at__isnull=True).values_list("pk", flat=True):
            email_send(email_id=pk)
        return mail.outbox


@pytest.fixture
def outbox(mailoutbox) -> Outbox:
    return Outbox()


@pytest.fixture
def mail_server_down(settings) -> None:
    """SMTP to a closed port: every send fails, as when the mail server is down."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
