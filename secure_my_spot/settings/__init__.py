"""Settings from the environment (12-factor); `.env.example` documents every variable.

Development gets working defaults for the local services; nothing secret has a default
outside DEBUG.
"""

import hashlib
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers as cors_default_headers
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
    "drf_spectacular_sidecar",
    "axes",
    "outbox",
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

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/secure_my_spot"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
# Bounded waits per process role (secure_my_spot.process_role), in milliseconds, 0 for none:
# a web request that waits out a row lock answers 409, one whose statement runs out 503
# (both JSON with Retry-After); workers wait longer; management commands have no limit.
DB_WEB_LOCK_TIMEOUT_MS = env.int("DB_WEB_LOCK_TIMEOUT_MS", default=3000)
DB_WEB_STATEMENT_TIMEOUT_MS = env.int("DB_WEB_STATEMENT_TIMEOUT_MS", default=10000)
DB_WORKER_LOCK_TIMEOUT_MS = env.int("DB_WORKER_LOCK_TIMEOUT_MS", default=30000)
DB_WORKER_STATEMENT_TIMEOUT_MS = env.int("DB_WORKER_STATEMENT_TIMEOUT_MS", default=45000)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Redis is a cache: short socket timeouts, and after a failure the web tier stops trying it
# for CACHE_RETRY_AFTER_SECONDS (secure_my_spot/cache.py), so a stalled Redis costs one timeout.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sms",
        "OPTIONS": {
            "pool_class": "secure_my_spot.cache.FailFastConnectionPool",
            "socket_connect_timeout": env.float("CACHE_CONNECT_TIMEOUT_SECONDS", default=0.5),
            "socket_timeout": env.float("CACHE_TIMEOUT_SECONDS", default=0.5),
            "retry_after": env.float("CACHE_RETRY_AFTER_SECONDS", default=5),
        },
    }
}

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

# --- Accounts (users app) --------------------------------------------------------------
# django-axes first: it refuses a locked-out admin login before any password is checked.
# It guards the admin's form only; the API's sign-in has a per-account backoff (below).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Where the single-page app lives, e.g. https://app.example.com: mailed links then open its
# /verify-email/<token> and /password-reset/<token> pages. Empty: the mails carry the token
# as a code for the client to POST to /verify-email/ or /password-reset/confirm/.
FRONTEND_BASE_URL = env.str("FRONTEND_BASE_URL", default="")
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
# The admin's path: somewhere less obvious than the default keeps scanners off its login.
ADMIN_URL = env.str("ADMIN_URL", default="admin/").strip("/") + "/"
if ADMIN_URL == "/":
    raise ImproperlyConfigured("ADMIN_URL must not be empty.")
