"""Accounts (users app): passwords, e-mail verification, the sign-in backoff."""

from secure_my_spot.settings.core import env

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
EMAIL_VERIFICATION_TIMEOUT = int(env.float("EMAIL_VERIFICATION_DAYS", default=3) * 86400)
# Django's own setting: how long a password-reset link works.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", default=3600)
# Whether an account may book before its e-mail is verified (users.selectors.user_may_book).
# True keeps today's sign-up-then-book flow working.
UNVERIFIED_ACCOUNTS_MAY_BOOK = env.bool("UNVERIFIED_ACCOUNTS_MAY_BOOK", default=True)
# Sign-in backoff per e-mail, whatever the client address: from the Nth failure within the
# window, each failure locks the address for BASE x 2^k seconds, up to MAX.
SIGN_IN_BACKOFF_FAILURES = env.int("SIGN_IN_BACKOFF_FAILURES", default=5)
SIGN_IN_BACKOFF_WINDOW_SECONDS = env.int("SIGN_IN_BACKOFF_WINDOW_SECONDS", default=900)
SIGN_IN_BACKOFF_BASE_SECONDS = env.int("SIGN_IN_BACKOFF_BASE_SECONDS", default=60)
SIGN_IN_BACKOFF_MAX_SECONDS = env.int("SIGN_IN_BACKOFF_MAX_SECONDS", default=3600)
# The most vehicles (plates) one account keeps, as ParkNYC allows: a booked plate beyond it
# is not remembered, and adding one is a 409.
VEHICLES_PER_ACCOUNT = env.int("VEHICLES_PER_ACCOUNT", default=5)
