"""The Celery application; configuration lives in Django settings under the CELERY_ prefix."""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init
from django.core.exceptions import ImproperlyConfigured

from secure_my_spot.checks import configuration_verify
from secure_my_spot.process_role import WORKER, process_role_declare

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secure_my_spot.settings.base")

app = Celery("secure_my_spot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _declare_worker_role(**kwargs) -> None:
    """A worker's waits (secure_my_spot.process_role); this module alone is imported by every
    Django process (the package's __init__), so only the worker's own signals declare it."""
    process_role_declare(role=WORKER)


@worker_init.connect
def _verify_configuration(**kwargs) -> None:
    """Celery runs no system checks and logs what a signal handler raises, then goes on:
    only SystemExit stops the worker before it takes a task it would fail."""
    try:
        configuration_verify()
    except ImproperlyConfigured as exc:
        raise SystemExit(str(exc)) from exc
