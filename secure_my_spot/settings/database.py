"""PostgreSQL, and how long each process role waits on it."""

from secure_my_spot.settings.core import env

DATABASES = {
    "default": {
        **env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/secure_my_spot"),
        "CONN_MAX_AGE": env.int("CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": env.bool("CONN_HEALTH_CHECKS", default=True),
    },
}
# Bounded waits per process role (secure_my_spot.process_role), in milliseconds, 0 for none:
# a web request that waits out a row lock answers 409, one whose statement runs out 503
# (both JSON with Retry-After); workers wait longer; management commands have no limit.
DB_WEB_LOCK_TIMEOUT_MS = env.int("DB_WEB_LOCK_TIMEOUT_MS", default=3000)
DB_WEB_STATEMENT_TIMEOUT_MS = env.int("DB_WEB_STATEMENT_TIMEOUT_MS", default=10000)
DB_WORKER_LOCK_TIMEOUT_MS = env.int("DB_WORKER_LOCK_TIMEOUT_MS", default=30000)
DB_WORKER_STATEMENT_TIMEOUT_MS = env.int("DB_WORKER_STATEMENT_TIMEOUT_MS", default=45000)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
