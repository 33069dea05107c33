import os

from django.core.wsgi import get_wsgi_application

from secure_my_spot.checks import configuration_verify
from secure_my_spot.process_role import WEB, process_role_declare

process_role_declare(role=WEB)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secure_my_spot.settings.base")

application = get_wsgi_application()
configuration_verify()  # gunicorn runs no system checks
