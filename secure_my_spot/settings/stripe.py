"""Stripe (payments app): keys, API version, bounds per process role, the deployment tag."""

import hashlib

from secure_my_spot.settings.core import DEBUG, SECRET_KEY, env

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# Development without a Stripe key talks to localstripe (`.venv/bin/localstripe`, port 8420).
if DEBUG and not STRIPE_SECRET_KEY:
    STRIPE_SECRET_KEY = "sk_test_localstripe"  # noqa: S105 - the emulator accepts any sk_ key
    STRIPE_PUBLISHABLE_KEY = STRIPE_PUBLISHABLE_KEY or "pk_test_localstripe"
    STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET or "whsec_localstripe"
    STRIPE_API_BASE = STRIPE_API_BASE or "http://127.0.0.1:8420"
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
