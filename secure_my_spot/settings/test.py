"""Test settings: the real PostgreSQL, RabbitMQ and Redis, isolated from development data.

The environment's defaults below come before `base` is imported: it reads the environment
then (and refuses to load without SECRET_KEY when DEBUG is off).
"""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/14")
# Each test session publishes to its own queue, so no worker outside it takes its tasks.
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"test-{os.getpid()}")
# The test client speaks plain HTTP; tests/deploy proves the redirect behind nginx.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from secure_my_spot.settings.base import *  # noqa: F403
from secure_my_spot.settings.core import STORAGES, env
from secure_my_spot.settings.security import SILENCED_SYSTEM_CHECKS

ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
# locmem for in-process tests; the Celery processes of end-to-end tests get a real SMTP
# server (tests/workers.py) whose mail the test reads.
if os.environ.get("TEST_SMTP_URL"):
    test_smtp = env.email_url("TEST_SMTP_URL")
    EMAIL_BACKEND = test_smtp["EMAIL_BACKEND"]
    EMAIL_HOST = test_smtp["EMAIL_HOST"]
    EMAIL_PORT = test_smtp["EMAIL_PORT"]
    EMAIL_HOST_USER = test_smtp["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = test_smtp["EMAIL_HOST_PASSWORD"]
    EMAIL_FILE_PATH = test_smtp["EMAIL_FILE_PATH"]
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Mail goes to locmem and Stripe comes from the localstripe fixture: the production
# configuration checks (secure_my_spot/checks.py) do not apply; tests/resilience proves them.
SILENCED_SYSTEM_CHECKS = [
    *SILENCED_SYSTEM_CHECKS,
    "secure_my_spot.E001",
    "payments.E001",
    "payments.E002",
    "payments.E003",
]
# Hashing cost is not what the tests are about.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Serve static files from the apps, no collectstatic manifest needed.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
