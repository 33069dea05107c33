"""E-mail verification, proven addresses and password reset: the happy paths."""

import re

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from testing.factories import PASSWORD, UserFactory
from users.models import ProvenEmail, User
from users.selectors import (
    email_is_proven,
    sign_in_backoff_keys,
    sign_in_retry_after,
    user_may_book,
)
from users.services import email_mark_proven

pytestmark = pytest.mark.django_db

FRONTEND = "https://app.example.com"
NEW_PASSWORD = "a-fresh-long-passphrase-31"


@pytest.fixture(autouse=True)
def _frontend(settings):
    settings.FRONTEND_BASE_URL = FRONTEND


def mailed_token(message, page: str) -> str:
    match = re.search(rf"{re.escape(FRONTEND)}/{page}/(\S+)", message.body)
    assert match, message.body
    assert match.group(0) in message.alternatives[0][0]
    return match.group(1)


def sign_up(client, email="new.driver@example.com"):
    credentials = {"email": email, "password": PASSWORD, "password_confirmation": PASSWORD}
    return client.post("/sign-up/", {"credentials": credentials}, format="json")


def test_sign_up_mails_a_link_and_following_it_verifies(
    api_client, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(api_client)

    assert response.status_code == 201
    assert response.json()["email_verified"] is False
    assert [m.to for m in outbox.deliver()] == [["new.driver@example.com"]]
    assert outbox.deliver()[0].subject == "Confirm your e-mail address"
    assert "3 days" in outbox.deliver()[0].body
    token = mailed_token(outbox.deliver()[0], "verify-email")
    assert not email_is_proven(email="New.Driver@example.com")

    verified = APIClient().post("/verify-email", {"token": token}, format="json")

    assert verified.status_code == 204
    user = User.objects.get(email="new.driver@example.com")
    assert user.email_verified_at is not None
    assert email_is_proven(email="NEW.driver@example.com")
    assert ProvenEmail.objects.filter(email="new.driver@example.com").exists()
    signed_in = APIClient().post(
        "/sign-in/",
        {"credentials": {"email": user.email, "password": PASSWORD}},
        format="json",
    )
    assert signed_in.json()["email_verified"] is True


def test_without_frontend_the_mail_carries_the_code(
    api_client, settings, outbox, django_capture_on_commit_callbacks
):
    settings.FRONTEND_BASE_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(api_client)

    body = outbox.deliver()[0].body
    token = re.search(r"POST /verify-email/\):\n(\S+)", body).group(1)
    assert "http" not in body
    assert APIClient().post("/verify-email/", {"token": token}, format="json").status_code == 204


def test_resend_mails_a_new_working_link(
    signed_in, user, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post("/resend-verification/")

    assert response.status_code == 204
    assert [m.to for m in outbox.deliver()] == [[user.email]]
    token = mailed_token(outbox.deliver()[0], "verify-email")
    assert APIClient().post("/verify-email/", {"token": token}, format="json").status_code == 204
    again = signed_in.post("/resend-verification")
    assert again.status_code == 409
    assert "detail" in again.json()


def test_resend_needs_a_token(api_client):
    assert api_client.post("/resend-verification/").status_code == 401


def test_password_reset_mails_a_link_that_sets_the_password(
    api_client, user, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/password-reset", {"email": user.email.upper()}, format="json")

    assert response.status_code == 204
    assert [m.to for m in outbox.deliver()] == [[user.email]]
    assert "1 hour" in outbox.deliver()[0].body
    token = mailed_token(outbox.deliver()[0], "password-reset")

    body = {"token": token, "new_password": NEW_PASSWORD, "new_password_confirmed": NEW_PASSWORD}
    confirmed = api_client.post("/password-reset/confirm", body, format="json")

    assert confirmed.status_code == 204
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    # The link reached the owner of the address: that proves it.
    assert user.email_verified and email_is_proven(email=user.email)
    sign_in = {"credentials": {"email": user.email, "password": NEW_PASSWORD}}
    assert api_client.post("/sign-in/", sign_in, format="json").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"new_password_confirmed": "something-else-entirely"}, "new_password_confirmed"),
        ({"token": "1-garbage-token"}, "token"),
        ({"token": "zzzzzzzzzzzzzzzzzzzzzzzzzz-x"}, "token"),
        ({"token": ""}, "token"),
    ],
)
def test_reset_confirm_rejections_name_the_field(api_client, user, body, field):
    request = {"token": "1-x", "new_password": NEW_PASSWORD, "new_password_confirmed": NEW_PASSWORD}

    response = api_client.post("/password-reset/confirm/", {**request, **body}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_sign_in_success_clears_the_failures(api_client, user, settings):
    settings.SIGN_IN_BACKOFF_FAILURES = 3
    wrong = {"credentials": {"email": user.email, "password": "not-the-password-1"}}
    right = {"credentials": {"email": user.email, "password": PASSWORD}}

    for _ in range(2):
        assert api_client.post("/sign-in/", wrong, format="json").status_code == 401
    assert api_client.post("/sign-in/", right, format="json").status_code == 201
    for _ in range(2):
        assert api_client.post("/sign-in/", wrong, format="json").status_code == 401
    assert api_client.post("/sign-in/", right, format="json").status_code == 201


def test_backoff_grows_with_each_failure_after_the_limit(api_client, user, settings):
    settings.SIGN_IN_BACKOFF_FAILURES = 2
    settings.SIGN_IN_BACKOFF_BASE_SECONDS = 1
    wrong = {"credentials": {"email": user.email, "password": "not-the-password-1"}}
    assert api_client.post("/sign-in/", wrong, format="json").status_code == 401
    assert api_client.post("/sign-in/", wrong, format="json").status_code == 401
    assert sign_in_retry_after(email=user.email) == 1
    cache.delete(sign_in_backoff_keys(email=user.email)[1])  # the lock ran out
    assert api_client.post("/sign-in/", wrong, format="json").status_code == 401
    assert sign_in_retry_after(email=user.email) == 2


def test_email_mark_proven_is_idempotent_and_normalised():
    email_mark_proven(email="Guest@Example.com")
    first = ProvenEmail.objects.get().proven_at
    email_mark_proven(email="guest@example.com ")

    assert ProvenEmail.objects.get().proven_at == first
    assert email_is_proven(email="GUEST@example.com")
    assert not email_is_proven(email="other@example.com")


def test_an_unverified_account_does_not_prove_its_email():
    UserFactory(email="typed@example.com")

    assert not email_is_proven(email="typed@example.com")


def test_user_may_book_follows_the_setting(settings):
    user = UserFactory()

    assert user_may_book(user)
    settings.UNVERIFIED_ACCOUNTS_MAY_BOOK = False
    assert not user_may_book(user)
    user.email_verified_at = user.date_joined
    assert user_may_book(user)
