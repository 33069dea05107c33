"""What the benchmark scripts share: output, Django, a gunicorn, their database (free ports,
localstripe, an SMTP server and Celery processes come from testing/, as in the tests)."""

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def setup_django(database_url: str | None = None) -> None:
    """Production settings (DEBUG off) on the given database, without the HTTPS redirect."""
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("ALLOWED_HOSTS", HOST)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secure_my_spot.settings.base")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def fetch(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=10) as response:
        return response.read()


def start_gunicorn(
    port: int, *, workers: int, threads: int = 1, log: IO[bytes] | None = None
) -> subprocess.Popen:
    """gunicorn on loopback with this process's settings; returns once /healthz answers.

    One thread means sync workers, as the README's search figures were measured, more means
    gthread; GUNICORN_WORKER_CLASS in the environment wins (bench/gunicorn_workers.py)."""
    argv = [str(ROOT / ".venv/bin/gunicorn"), "secure_my_spot.wsgi", "--bind", f"{HOST}:{port}"]
    argv += ["--workers", str(workers), "--threads", str(threads), "--log-level", "warning"]
    server = subprocess.Popen(  # noqa: S603 - fixed argv, loopback only
        argv,
        cwd=ROOT,
        # One loopback client measures throughput: the spot routes' throttle would cap it.
        env={
            "THROTTLE_SPOTS_RATE": "1000000/second",
            "GUNICORN_WORKER_CLASS": "sync" if threads == 1 else "gthread",
            **os.environ,
            "LOG_LEVEL": "WARNING",
        },
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            fetch(port, "/healthz")
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not answer on loopback within 30 s")


def add_bench_database_argument(
    parser: argparse.ArgumentParser,
    *,
    variable: str = "BENCH_DATABASE_URL",
    name: str = "secure_my_spot_bench",
) -> None:
    """--database-url (default from `variable`): a database of the benchmark's own, which it
    empties and refills, never the development one."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get(variable, f"postgres://postgres@127.0.0.1:5432/{name}"),
        help="a database for the benchmark only: it is emptied and refilled",
    )
