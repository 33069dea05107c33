"""Production configuration that has no safe default, checked before the service serves.

The apps register their checks under the CONFIGURATION tag as deployment checks, so
`check --deploy` reports them while `migrate` and the image build's `collectstatic` (DEBUG
off, no keys) do not need them. gunicorn, daphne and Celery run no system checks: their entry
points call `configuration_verify`, which stops the process with the checks' messages.
"""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

CONFIGURATION = "configuration"

# Backends that accept mail and deliver none: fine for development, silent loss in production.
NON_DELIVERING_EMAIL_BACKENDS = frozenset(
    f"django.core.mail.backends.{name}.EmailBackend"
    for name in ("console", "locmem", "dummy", "filebased")
)


def email_backend_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if settings.DEBUG or settings.EMAIL_BACKEND not in NON_DELIVERING_EMAIL_BACKENDS:
        return []
    return [
        checks.Error(
            f"EMAIL_URL is unset or names a backend that delivers no mail "
            f"({settings.EMAIL_BACKEND}) while DEBUG is off.",
            hint="Set EMAIL_URL to the mail server, e.g. smtp+tls://user:password@host:587.",
            id="secure_my_spot.E001",
        )
    ]


def configuration_verify() -> None:
    """Raise ImproperlyConfigured naming every setting that fails its check (silenced ones
    excepted); Django must be set up."""
    errors = [
        message
        for message in checks.run_checks(tags=[CONFIGURATION], include_deployment_checks=True)
        if message.is_serious() and not message.is_silenced()
    ]
    if errors:
        raise ImproperlyConfigured("Refusing to start:\n" + "\n".join(map(str, errors)))
