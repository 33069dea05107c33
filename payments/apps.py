from django.apps import AppConfig
from django.core import checks

from payments.checks import stripe_settings_check
from secure_my_spot.checks import CONFIGURATION


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"

    def ready(self) -> None:
        checks.register(stripe_settings_check, CONFIGURATION, deploy=True)
