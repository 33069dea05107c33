"""The Celery application; configuration lives in Django settings under the CELERY_ prefix."""

import logging.config
import os

from celery import Celery
from celery.signals import (
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_ready,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from secure_my_spot.checks import configuration_verify
from secure_my_spot.process_role import WORKER, process_role_declare
from secure_my_spot.request_id import task_publish_tag, task_run_end, task_run_start

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secure_my_spot.settings.base")

app = Celery("secure_my_spot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A request's id follows the tasks it enqueues into their log lines.
before_task_publish.connect(task_publish_tag, weak=False)
task_prerun.connect(task_run_start, weak=False)
task_postrun.connect(task_run_end, weak=False)


@setup_logging.connect
def _django_logging(**kwargs) -> None:
    """Workers and beat log as the web does (settings.LOGGING: its format, the e-mail mask,
    the request id) instead of Celery's own root handler, which would bypass both filters."""
    logging.config.dictConfig(settings.LOGGING)


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


@worker_ready.connect
def _serve_worker_metrics(**kwargs) -> None:
    """Once the pool runs (a prefork pool's children are forked by then, so they do not
    inherit the listening socket). Imported here: the metrics are made once the process's
    multiprocess directory, if any, is known."""
    from secure_my_spot.metrics import worker_metrics_serve

    if settings.WORKER_METRICS_PORT:
        worker_metrics_serve(port=settings.WORKER_METRICS_PORT)
