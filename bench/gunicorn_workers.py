"""gunicorn worker classes compared: throughput, slow clients and slow upstream calls.

Serves the real NYC export from a database of its own and, for each configuration
(worker class, processes x threads), started in turn and interleaved over `--rounds` so
that the machine's other load falls on all of them alike, measures on loopback only:
- throughput: wrk on GET /healthz and on the polled spot search, req/s and p99;
- slow clients: /healthz while `--slow-clients` connections are open and send nothing
  (a browser's preconnect, an idle keep-alive), and while `--slow-clients` and
  `--few-slow-clients` connections trickle a request's headers, a byte every 0.5 s
  (slowloris);
- slow calls: /healthz while `--slow-calls` requests wait inside the app on a Stripe that
  accepts connections and never answers (GET confirm-successful-setup-intent, web profile:
  5 s and one retry, then 503).
/healthz is probed every 0.5 s during an 8 s window, each probe on a new connection with a
10 s limit: the table gives the median and the worst answer, and how many got none.
Prints the medians over the rounds as a markdown table.

    .venv/bin/python bench/gunicorn_workers.py
    .venv/bin/python bench/gunicorn_workers.py --rounds 1 --configs sync:2x1 gthread:2x4

wrk comes from Debian: `apt-get install wrk`. gevent is not a dependency, so not compared.
"""

import argparse
import contextlib
import http.client
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    HOST,
    add_bench_database_argument,
    say,
    setup_django,
    start_gunicorn,
)
from bench.run import EXPORT, FILTER_PATH, load_real_data, wrk  # noqa: E402
from testing.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET  # noqa: E402
from testing.net import StallServer, free_port  # noqa: E402

CONFIG = re.compile(r"(sync|gthread):(\d+)x(\d+)")
WINDOW = 8.0  # seconds of /healthz probes per scenario
PROBE_EVERY = 0.5
PROBE_LIMIT = 10.0
GUEST_EMAIL = "bench-gunicorn@example.com"


@dataclass(frozen=True)
class Config:
    worker_class: str
    workers: int
    threads: int

    def __str__(self) -> str:
        return f"{self.worker_class} {self.workers}x{self.threads}"


def config(text: str) -> Config:
    match = CONFIG.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError("expected CLASS:WORKERSxTHREADS, e.g. gthread:2x4")
    worker_class, workers, threads = match.groups()
    return Config(worker_class, int(workers), int(threads))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_database_argument(
        parser, variable="BENCH_GUNICORN_DATABASE_URL", name="secure_my_spot_bench_gunicorn"
    )
    parser.add_argument(
        "--configs",
        type=config,
        nargs="+",
        default=[config("sync:2x1"), config("gthread:2x4"), config("gthread:2x8")],
    )
    parser.add_argument("--rounds", type=int, default=3, help="each configuration this often")
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per route")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--slow-clients", type=int, default=20)
    parser.add_argument("--few-slow-clients", type=int, default=6)
    parser.add_argument("--slow-calls", type=int, default=2)
    args = parser.parse_args()
    if not 1 <= args.rounds <= 9 or not 1 <= args.duration <= 30:
        parser.error("--rounds must be 1 to 9 and --duration 1 to 30 seconds")
    if max(args.slow_clients, args.few_slow_clients, args.slow_calls) > 200:
        parser.error("at most 200 slow clients or calls")
    return args


@dataclass
class Probes:
    """/healthz answer times in seconds; `missed` got no answer within PROBE_LIMIT."""

    seconds: list[float]
    missed: int

    def __str__(self) -> str:
        if not self.seconds:
            return f"none ({self.missed} missed)"
        text = f"{_duration(statistics.median(self.seconds))} / {_duration(max(self.seconds))}"
        return text + (f" ({self.missed} missed)" if self.missed else "")


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def probe_once(port: int) -> float | None:
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=PROBE_LIMIT)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        return time.monotonic() - started if response.status == 200 else None
    except OSError:
        return None
    finally:
        conn.close()


def probe_healthz(port: int) -> Probes:
    """A probe every PROBE_EVERY seconds for WINDOW seconds, each on its own thread."""
    count = int(WINDOW / PROBE_EVERY)
    with ThreadPoolExecutor(count) as pool:
        futures = []
        for _ in range(count):
            futures.append(pool.submit(probe_once, port))
            time.sleep(PROBE_EVERY)
        answers = [future.result() for future in futures]
    seconds = [answer for answer in answers if answer is not None]
    return Probes(seconds, len(answers) - len(seconds))


class SlowClients:
    """Connections that send nothing, or a request's headers a byte every 0.5 s, until
    closed; what the server does meanwhile is someone else's to measure."""

    def __init__(self, port: int, count: int, *, trickle: bool) -> None:
        self.socks = [socket.create_connection((HOST, port), timeout=5) for _ in range(count)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True) if trickle else None
        if self._thread:
            self._thread.start()

    def _trickle(self) -> None:
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
        for byte in request:
            if self._stop.wait(0.5):
                return
            for sock in self.socks:
                with contextlib.suppress(OSError):  # the server gave up on this one
                    sock.send(bytes([byte]))

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        for sock in self.socks:
            sock.close()


def under_slow_clients(port: int, count: int, *, trickle: bool) -> Probes:
    clients = SlowClients(port, count, trickle=trickle)
    try:
        time.sleep(1.5)  # every connection accepted, and the tricklers past their first bytes
        return probe_healthz(port)
    finally:
        clients.close()


