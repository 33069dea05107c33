from django.apps import AppConfig
from django.core import checks

from secure_my_spot.checks import CONFIGURATION, claim_lease_check, email_backend_check


class SecureMySpotConfig(AppConfig):
    name = "secure_my_spot"

    def ready(self) -> None:
        checks.register(email_backend_check, CONFIGURATION, deploy=True)
        # Not only at deploy: a development setting can make a task run twice as well.
        checks.register(claim_lease_check, CONFIGURATION)
