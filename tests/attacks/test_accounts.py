"""Attacks on accounts (issue 12), each tried with the default settings.

Before the change: change-pw and the admin login answered every guess, one account could be
guessed from many addresses, "Parking1" was a password, there was no reset or verification,
and the docs loaded swagger-ui from a CDN with no CSP.
"""

import re

import pytest
from django.conf import settings
from django.core import signing
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from testing.factories import PASSWORD, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-fresh-long-passphrase-31"


def code_in(message) -> str:
    """The token of an account mail sent without FRONTEND_BASE_URL (the default)."""
    return re.search(r"\):\n(\S+)", message.body).group(1)


def policy(response) -> dict[str, list[str]]:
    directives = (d.split() for d in response["Content-Security-Policy"].split(";"))
    return {name: sources for name, *sources in directives}


def sign_in(client, email, password, address):
    body = {"credentials": {"email": email, "password": password}}
    return client.post("/sign-in/", body, format="json", REMOTE_ADDR=address)


def test_change_pw_is_no_password_oracle(signed_in, user):
    """A stolen token must not let its holder guess the password behind it."""
    rate = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["password_change"].split("/")[0])
    body = {
        "credentials": {
            "email": user.email,
            "new_password": NEW_PASSWORD,
            "new_password_confirmed": NEW_PASSWORD,
        }
    }

    for guess in range(rate):
        body["credentials"]["password"] = f"guess-number-{guess}-wrong"
        assert signed_in.patch("/change-pw/", body, format="json").status_code == 400

    body["credentials"]["password"] = PASSWORD
    blocked = signed_in.patch("/change-pw/", body, format="json", REMOTE_ADDR="10.1.1.1")
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize("known", [True, False], ids=["known-account", "unknown-email"])
def test_guessing_one_account_from_many_addresses_is_backed_off(api_client, known):
    email = UserFactory(password=PASSWORD).email if known else "nobody@example.com"
    limit = settings.SIGN_IN_BACKOFF_FAILURES

    statuses = [
        sign_in(api_client, email, f"guess-{n}-wrong", f"10.0.0.{n}").status_code
        for n in range(limit)
    ]
    assert statuses == [401] * limit

    # Every further try is refused before the password is checked, the right one included,
    # from an address never seen before; an unknown e-mail gets exactly the same.
    blocked = sign_in(api_client, email, PASSWORD, "10.0.1.1")
    assert blocked.status_code == 429
    assert 0 < int(blocked["Retry-After"]) <= settings.SIGN_IN_BACKOFF_BASE_SECONDS
    assert "detail" in blocked.json()
    # Other accounts are not affected.
    other = UserFactory(password=PASSWORD)
    assert sign_in(api_client, other.email, PASSWORD, "10.0.1.1").status_code == 201


def test_admin_login_locks_out_after_repeated_failures():
    operator = User.objects.create_superuser("operator@example.com", "an-operator-secret-1")
    client = Client(REMOTE_ADDR="10.2.2.2")
    login = f"/{settings.ADMIN_URL}login/"

    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(login, {"username": operator.email, "password": f"wrong-{n}"})
        assert response.status_code == 200  # the form again, with its error
    last = client.post(login, {"username": operator.email, "password": "wrong-again"})
    assert last.status_code == 429

    # Now even the right password, in any case of the e-mail, is refused.
    right = {"username": "Operator@Example.com", "password": "an-operator-secret-1"}
    locked = client.post(login, right)
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    assert "detail" in locked.json()
    assert "_auth_user_id" not in client.session
    # The API's sign-in is not axes' business: the operator's token still comes.
    api = sign_in(APIClient(), operator.email, "an-operator-secret-1", "10.2.2.2")
    assert api.status_code == 201


