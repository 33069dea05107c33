"""The REST API: DRF, its OpenAPI schema, tokens, throttle rates and request size limits."""

from datetime import timedelta

from secure_my_spot.settings.core import env

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
        # The same routes asked about a future window (`start_time`, `end_time`): answered
        # fresh each time, never from the shared cache, so fewer per client address.
        "spot_windows": env.str("THROTTLE_SPOT_WINDOWS_RATE", default="60/minute"),
        # Enforcement lookups, per enforcement key (its prefix), from whatever address.
        "enforcement": env.str("THROTTLE_ENFORCEMENT_RATE", default="600/minute"),
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
