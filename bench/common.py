"""What the benchmark scripts share: output, Django, a gunicorn, their database (free ports,
localstripe, an SMTP server and Celery processes come from testing/, as in the tests)."""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Where each script records its targets for the closing table (bench/report.py); `make bench`
# empties it first.
RESULTS = Path(os.environ.get("BENCH_RESULTS", ROOT / "var" / "bench-results.jsonl"))


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def record(*, item: str, target: str, measured: str, met: bool | None, note: str = "") -> None:
    """One row of `make bench`'s table of targets: `item` as issue 18 numbers it (e.g. "1"),
    `target` in words, `measured` with its unit, `met` None where there is no pass mark."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    row = {"item": item, "target": target, "measured": measured, "met": met, "note": note}
    with RESULTS.open("a") as results:
        results.write(json.dumps(row) + "\n")
    say(
        f"  [{item}] {target}: {measured}"
        + ("" if met is None else (" (met)" if met else " (NOT met)"))
    )


def setup_django(database_url: str | None = None) -> None:
    """Production settings (DEBUG off) on the given database, without the HTTPS redirect.

    The production checks refuse to start without Stripe keys and a mail server: a bench
    that uses neither gets localstripe's keys and a closed port (one that does sets its own).
    """
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    sys.path.insert(0, str(ROOT))
    from testing.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET

    for variable, value in {
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-not-secret",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": HOST,
        "DJANGO_SETTINGS_MODULE": "secure_my_spot.settings.base",
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "EMAIL_URL": f"smtp://{HOST}:9",  # discard: nothing here sends mail
    }.items():
        os.environ.setdefault(variable, value)
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
