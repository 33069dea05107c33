"""Processes the tests and benchmarks start: any command with its log, and Celery workers and
beat on the real RabbitMQ and Redis, each set bound to a queue of its own."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from secure_my_spot.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
LOG_DIR = Path(tempfile.gettempdir()) / "secure-my-spot-test-workers"


@contextmanager
def running(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A native process for the duration of the block, run from the project's root; its output
    lands in `log` (kept on the process as `.log`, which `testing.net.wait_until` reads)."""
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - the caller's fixed argv
            argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    process.log = log
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class CeleryProcesses:
    """Starts workers and a beat bound to one queue; stops whatever is left at teardown."""

    def __init__(self, env: dict[str, str], queue: str) -> None:
        self.env = env
        self.queue = queue
        self._procs: list[subprocess.Popen] = []

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        LOG_DIR.mkdir(exist_ok=True)
        log = (LOG_DIR / f"{self.queue}-{name}.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 - our own venv's celery
            [CELERY, "-A", "secure_my_spot", *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    def worker(
        self, name: str = "w1", *, concurrency: int | None = 1, pool: str | None = None
    ) -> subprocess.Popen:
        """A worker; returns once it answers a ping, so work can be handed to it.

        Its pool is the settings' (CELERY_WORKER_POOL, threads) unless `pool` names another,
        its concurrency the settings' (CELERY_CONCURRENCY) when `concurrency` is None.
        """
        hostname = f"{name}-{self.queue}@localhost"
        proc = self._spawn(
            name,
            [
                "worker",
                "-Q",
                self.queue,
                "-n",
                hostname,
                *(["-c", str(concurrency)] if concurrency is not None else []),
                *(["-P", pool] if pool else []),
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            # Celery takes a configured pool over `-P prefork`: the setting says it too.
            {"CELERY_WORKER_POOL": pool} if pool else None,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}; see {LOG_DIR}")
            # A connection of its own: one pooled before a broker restart (an earlier test's)
            # would be dead, and a ping, unlike a task's publish, does not reconnect.
            with celery_app.connection_for_write() as connection:
                if celery_app.control.ping(
                    destination=[hostname], timeout=0.5, connection=connection
                ):
                    return proc
        raise RuntimeError(f"worker {hostname} did not answer within 30 s; see {LOG_DIR}")

    def beat(self) -> subprocess.Popen:
        schedule = Path(tempfile.mkdtemp()) / "beat-schedule"
        return self._spawn("beat", ["beat", "-l", "INFO", "--schedule", str(schedule)])

    def log(self, name: str) -> str:
        return (LOG_DIR / f"{self.queue}-{name}.log").read_text(errors="replace")

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        """SIGKILL the whole process group: the worker's pool children die with it."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def declare_and_purge(queue: str) -> None:
    """Declared as Celery declares it, so it exists before anything is published to it."""
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=10, interval_start=0.2, interval_step=0.5)
        celery_app.amqp.queues[queue](conn.default_channel).declare()
        conn.default_channel.queue_purge(queue)
