"""Accounts and their tokens. Tokens are knox's: hashed at rest, one per sign-in."""

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from knox.models import AuthToken

from secure_my_spot.exceptions import ApplicationError
from users.models import User, normalize_email

EMAIL_TAKEN = "An account with this e-mail already exists."


class InvalidCredentials(ApplicationError):
    status_code = 401


def _validate_new_password(*, password: str, user: User, field: str) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc


def auth_token_issue(*, user: User) -> tuple[AuthToken, str]:
    """A fresh token for one device; the key is returned once and only its hash is stored."""
    return AuthToken.objects.create(user=user)


def user_create(*, email: str, password: str) -> User:
    user = User(email=normalize_email(email))
    _validate_new_password(password=password, user=user, field="password")
    user.set_password(password)
    try:
        with transaction.atomic():
            if User.objects.filter(email=user.email).exists():
                raise ValidationError({"email": [EMAIL_TAKEN]})
            user.save()
    except IntegrityError as exc:  # a concurrent sign-up with the same address won
        raise ValidationError({"email": [EMAIL_TAKEN]}) from exc
    return user


def user_sign_in(*, email: str, password: str) -> tuple[User, AuthToken, str]:
    user = authenticate(username=normalize_email(email), password=password)
    if user is None:
        raise InvalidCredentials("Invalid e-mail or password.")
    token, key = auth_token_issue(user=user)
    return user, token, key


def user_sign_out(*, token: AuthToken) -> None:
    token.delete()


def user_change_password(
    *, user: User, current_token: AuthToken, email: str, password: str, new_password: str
) -> None:
    """Change the password and revoke every token but the one making the request."""
    if normalize_email(email) != user.email:
        raise ValidationError({"email": ["This is not the e-mail of the signed-in account."]})
    if not user.check_password(password):
        raise ValidationError({"password": ["The current password is incorrect."]})
    _validate_new_password(password=new_password, user=user, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        AuthToken.objects.filter(user=user).exclude(digest=current_token.digest).delete()
