"""Error tracking, on only when SENTRY_DSN is set (settings/observability.py).

No personal data is sent (send_default_pii=False), and every string of an event passes the
logs' e-mail mask first: guest routes carry addresses in their paths, and an exception's
message or a breadcrumb may quote one.
"""

from typing import Any

from secure_my_spot.logging import mask_emails


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_emails(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def before_send(event: dict, _hint: dict) -> dict:
    return _masked(event)


def sentry_start(*, dsn: str, environment: str, release: str) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        before_send=before_send,
        before_send_transaction=before_send,
        traces_sample_rate=0.0,
    )
