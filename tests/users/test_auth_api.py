from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework.test import APIClient

from testing.factories import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-much-longer-new-secret-42"


def sign_up(client, email="New.Driver@Example.com", password=PASSWORD, confirmation=None):
    body = {
        "credentials": {
            "email": email,
            "password": password,
            "password_confirmation": password if confirmation is None else confirmation,
        }
    }
    return client.post("/sign-up/", body, format="json")


def sign_in(client, email, password=PASSWORD):
    return client.post(
        "/sign-in/", {"credentials": {"email": email, "password": password}}, format="json"
    )


def change_pw(client, email, password=PASSWORD, new=NEW_PASSWORD, confirmed=None):
    body = {
        "credentials": {
            "email": email,
            "password": password,
            "new_password": new,
            "new_password_confirmed": new if confirmed is None else confirmed,
        }
    }
    return client.patch("/change-pw/", body, format="json")


def test_sign_up_creates_normalised_user_and_signs_in(api_client):
    response = sign_up(api_client)

    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"id", "email", "token"}
    assert body["email"] == "new.driver@example.com"
    user = User.objects.get(pk=body["id"])
    assert user.email == "new.driver@example.com"
    assert user.check_password(PASSWORD)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api_client.delete("/sign-out/").status_code == 204


def test_sign_up_email_taken_case_insensitively(api_client, user):
    response = sign_up(api_client, email=user.email.upper())

    assert response.status_code == 400
    assert "email" in response.json()
    assert User.objects.count() == 1


def test_sign_up_confirmation_mismatch_names_the_field(api_client):
    response = sign_up(api_client, confirmation="something-else-entirely")

    assert response.status_code == 400
    assert list(response.json()) == ["password_confirmation"]
    assert not User.objects.exists()


@pytest.mark.parametrize("weak", ["short", "12345678901", "password123"])
def test_sign_up_runs_password_validators(api_client, weak):
    response = sign_up(api_client, password=weak)

    assert response.status_code == 400
    assert "password" in response.json()


def test_sign_in_returns_token_and_expiry(api_client, user):
    before = timezone.now()
    response = sign_in(api_client, user.email.title())

    assert response.status_code == 201
    body = response.json()
    assert body["id"] == user.id and body["email"] == user.email
    expires_at = timezone.datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(hours=24) <= expires_at <= timezone.now() + timedelta(hours=24)


def test_tokens_are_hashed_at_rest_one_per_device(api_client, user):
    first = sign_in(api_client, user.email).json()["token"]
    second = sign_in(api_client, user.email).json()["token"]

    assert first != second
    digests = set(AuthToken.objects.filter(user=user).values_list("digest", flat=True))
    assert len(digests) == 2
    assert first not in digests and second not in digests


@pytest.mark.parametrize(
    ("email", "password"),
    [("driver@example.com", "wrong-password-here"), ("nobody@example.com", PASSWORD)],
)
def test_sign_in_with_bad_credentials_is_401(api_client, user, email, password):
    response = sign_in(api_client, email if "nobody" in email else user.email, password)

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid e-mail or password."}


def test_sign_out_revokes_only_that_token(api_client, user):
    phone = sign_in(api_client, user.email).json()["token"]
    laptop = sign_in(api_client, user.email).json()["token"]

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {phone}")
    assert api_client.delete("/sign-out/").status_code == 204
    assert api_client.delete("/sign-out/").status_code == 401

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {laptop}")
    assert api_client.delete("/sign-out/").status_code == 204


@pytest.mark.parametrize(
    "header", [None, "Token", "Token abc def", "Token " + "0" * 64, "Bearer xyz", "Token \xff\xfe"]
)
def test_bad_or_missing_token_is_401_json(api_client, header):
    if header is not None:
        api_client.credentials(HTTP_AUTHORIZATION=header)

    response = api_client.delete("/sign-out/")

    assert response.status_code == 401
    assert "detail" in response.json()


def test_change_password_revokes_other_tokens_keeps_current(signed_in, api_client, user):
    other = sign_in(APIClient(), user.email).json()["token"]

    response = change_pw(signed_in, user.email)

    assert response.status_code == 204
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert AuthToken.objects.filter(user=user).count() == 1
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Token {other}")
    assert other_client.delete("/sign-out/").status_code == 401
    assert signed_in.delete("/sign-out/").status_code == 204
    assert sign_in(APIClient(), user.email, NEW_PASSWORD).status_code == 201


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"password": "not-my-current-password"}, "password"),
        ({"confirmed": "different-new-password-99"}, "new_password_confirmed"),
        ({"new": "123"}, "new_password"),
        ({"email": "someone.else@example.com"}, "email"),
    ],
)
def test_change_password_rejections_name_the_field(signed_in, user, kwargs, field):
    response = change_pw(signed_in, kwargs.pop("email", user.email), **kwargs)

    assert response.status_code == 400
    assert field in response.json()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_change_password_requires_token(api_client, user):
    assert change_pw(api_client, user.email).status_code == 401


def _age_token(key: str, *, created_ago: timedelta, expires_in: timedelta) -> AuthToken:
    token = AuthToken.objects.get(token_key=key[:15])
    now = timezone.now()
    AuthToken.objects.filter(pk=token.pk).update(created=now - created_ago, expiry=now + expires_in)
    return AuthToken.objects.get(pk=token.pk)


def test_expired_token_is_rejected_and_deleted(api_client, user):
    key = sign_in(api_client, user.email).json()["token"]
    _age_token(key, created_ago=timedelta(hours=25), expires_in=timedelta(seconds=-1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert api_client.delete("/sign-out/").status_code == 401
    assert not AuthToken.objects.filter(user=user).exists()


def test_token_in_use_slides_forward(api_client, user):
    key = sign_in(api_client, user.email).json()["token"]
    _age_token(key, created_ago=timedelta(hours=23), expires_in=timedelta(hours=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert change_pw(api_client, user.email).status_code == 204

    token = AuthToken.objects.get(token_key=key[:15])
    assert token.expiry > timezone.now() + timedelta(hours=23)


def test_renewal_stops_at_absolute_maximum(api_client, user):
    key = sign_in(api_client, user.email).json()["token"]
    max_ttl = knox_settings.AUTO_REFRESH_MAX_TTL
    token = _age_token(key, created_ago=max_ttl - timedelta(hours=2), expires_in=timedelta(hours=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert change_pw(api_client, user.email).status_code == 204
    token.refresh_from_db()
    assert abs((token.expiry - (token.created + max_ttl)).total_seconds()) < 1

    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert api_client.delete("/sign-out/").status_code == 401