@pytest.mark.parametrize("route", ["sign-up", "change-pw", "password-reset/confirm"])
def test_a_weak_password_is_refused(
    api_client, signed_in, user, route, outbox, django_capture_on_commit_callbacks
):
    weak = "Parking1"
    if route == "sign-up":
        body = {"credentials": {"email": "new@example.com", "password": weak}}
        body["credentials"]["password_confirmation"] = weak
        response, field = APIClient().post("/sign-up/", body, format="json"), "password"
        assert not User.objects.filter(email="new@example.com").exists()
    elif route == "change-pw":
        body = {"email": user.email, "password": PASSWORD, "new_password": weak}
        body["new_password_confirmed"] = weak
        response = signed_in.patch("/change-pw/", {"credentials": body}, format="json")
        field = "new_password"
    else:
        with django_capture_on_commit_callbacks(execute=True):
            APIClient().post("/password-reset/", {"email": user.email}, format="json")
        body = {"token": code_in(outbox.deliver()[0]), "new_password": weak}
        body["new_password_confirmed"] = weak
        response = APIClient().post("/password-reset/confirm/", body, format="json")
        field = "new_password"

    assert response.status_code == 400
    assert field in response.json()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_reset_for_an_unknown_email_answers_like_a_known_one(
    user, outbox, django_capture_on_commit_callbacks
):
    def ask(email):
        with django_capture_on_commit_callbacks(execute=True):
            response = APIClient().post("/password-reset/", {"email": email}, format="json")
        # Every answer has its own request id; all else must match.
        headers = {k: v for k, v in response.headers.items() if k != "X-Request-ID"}
        return response.status_code, response.content, sorted(headers.items())

    assert ask(user.email) == ask("nobody@example.com")
    assert [m.to for m in outbox.deliver()] == [[user.email]]
    # The per-e-mail throttle, too, treats both alike.
    limit = int(
        settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["password_reset_email"].split("/")[0]
    )
    for email in (user.email, "nobody@example.com"):
        statuses = [
            APIClient()
            .post("/password-reset/", {"email": email}, format="json", REMOTE_ADDR=f"10.3.0.{n}")
            .status_code
            for n in range(limit)
        ]
        assert statuses[-1] == 429


def test_a_reset_token_works_once_and_revokes_every_session(
    api_client, user, outbox, django_capture_on_commit_callbacks
):
    stolen = sign_in(APIClient(), user.email, PASSWORD, "10.4.0.1").json()["token"]
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post("/password-reset/", {"email": user.email}, format="json")
    body = {
        "token": code_in(outbox.deliver()[0]),
        "new_password": NEW_PASSWORD,
        "new_password_confirmed": NEW_PASSWORD,
    }

    assert api_client.post("/password-reset/confirm/", body, format="json").status_code == 204
    body["new_password"] = body["new_password_confirmed"] = "an-attackers-passphrase-9"
    again = api_client.post("/password-reset/confirm/", body, format="json")

    assert again.status_code == 400
    assert "token" in again.json()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not AuthToken.objects.filter(user=user).exists()
    old_session = APIClient()
    old_session.credentials(HTTP_AUTHORIZATION=f"Token {stolen}")
    assert old_session.delete("/sign-out/").status_code == 401


def test_an_expired_reset_token_fails(
    api_client, user, settings, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post("/password-reset/", {"email": user.email}, format="json")
    settings.PASSWORD_RESET_TIMEOUT = -1
    body = {"token": code_in(outbox.deliver()[0]), "new_password": NEW_PASSWORD}
    body["new_password_confirmed"] = NEW_PASSWORD

    response = api_client.post("/password-reset/confirm/", body, format="json")

    assert response.status_code == 400
    assert "token" in response.json()


@pytest.fixture
def verification_token(api_client, outbox, django_capture_on_commit_callbacks) -> str:
    credentials = {"email": "fresh@example.com", "password": PASSWORD}
    credentials["password_confirmation"] = PASSWORD
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post("/sign-up/", {"credentials": credentials}, format="json")
    return code_in(outbox.deliver()[0])


def _verify(token):
    return APIClient().post("/verify-email/", {"token": token}, format="json")


@pytest.mark.parametrize("how", ["tampered", "forged", "expired", "used-twice"])
def test_a_bad_verification_token_is_a_400(verification_token, settings, how):
    token = verification_token
    if how == "tampered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif how == "forged":
        user = User.objects.get(email="fresh@example.com")
        token = signing.dumps([user.pk, "0" * 24], salt="users.verify-email", key="not-ours")
    elif how == "expired":
        settings.EMAIL_VERIFICATION_TIMEOUT = -1
    else:
        assert _verify(token).status_code == 204

    response = _verify(token)

    assert response.status_code == 400
    assert "token" in response.json()
    if how != "used-twice":
        assert not User.objects.get(email="fresh@example.com").email_verified


@pytest.mark.parametrize("path", ["/api/docs/", "/api/docs/?script="])
def test_docs_load_nothing_from_a_cdn_and_carry_a_csp(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 200
    page = response.content.decode()
    assert "cdn" not in page.lower() and "@latest" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert policy(response)["script-src"] == ["'self'"]
    if path == "/api/docs/":
        for asset in re.findall(r"""(?:src|href)="([^"]+)\"""", page):
            assert asset.startswith("/"), asset
            assert api_client.get(asset).status_code == 200, asset
        assert "<script>" not in page  # no inline script: the CSP forbids them


def test_admin_login_page_carries_a_csp():
    response = Client().get(f"/{settings.ADMIN_URL}login/")

    assert response.status_code == 200
    csp = policy(response)
    assert csp["default-src"] == csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
