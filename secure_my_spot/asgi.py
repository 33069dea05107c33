"""HTTP and push in one ASGI application, served by daphne beside gunicorn (Procfile `push`).

nginx sends /ws/ and /availability-events/ here; everything else may go to either server.
"""

import os

from django.core.asgi import get_asgi_application

from secure_my_spot.checks import configuration_verify
from secure_my_spot.process_role import WEB, process_role_declare

process_role_declare(role=WEB)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secure_my_spot.settings.base")
django_application = get_asgi_application()  # sets Django up before the consumers import
configuration_verify()  # daphne runs no system checks

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from availability.routing import http_urlpatterns, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": URLRouter([*http_urlpatterns, re_path(r"", django_application)]),
        # No origin check: push is public, read-only and carries no personal data, and the
        # map may be served from any origin the REST API allows.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
