"""The environment every other module reads (`.env` included), DEBUG and SECRET_KEY, and
Django's own wiring: apps, middleware, templates, time zones, static files, logging."""

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
    "drf_spectacular_sidecar",
    "axes",
    "outbox",
    "users",
    "parking_spots",
    "reservations",
    "payments",
    "tasks",
    "availability",
    "enforcement",
    "secure_my_spot",
]

MIDDLEWARE = [
    # First: the time measured includes every other middleware, and every line logged
    # below names the request (secure_my_spot/metrics.py, request_id.py).
    "secure_my_spot.metrics.MetricsMiddleware",
    "secure_my_spot.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A database wait that ran out in a non-DRF view: the same JSON 409/503 as the API's.
    "secure_my_spot.middleware.DatabaseTimeoutMiddleware",
    # Last, as django-axes requires: it turns a locked-out admin login into its answer.
    "axes.middleware.AxesMiddleware",
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

# "json" (one object a line, for a log pipeline) or "text" (for a person at a terminal).
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
LOG_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": LOG_FIELDS},
        "json": {
            "()": "secure_my_spot.logging.JsonFormatter",
            "fmt": LOG_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    # E-mail addresses (guest routes carry them in the path) never reach a log in full; each
    # line names the request it belongs to (secure_my_spot/request_id.py).
    "filters": {
        "mask_emails": {"()": "secure_my_spot.logging.MaskEmailsFilter"},
        "request_id": {"()": "secure_my_spot.request_id.RequestIdFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["mask_emails", "request_id"],
        }
    },
    # Django's own loggers (request warnings name the path; runserver logs every request)
    # would keep their default, unmasked handlers: send them to the root's.
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
