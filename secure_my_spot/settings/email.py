"""E-mail: the mail server, the senders, the outbox, and where the links in e-mails point."""

from secure_my_spot.settings.core import DEBUG, env

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = EMAIL_CONFIG["EMAIL_BACKEND"]
EMAIL_HOST = EMAIL_CONFIG["EMAIL_HOST"]
EMAIL_PORT = EMAIL_CONFIG["EMAIL_PORT"]
EMAIL_HOST_USER = EMAIL_CONFIG["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = EMAIL_CONFIG["EMAIL_HOST_PASSWORD"]
EMAIL_FILE_PATH = EMAIL_CONFIG["EMAIL_FILE_PATH"]
# smtps:// and smtp+tls:// set the first, smtp+ssl:// the second.
EMAIL_USE_TLS = EMAIL_CONFIG.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = EMAIL_CONFIG.get("EMAIL_USE_SSL", False)
# Seconds an SMTP connect or reply may take: a stalled mail server fails the send instead.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=5.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Secure My Spot <no-reply@localhost>")
# The Reply-To of the e-mail that asks a driver to settle a failed charge.
PAYMENTS_SUPPORT_EMAIL = env.str(
    "PAYMENTS_SUPPORT_EMAIL", default="Secure My Spot <support@localhost>"
)
# Every e-mail goes through the outbox (outbox/) and is sent by the workers; sent ones are
# kept this long for operators, without their bodies.
OUTBOX_KEEP_DAYS = env.int("OUTBOX_KEEP_DAYS", default=30)
# A failed send is tried again after this long, doubling each time (outbox/services.py).
OUTBOX_RETRY_FIRST_SECONDS = env.int("OUTBOX_RETRY_FIRST_SECONDS", default=30)

# Where the single-page app lives, e.g. https://app.example.com: mailed links then open its
# /verify-email/<token> and /password-reset/<token> pages. Empty: the mails carry the token
# as a code for the client to POST to /verify-email/ or /password-reset/confirm/.
FRONTEND_BASE_URL = env.str("FRONTEND_BASE_URL", default="")
# The API's public origin, for links to its own routes in e-mails (the manage link when
# FRONTEND_BASE_URL is empty). Unset: https://DOMAIN behind the deploy stack, the local
# server in development; without either, e-mails carry no such link.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="") or (
    f"https://{env.str('DOMAIN', default='')}"
    if env.str("DOMAIN", default="")
    else ("http://127.0.0.1:8000" if DEBUG else "")
)
