"""Who may reach what: hosts, the admin's path and lockout, the content security policy,
cross-origin requests, HTTPS behind the deploy stack's proxy, and how long the audit log of
enforcement lookups is kept."""

from datetime import timedelta

from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured

from secure_my_spot.settings.core import DEBUG, env

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])

# django-axes first: it refuses a locked-out admin login before any password is checked.
# It guards the admin's form only; the API's sign-in has a per-account backoff (accounts).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
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

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
# Browser clients may send Idempotency-Key on booking and payment POSTs.
CORS_ALLOW_HEADERS = (*cors_default_headers, "idempotency-key")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
# How long enforcement's lookup log (who checked which plate or meter, when) is kept, in days:
# long enough to answer a disputed ticket, not forever.
ENFORCEMENT_LOOKUPS_KEEP_DAYS = env.int("ENFORCEMENT_LOOKUPS_KEEP_DAYS", default=400)
