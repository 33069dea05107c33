"""The Celery application; configuration lives in Django settings under the CELERY_ prefix."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secure_my_spot.settings")

app = Celery("secure_my_spot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
