"""Read by every gunicorn command run from the project's root (gunicorn's default config).

The access log lines go through a logger class that masks e-mail addresses: the guest
routes carry them in the URL path (secure_my_spot/logging.py).
"""

logger_class = "secure_my_spot.logging.MaskedAccessLogger"

# A request's waits are bounded below this (secure_my_spot.process_role, role "web"): a row
# lock 3 s (409), a statement 10 s (503), a Stripe call 5 s with one retry (~11 s), so a
# worker still busy after 30 s is stuck and is restarted. Raise it with those settings.
timeout = 30
# A restart or deploy lets requests in flight finish within the same bound.
graceful_timeout = 30
