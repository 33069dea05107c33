"""Read by every gunicorn command run from the project's root (gunicorn's default config).

The number of worker processes stays on the command lines (WEB_CONCURRENCY). The worker
class was chosen by measurement (bench/gunicorn_workers.py, README "Web server"): with
threads, /healthz kept answering in milliseconds while two requests waited on a stalled
Stripe and while 20 connections sat idle, where 2 sync workers answered after 5.8 s and not
at all; requests/s were the same within the machine's noise. 4 threads, not 8: each thread
keeps a PostgreSQL connection of its own.

The access log lines go through a logger class that masks e-mail addresses: the guest
routes carry them in the URL path (secure_my_spot/logging.py).
"""

import os
import shutil
import tempfile

logger_class = "secure_my_spot.logging.MaskedAccessLogger"
# gunicorn's default access line, and the request id the app's own lines carry
# (secure_my_spot/request_id.py).
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'
)

# gunicorn's workers whose own error answers (a request line too long, a malformed header)
# are JSON like the API's: secure_my_spot/gunicorn_workers.py.
WORKER_CLASSES = {
    "gthread": "secure_my_spot.gunicorn_workers.ThreadWorkerJsonErrors",
    "sync": "secure_my_spot.gunicorn_workers.SyncWorkerJsonErrors",
}
WORKER = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
if WORKER not in WORKER_CLASSES:
    raise ValueError(f"GUNICORN_WORKER_CLASS must be one of {', '.join(WORKER_CLASSES)}")
worker_class = WORKER_CLASSES[WORKER]
# Threads per worker process: each one a request in flight and a database connection.
threads = int(os.environ.get("GUNICORN_THREADS", "4")) if WORKER == "gthread" else 1

# A request's waits are bounded below this (secure_my_spot.process_role, role "web"): a row
# lock 3 s (409), a statement 10 s (503), a Stripe call 5 s with one retry (~11 s); those
# bounds are what end a slow request, since gunicorn never kills a threaded worker's busy
# thread (only a worker whose main loop stops for 30 s). Each read from a client, and each
# write of an answer, gets 30 s (gunicorn_workers.py): a client that stalls loses its
# connection, and so does one too slow to take a large body (the all-spots answer) within
# 30 s; behind nginx, which reads whole requests and buffers answers, neither reaches
# gunicorn. Raise it with those settings.
timeout = 30
# A restart or deploy lets requests in flight finish within the same bound (the compose
# files give the api service 35 s to stop).
graceful_timeout = 30
# Idle keep-alive connections cost a threaded worker no thread. Longer than nginx keeps an
# idle upstream connection (its upstream keepalive_timeout, 60 s by default), so nginx always
# closes an idle one first (no 502 from a connection gunicorn closed as idle); a worker that
# restarts (a deploy) still drops its idle connections, and nginx does not retry a POST on
# them. The sync worker closes every connection after its answer and ignores this.
keepalive = 65

# Metrics from every worker process (secure_my_spot/metrics.py): each process writes its
# counts under PROMETHEUS_MULTIPROC_DIR and /metrics adds them up, whichever worker answers.
# Unset, this gunicorn gets a directory of its own (two on one host never mix), removed when
# it exits. Set before the workers fork and import the app (no preload_app here). The
# directory is emptied when gunicorn starts (a previous run's counts would be added again
# under new pids) and a worker that exits is marked dead.
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def _own_metrics_dir() -> str:
    return os.path.join(tempfile.gettempdir(), f"secure-my-spot-metrics-{os.getpid()}")


def on_starting(server) -> None:
    directory = os.environ.setdefault(METRICS_DIR, _own_metrics_dir())
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, os.environ[METRICS_DIR])


def on_exit(server) -> None:
    if os.environ[METRICS_DIR] == _own_metrics_dir():
        shutil.rmtree(_own_metrics_dir(), ignore_errors=True)
