"""Settings from the environment (12-factor); `.env.example` documents every variable.

Development gets working defaults for the local services; nothing secret has a default
outside DEBUG.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "corsheaders",
    "drf_spectacular",
    "users",
    "parking_spots",
    "reservations",
    "payments",
    "tasks",
    "availability",
    "secure_my_spot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "secure_my_spot.urls"
WSGI_APPLICATION = "secure_my_spot.wsgi.application"
ASGI_APPLICATION = "secure_my_spot.asgi.application"

# Every route answers with and without its trailing slash itself; a redirect would drop
# PATCH and DELETE bodies.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/secure_my_spot"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sms",
    }
}

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
# What people read (e-mails, the admin's notes) is in New York time.
DISPLAY_TIME_ZONE = "America/New_York"

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["users.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["secure_my_spot.api.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "secure_my_spot.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": env.str("THROTTLE_AUTH_RATE", default="20/minute"),
        "guest": env.str("THROTTLE_GUEST_RATE", default="60/minute"),
    },
    # Proxies in front of gunicorn (1 behind the nginx of the deploy stack). 0 trusts no
    # X-Forwarded-For, so a client cannot choose its own throttle bucket.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Secure My Spot API",
    "DESCRIPTION": "Find, reserve and pay for on-street parking in New York City.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["secure_my_spot.api.schema_paths_without_optional_slash"],
}

REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.float("TOKEN_TTL_HOURS", default=24)),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(days=env.float("TOKEN_MAX_TTL_DAYS", default=30)),
    "MIN_REFRESH_INTERVAL": 60,
    "AUTH_HEADER_PREFIX": "Token",
}

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- E-mail ----------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Secure My Spot <no-reply@localhost>")

# --- Celery ----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="redis://127.0.0.1:6379/1")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="secure_my_spot")
# A message is acknowledged only once its task has run, and one is taken at a time: a
# worker that dies hands its message back to the broker instead of losing it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Publisher confirms: enqueueing returns only once RabbitMQ has the (persistent) message.
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_TASK_PUBLISH_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
CELERY_RESULT_EXPIRES = timedelta(days=1)
# Due work (reservations to end and charge, holds to cancel, reminders) is found in the
# database by this beat task, so nothing waits in the broker for hours.
DUE_WORK_INTERVAL_SECONDS = env.float("DUE_WORK_INTERVAL_SECONDS", default=10.0)
# A claimed row whose work did not finish (worker died) is claimed again after this.
DUE_WORK_CLAIM_TIMEOUT_SECONDS = env.int("DUE_WORK_CLAIM_TIMEOUT_SECONDS", default=120)
DUE_WORK_BATCH_SIZE = env.int("DUE_WORK_BATCH_SIZE", default=500)
# Minutes before the end to remind the driver; 0 turns reminders off.
RESERVATION_REMINDER_MINUTES = env.int("RESERVATION_REMINDER_MINUTES", default=10)
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-work": {
        "task": "tasks.dispatch_due_work",
        "schedule": DUE_WORK_INTERVAL_SECONDS,
        # A dispatch that waited longer than its interval is superseded by the next one.
        "options": {"expires": DUE_WORK_INTERVAL_SECONDS},
    },
}

# --- Stripe ----------------------------------------------------------------------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")

# --- Logging ---------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Reservations ----------------------------------------------------------------------
# Longest reservation (a spot's own meter limit can lower it), in minutes.
RESERVATION_MAX_MINUTES = env.int("RESERVATION_MAX_MINUTES", default=24 * 60)
# How long a new reservation holds its spot while the client enters card details.
RESERVATION_HOLD_MINUTES = env.int("RESERVATION_HOLD_MINUTES", default=10)
# Smallest non-zero bill (Stripe's USD minimum is 50 cents).
RESERVATION_MINIMUM_CHARGE_CENTS = env.int("RESERVATION_MINIMUM_CHARGE_CENTS", default=50)

# --- Payments (payments app) -----------------------------------------------------------
# Empty: the API version the installed stripe library is built for.
STRIPE_API_VERSION = env.str("STRIPE_API_VERSION", default="")
# Per request; the library retries connection errors, 409 and 5xx with backoff.
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# The Reply-To of the e-mail that asks a driver to settle a failed charge.
PAYMENTS_SUPPORT_EMAIL = env.str(
    "PAYMENTS_SUPPORT_EMAIL", default="Secure My Spot <support@localhost>"
)
# Development without a Stripe key talks to localstripe (`.venv/bin/localstripe`, port 8420).
if DEBUG and not STRIPE_SECRET_KEY:
    STRIPE_SECRET_KEY = "sk_test_localstripe"  # noqa: S105 - the emulator accepts any sk_ key
    STRIPE_PUBLISHABLE_KEY = STRIPE_PUBLISHABLE_KEY or "pk_test_localstripe"
    STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET or "whsec_localstripe"
    STRIPE_API_BASE = STRIPE_API_BASE or "http://127.0.0.1:8420"
# --- end Payments ------------------------------------------------------------------------

# --- Parking spots ---------------------------------------------------------------------
# Hourly rates (USD) by borough for `import_nyc_meters`, over parking_spots.nyc_meters'
# DEFAULT_RATES, e.g. PARKING_SPOT_RATES='{"Manhattan": "5.00", "default": "2.50"}'.
PARKING_SPOT_RATES = env.json("PARKING_SPOT_RATES", default={})
# --- end parking spots -----------------------------------------------------------------

# --- Production / proxy ----------------------------------------------------------------
# The deploy stack's nginx terminates TLS and always overwrites X-Forwarded-Proto, so the
# header can be trusted. Without it Django sees every proxied request as plain HTTP and
# SECURE_SSL_REDIRECT answers each one with a redirect to itself: the admin's old
# ERR_TOO_MANY_REDIRECTS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# nginx passes the client's Host through unchanged; trust X-Forwarded-Host only behind a
# proxy that rewrites Host.
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# nginx sends the same value on every HTTPS response, static files included.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Preloading is a months-long commitment made with browser vendors: an operator's explicit
# choice (SECURE_HSTS_PRELOAD=true), so `check --deploy` must not demand it.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# --- end Production / proxy ------------------------------------------------------------

# --- Live availability (availability app) ------------------------------------------------
# The ASGI server (Procfile `push`) serves /ws/availability/ and /availability-events/.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [env.str("CHANNEL_LAYER_URL", default=REDIS_URL)]},
    }
}
# How long a serialised all-spots snapshot stays in Redis after its version was current.
AVAILABILITY_SNAPSHOT_TTL_SECONDS = env.int("AVAILABILITY_SNAPSHOT_TTL_SECONDS", default=600)
# The same for a search or viewport answer: many small bodies, worth a few polls each.
AVAILABILITY_SEARCH_TTL_SECONDS = env.int("AVAILABILITY_SEARCH_TTL_SECONDS", default=30)
# --- end Live availability -----------------------------------------------------------------
