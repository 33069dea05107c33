"""The opaque tokens mailed to an address: e-mail verification and password reset.

Both are signed with SECRET_KEY and carry their own age, so nothing is stored; each one dies
with the state it was issued for (the account verified, the password changed), which makes it
single-use.
"""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.utils.crypto import salted_hmac
from django.utils.http import base36_to_int, int_to_base36

from secure_my_spot.locking import row_lock
from users.models import User

VERIFY_EMAIL_SALT = "users.verify-email"


def _email_fingerprint(email: str) -> str:
    """Binds a token to the address without putting the address in it (tokens end up in URLs
    and logs)."""
    return salted_hmac(VERIFY_EMAIL_SALT, email, algorithm="sha256").hexdigest()[:24]


def verification_token_make(*, user: User) -> str:
    return signing.dumps([user.pk, _email_fingerprint(user.email)], salt=VERIFY_EMAIL_SALT)


def verification_token_read(*, token: str) -> tuple[int, str] | None:
    """(user id, e-mail fingerprint) of a genuine, unexpired token; None otherwise."""
    try:
        user_id, fingerprint = signing.loads(
            token, salt=VERIFY_EMAIL_SALT, max_age=settings.EMAIL_VERIFICATION_TIMEOUT
        )
    except (signing.BadSignature, TypeError, ValueError):
        return None
    if not isinstance(user_id, int) or not isinstance(fingerprint, str):
        return None
    return user_id, fingerprint


def verification_token_matches(*, user: User, fingerprint: str) -> bool:
    return fingerprint == _email_fingerprint(user.email)


def password_reset_token_make(*, user: User) -> str:
    """`<user id base 36>-<Django's reset token>`: one string for the client to pass back.

    Django's token expires after PASSWORD_RESET_TIMEOUT and hashes the password and last
    login, so it is void once the password has changed.
    """
    return f"{int_to_base36(user.pk)}-{default_token_generator.make_token(user)}"


def password_reset_token_user(*, token: str) -> User | None:
    """The active account a valid reset token belongs to, locked until the transaction ends
    (two uses of one token are serialised: the second sees the new password); None for
    anything else."""
    uid, _, user_token = token.partition("-")
    try:
        user_id = base36_to_int(uid)
    except ValueError:
        return None
    user = row_lock(User.objects.filter(pk=user_id, is_active=True))
    if user is None or not default_token_generator.check_token(user, user_token):
        return None
    return user
