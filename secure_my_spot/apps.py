from django.apps import AppConfig
from django.core import checks

from secure_my_spot.checks import CONFIGURATION, email_backend_check


class SecureMySpotConfig(AppConfig):
    name = "secure_my_spot"

    def ready(self) -> None:
        checks.register(email_backend_check, CONFIGURATION, deploy=True)