def slow_call(port: int, path: str) -> tuple[int, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        conn.close()


def under_slow_calls(port: int, count: int, path: str) -> tuple[Probes, list[tuple[int, float]]]:
    with ThreadPoolExecutor(count) as pool:
        calls = [pool.submit(slow_call, port, path) for _ in range(count)]
        time.sleep(1.0)  # every call inside the app, waiting on Stripe
        probes = probe_healthz(port)
        return probes, [call.result() for call in calls]


def pending_reservation_path() -> str:
    """A guest reservation waiting for its card, with a SetupIntent to ask Stripe about."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from parking_spots.models import ParkingSpot
    from reservations.models import Reservation, ReservationStatus
    from reservations.pricing import FLAT_METER_HOURS

    now = timezone.now()
    reservation = Reservation.objects.create(
        spot=ParkingSpot.objects.filter(active=True).first(),
        email=GUEST_EMAIL,
        rate=Decimal("2.50"),
        first_hour_cents=250,
        later_hour_cents=250,
        meter_hours=FLAT_METER_HOURS,
        start_time=now + timedelta(days=1),
        end_time=now + timedelta(days=1, hours=1),
        status=ReservationStatus.PENDING_PAYMENT,
        hold_expires_at=now + timedelta(days=1),
        stripe_setup_intent_id="seti_bench_never_answered",
    )
    return f"/confirm-successful-setup-intent-unauth/{reservation.public_id}/{GUEST_EMAIL}/"


def measure(cfg: Config, args: argparse.Namespace, slow_path: str, log) -> dict[str, object]:
    os.environ["GUNICORN_WORKER_CLASS"] = cfg.worker_class
    port = free_port()
    server = start_gunicorn(port, workers=cfg.workers, threads=cfg.threads, log=log)
    try:
        for _ in range(10 * cfg.workers * cfg.threads):  # every thread warm, connected
            probe_once(port)
        healthz = wrk(port, "/healthz", args.duration, args.connections)
        spots = wrk(port, FILTER_PATH, args.duration, args.connections)
        slow_probes, calls = under_slow_calls(port, args.slow_calls, slow_path)
        return {
            "healthz req/s": healthz.requests_per_second,
            "healthz p99 ms": healthz.p99_ms,
            "spots req/s": spots.requests_per_second,
            "spots p99 ms": spots.p99_ms,
            "idle": under_slow_clients(port, args.slow_clients, trickle=False),
            "trickle few": under_slow_clients(port, args.few_slow_clients, trickle=True),
            "trickle many": under_slow_clients(port, args.slow_clients, trickle=True),
            "slow calls": slow_probes,
            "calls": calls,
        }
    finally:
        server.terminate()
        server.wait(timeout=60)


def median_probes(runs: list[Probes]) -> Probes:
    """The run whose median answer is the median run's (missed probes count as the limit)."""

    def key(probes: Probes) -> float:
        answered = probes.seconds + [PROBE_LIMIT] * probes.missed
        return statistics.median(answered)

    return sorted(runs, key=key)[len(runs) // 2]


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: install it with `apt-get install wrk` (Debian).")
    if not EXPORT.exists():
        raise SystemExit(f"The NYC export is missing: expected at {EXPORT}.")
    stripe = StallServer()
    os.environ.update(
        STRIPE_API_BASE=f"http://{HOST}:{stripe.port}",
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        EMAIL_URL=f"smtp://{HOST}:{free_port()}",  # nothing here sends mail
        THROTTLE_GUEST_RATE="1000000/second",
    )
    setup_django(args.database_url)
    say(f"loading {EXPORT.name} into {args.database_url.rsplit('/', 1)[-1]} ...")
    load_real_data()
    slow_path = pending_reservation_path()
    results: dict[Config, list[dict]] = {cfg: [] for cfg in args.configs}
    log_path = Path(tempfile.gettempdir()) / "bench-gunicorn-workers.log"
    say(
        f"{os.cpu_count()} CPUs; wrk {args.connections} connections x {args.duration} s; "
        f"gunicorn's log: {log_path}"
    )
    try:
        with log_path.open("wb") as log:
            for round_number in range(1, args.rounds + 1):
                for cfg in args.configs:
                    run = measure(cfg, args, slow_path, log)
                    results[cfg].append(run)
                    say(
                        f"round {round_number}, {cfg}: healthz {run['healthz req/s']:,.0f} "
                        f"req/s, spots {run['spots req/s']:,.0f} req/s; idle {run['idle']}; "
                        f"trickle {run['trickle few']} / {run['trickle many']}; slow calls "
                        f"{run['slow calls']} {run['calls']}"
                    )
    finally:
        stripe.close()
    say()
    say(
        f"| worker class | healthz req/s | p99 ms | spots req/s | p99 ms "
        f"| {args.slow_clients} idle connections | {args.few_slow_clients} trickling "
        f"| {args.slow_clients} trickling | {args.slow_calls} calls on a stalled Stripe |"
    )
    say("|---|---:|---:|---:|---:|---|---|---|---|")
    for cfg, runs in results.items():

        def figure(name: str, runs=runs) -> float:
            return statistics.median(run[name] for run in runs)

        probes = [
            str(median_probes([run[name] for run in runs]))
            for name in ("idle", "trickle few", "trickle many", "slow calls")
        ]
        say(
            f"| {cfg} | {figure('healthz req/s'):,.0f} | {figure('healthz p99 ms'):.1f} "
            f"| {figure('spots req/s'):,.0f} | {figure('spots p99 ms'):.1f} | "
            + " | ".join(probes)
            + " |"
        )
    say()
    say(
        "Slow-client and slow-call columns: /healthz median answer / worst answer, "
        f"probes without an answer within {PROBE_LIMIT:.0f} s; medians over {args.rounds} rounds."
    )


if __name__ == "__main__":
    main()
