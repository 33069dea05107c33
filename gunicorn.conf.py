"""Read by every gunicorn command run from the project's root (gunicorn's default config).

The access log lines go through a logger class that masks e-mail addresses: the guest
routes carry them in the URL path (secure_my_spot/logging.py).
"""

logger_class = "secure_my_spot.logging.MaskedAccessLogger"