# django-axes on the admin login: locked after N failures of one user name from one client
# address, for the cool-off; the answer is a JSON 429 with Retry-After.
AXES_ONLY_ADMIN_SITE = True
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "secure_my_spot.api.client_address"
AXES_USERNAME_CALLABLE = "users.admin_login.client_username"
AXES_LOCKOUT_CALLABLE = "users.admin_login.lockout_response"
# One policy for every answer (django-csp): the admin and the docs take scripts, styles,
# images and fonts from this origin only (the docs' assets are local, see
# SPECTACULAR_SETTINGS). Inline styles stay allowed: swagger-ui's page and a few admin
# templates use them; inline scripts do not (the docs' init script is a separate request).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# --- end Accounts --------------------------------------------------------------------------

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
    "DEFAULT_PARSER_CLASSES": ["secure_my_spot.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "secure_my_spot.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["secure_my_spot.throttling.FailOpenScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": env.str("THROTTLE_AUTH_RATE", default="20/minute"),
        "guest": env.str("THROTTLE_GUEST_RATE", default="60/minute"),
        # Signed-in write routes (booking, update, delete, payment), per account.
        "writes": env.str("THROTTLE_WRITES_RATE", default="30/minute"),
        # The spot routes, per client address: far above any map's polling, so one
        # client cannot take the web tier to itself.
        "spots": env.str("THROTTLE_SPOTS_RATE", default="600/minute"),
        # Accounts (users app): per signed-in account, or per client address where none.
        "password_change": env.str("THROTTLE_PASSWORD_CHANGE_RATE", default="10/hour"),
        "password_reset": env.str("THROTTLE_PASSWORD_RESET_RATE", default="10/hour"),
        "password_reset_email": env.str("THROTTLE_PASSWORD_RESET_EMAIL_RATE", default="3/hour"),
        "password_reset_confirm": env.str(
            "THROTTLE_PASSWORD_RESET_CONFIRM_RATE", default="20/hour"
        ),
        "verify_email": env.str("THROTTLE_VERIFY_EMAIL_RATE", default="20/hour"),
        "resend_verification": env.str("THROTTLE_RESEND_VERIFICATION_RATE", default="3/hour"),
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
    # The docs' scripts and styles come from this server (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.float("TOKEN_TTL_HOURS", default=24)),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(days=env.float("TOKEN_MAX_TTL_DAYS", default=30)),
    "MIN_REFRESH_INTERVAL": 60,
    "AUTH_HEADER_PREFIX": "Token",
}

# The largest request body (JSON included; the API's parser enforces it too) and the
# deepest JSON nesting accepted: a 400/413 JSON error beyond, never a RecursionError.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=64 * 1024)
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
# Browser clients may send Idempotency-Key on booking and payment POSTs.
CORS_ALLOW_HEADERS = (*cors_default_headers, "idempotency-key")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- E-mail ----------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Secure My Spot <no-reply@localhost>")
# Seconds an SMTP connect or reply may take: a stalled mail server fails the send instead.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=5.0)
# Every e-mail goes through the outbox (outbox/) and is sent by the workers; sent ones are
# kept this long for operators, without their bodies.
OUTBOX_KEEP_DAYS = env.int("OUTBOX_KEEP_DAYS", default=30)

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
    # E-mail addresses (guest routes carry them in the path) never reach a log in full.
    "filters": {"mask_emails": {"()": "secure_my_spot.logging.MaskEmailsFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_emails"],
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

# --- Reservations ----------------------------------------------------------------------
# Longest reservation (a spot's own meter limit can lower it), in minutes.
RESERVATION_MAX_MINUTES = env.int("RESERVATION_MAX_MINUTES", default=24 * 60)
# How long a new reservation holds its spot while the client enters card details.
RESERVATION_HOLD_MINUTES = env.int("RESERVATION_HOLD_MINUTES", default=10)
# Smallest non-zero bill (Stripe's USD minimum is 50 cents).
RESERVATION_MINIMUM_CHARGE_CENTS = env.int("RESERVATION_MINIMUM_CHARGE_CENTS", default=50)
# How long the signed "manage this reservation" link of a guest's e-mails works, in days.
RESERVATION_LINK_MAX_AGE_DAYS = env.float("RESERVATION_LINK_MAX_AGE_DAYS", default=30)
# Unpaid holds (pending_payment, hold not run out) at once per account, per guest e-mail and
# per client address: one client cannot empty the map with free holds.
HOLDS_MAX_PER_ACCOUNT = env.int("HOLDS_MAX_PER_ACCOUNT", default=2)
HOLDS_MAX_PER_EMAIL = env.int("HOLDS_MAX_PER_EMAIL", default=2)
HOLDS_MAX_PER_ADDRESS = env.int("HOLDS_MAX_PER_ADDRESS", default=2)
# The API's public origin, for links to its own routes in e-mails (the manage link when
# FRONTEND_BASE_URL is empty). Unset: https://DOMAIN behind the deploy stack, the local
# server in development; without either, e-mails carry no such link.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="") or (
    f"https://{env.str('DOMAIN', default='')}"
    if env.str("DOMAIN", default="")
    else ("http://127.0.0.1:8000" if DEBUG else "")
)

# --- Payments (payments app) -----------------------------------------------------------
# Empty: the API version the installed stripe library is built for.
STRIPE_API_VERSION = env.str("STRIPE_API_VERSION", default="")
# Per request; the library retries connection errors, 409 and 5xx with backoff.
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# The same inside a web request (process role "web"), where someone waits for the answer and
# gunicorn's timeout must not run out; the two above are the workers'.
STRIPE_WEB_TIMEOUT_SECONDS = env.float("STRIPE_WEB_TIMEOUT_SECONDS", default=5.0)
STRIPE_WEB_MAX_NETWORK_RETRIES = env.int("STRIPE_WEB_MAX_NETWORK_RETRIES", default=1)
# Stripe metadata's `deployment`: webhooks ignore objects that carry another tag, so
# deployments sharing one Stripe account (staging and production) never act on each
# other's. Default: derived from SECRET_KEY, hence distinct per deployment and stable.
DEPLOYMENT_TAG = (
    env.str("DEPLOYMENT_TAG", default="")
    or hashlib.sha256(f"deployment-tag:{SECRET_KEY}".encode()).hexdigest()[:12]
)
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
        "CONFIG": {
            "hosts": [
                {
                    "address": env.str("CHANNEL_LAYER_URL", default=REDIS_URL),
                    # A stalled Redis fails the publisher's sends (it backs off and retries)
                    # instead of hanging it; longer than the layer's 5 s blocking receive.
                    "socket_connect_timeout": 2,
                    "socket_timeout": 10,
                }
            ]
        },
    }
}
# How long a serialised all-spots snapshot stays in Redis after its version was current.
AVAILABILITY_SNAPSHOT_TTL_SECONDS = env.int("AVAILABILITY_SNAPSHOT_TTL_SECONDS", default=600)
# The same for a search or viewport answer: many small bodies, worth a few polls each.
AVAILABILITY_SEARCH_TTL_SECONDS = env.int("AVAILABILITY_SEARCH_TTL_SECONDS", default=30)
# Searches share a cached cover: the centre snapped to this grid (degrees, ~100 m north to
# south) with the radius rounded up to this step, a viewport widened outward to the grid;
# each answer is then trimmed to exactly the question asked.
AVAILABILITY_SEARCH_GRID_DEGREES = env.float("AVAILABILITY_SEARCH_GRID_DEGREES", default=0.001)
AVAILABILITY_SEARCH_STEP_KM = env.float("AVAILABILITY_SEARCH_STEP_KM", default=0.25)
# Bytes of search covers stored per search TTL; Redis holds at most twice this for searches.
AVAILABILITY_SEARCH_CACHE_BYTES = env.int(
    "AVAILABILITY_SEARCH_CACHE_BYTES", default=64 * 1024 * 1024
)
# --- end Live availability -----------------------------------------------------------------
