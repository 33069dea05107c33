"""Without these Stripe settings every payment route and the webhook fail at their first use."""

from django.conf import settings
from django.core import checks

REQUIRED_SETTINGS = ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")


def stripe_settings_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []  # development talks to localstripe (settings)
    return [
        checks.Error(
            f"{name} must be set when DEBUG is off.",
            hint="Copy it from the Stripe dashboard (Developers > API keys / Webhooks).",
            id=f"payments.E00{number}",
        )
        for number, name in enumerate(REQUIRED_SETTINGS, start=1)
        if not getattr(settings, name)
    ]
