from django.apps import AppConfig
from django.core import checks
from django.core.signals import request_finished

from secure_my_spot.checks import CONFIGURATION, email_backend_check
from secure_my_spot.request_id import request_end


class SecureMySpotConfig(AppConfig):
    name = "secure_my_spot"

    def ready(self) -> None:
        checks.register(email_backend_check, CONFIGURATION, deploy=True)
        request_finished.connect(request_end, dispatch_uid="secure_my_spot.request_end")
