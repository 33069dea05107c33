"""Metrics, error tracking: what an operator sees (README "Observability"). The log format
lives with LOGGING in core."""

from secure_my_spot.sentry import sentry_start
from secure_my_spot.settings.core import env

# The bearer token of GET /metrics; unset, the route answers 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A Celery worker serves its own counts on this port (same token); 0, the default: none.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
# Error tracking is off unless a DSN is given.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    sentry_start(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default=""),
        release=env.str("SENTRY_RELEASE", default=""),
    )
