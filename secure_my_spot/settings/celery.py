"""Celery: the broker, how tasks are acknowledged and bounded, and the beat's due-work sweep."""

from datetime import timedelta

from secure_my_spot.settings.core import env

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="redis://127.0.0.1:6379/1")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="secure_my_spot")
# RabbitMQ quorum queues (replicated over a broker cluster's nodes) instead of classic ones:
# the app's queues are declared with x-queue-type=quorum, and a quorum queue refuses global
# QoS, so the worker must detect them and keep its prefetch per consumer. ETAs and retry
# countdowns then wait in the broker (Celery's native delayed delivery), which routes only
# through a topic exchange. RabbitMQ refuses to redeclare an existing queue or exchange with
# another type: switch with a new CELERY_TASK_DEFAULT_QUEUE (README, "Quorum queues").
if env.bool("CELERY_QUORUM_QUEUES", default=False):
    CELERY_TASK_DEFAULT_QUEUE_TYPE = "quorum"
    CELERY_TASK_CREATE_MISSING_QUEUE_TYPE = "quorum"
    CELERY_TASK_DEFAULT_EXCHANGE_TYPE = "topic"
    CELERY_WORKER_DETECT_QUORUM_QUEUES = True
# A message is acknowledged only once its task has run, and one is taken at a time: a
# worker that dies hands its message back to the broker instead of losing it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The tasks wait on Stripe, SMTP and PostgreSQL, not on the CPU: one worker process runs
# CELERY_CONCURRENCY of them at once in threads, each with its own database connection and
# Stripe session, where prefork needs a process per task in flight. bench/workers.py, 1,000
# stays ending in a minute, Stripe at 300 ms a call, 2 processes: 4 threads each fall
# behind, 8 keep up, 16 (the default) leave room for a slower Stripe. The threads pool
# ignores the time limits below: every wait a task makes is bounded on its own
# (STRIPE_TIMEOUT_SECONDS, EMAIL_TIMEOUT, the worker's statement timeout).
# CELERY_WORKER_POOL=prefork brings back a process per task, and the time limits.
CELERY_WORKER_POOL = env.str("CELERY_WORKER_POOL", default="threads")
CELERY_WORKER_CONCURRENCY = env.int(
    "CELERY_CONCURRENCY", default=16 if CELERY_WORKER_POOL == "threads" else None
)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Publisher confirms: enqueueing returns only once RabbitMQ has the (persistent) message.
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_TASK_PUBLISH_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
# Nothing reads a task's return value: none is written. The result store stays configured
# for a task that declares ignore_result=False because something reads it.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = timedelta(days=1)
# Due work (reservations to end and charge, holds to cancel, reminders) is found in the
# database by this beat task, so nothing waits in the broker for hours.
DUE_WORK_INTERVAL_SECONDS = env.float("DUE_WORK_INTERVAL_SECONDS", default=10.0)
# A claimed row whose work did not finish (worker died) is claimed again after this.
DUE_WORK_CLAIM_TIMEOUT_SECONDS = env.int("DUE_WORK_CLAIM_TIMEOUT_SECONDS", default=120)
DUE_WORK_BATCH_SIZE = env.int("DUE_WORK_BATCH_SIZE", default=500)
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-work": {
        "task": "tasks.dispatch_due_work",
        "schedule": DUE_WORK_INTERVAL_SECONDS,
        # A dispatch that waited longer than its interval is superseded by the next one.
        "options": {"expires": DUE_WORK_INTERVAL_SECONDS},
    },
}
