"""Booking throughput through the HTTP API, on loopback only, bounded in size and time.

Starts gunicorn on 127.0.0.1 against a benchmark database, then measures
1. reservations created per second on distinct spots (POST /reservation-auth/<spot>/), and
2. contention: rounds in which `--racers` clients book one spot at the same moment; exactly one
   may get 201 and the others 409 (checked and reported).
With `--reserved-share` it then leaves that share of the spots reserved (for re-running the
spot benchmarks against a realistic mix) instead of cleaning up.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sms_bench .venv/bin/python bench/bookings.py
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import HOST, say, setup_django, start_gunicorn  # noqa: E402
from testing.net import free_port  # noqa: E402

METER_PREFIX = "BENCH-BOOKING-"
MAX_REQUESTS = 20_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spots", type=int, default=500, help="bookings on distinct spots")
    parser.add_argument("--concurrency", type=int, default=8, help="clients for distinct spots")
    parser.add_argument("--rounds", type=int, default=20, help="contention rounds")
    parser.add_argument("--racers", type=int, default=20, help="clients per contended spot")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument(
        "--reserved-share", type=float, default=0.0, help="leave this share of spots booked"
    )
    args = parser.parse_args()
    if args.spots + args.rounds * args.racers > MAX_REQUESTS:
        parser.error(f"at most {MAX_REQUESTS} requests in one run")
    return args


_local = threading.local()


def request(port: int, method: str, path: str, token: str | None, body=None) -> tuple[int, float]:
    """One request on this thread's keep-alive connection: (status, seconds)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    started = time.perf_counter()
    try:
        conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        response = conn.getresponse()
        response.read()
    except (http.client.HTTPException, OSError):
        conn.close()
        _local.conn = None
        raise
    return response.status, time.perf_counter() - started


def make_fixtures(count: int):
    from knox.models import AuthToken

    from parking_spots.models import ParkingSpot
    from users.models import User

    cleanup()
    user, _ = User.objects.get_or_create(email="bench-bookings@example.com")
    _, token = AuthToken.objects.create(user=user)
    spots = ParkingSpot.objects.bulk_create(
        ParkingSpot(
            lat=Decimal("40.700000") + Decimal(n % 1000) / 10_000,
            lng=Decimal("-74.000000") + Decimal(n // 1000) / 10_000,
            rate=Decimal("4.50"),
            meter_number=f"{METER_PREFIX}{n}",
            street="Benchmark Street",
        )
        for n in range(count)
    )
    return token, [spot.pk for spot in spots]


def cleanup() -> None:
    from parking_spots.models import ParkingSpot
    from reservations.models import Reservation

    Reservation.objects.filter(spot__meter_number__startswith=METER_PREFIX).delete()
    ParkingSpot.objects.filter(meter_number__startswith=METER_PREFIX).delete()


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def book(port: int, token: str, spot_id: int) -> tuple[int, float]:
    body = {"reservation": {"reservation_length": 30}}
    return request(port, "POST", f"/reservation-auth/{spot_id}/", token, body)


def distinct_spots(port: int, token: str, spot_ids: list[int], concurrency: int) -> None:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda spot_id: book(port, token, spot_id), spot_ids))
    elapsed = time.perf_counter() - started
    created = sum(1 for status, _ in results if status == 201)
    say(
        f"distinct spots: {created}/{len(spot_ids)} created in {elapsed:.2f} s "
        f"= {created / elapsed:.0f} reservations/s with {concurrency} clients; "
        f"{summary([seconds for _, seconds in results])}"
    )
    if created != len(spot_ids):
        raise SystemExit(f"unexpected statuses: {sorted({status for status, _ in results})}")


def contention(port: int, token: str, spot_ids: list[int], racers: int) -> None:
    latencies: list[float] = []
    wrong_rounds = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(racers) as pool:
        for spot_id in spot_ids:
            barrier = threading.Barrier(racers)

            def race(_, spot_id=spot_id, barrier=barrier):
                barrier.wait()
                return book(port, token, spot_id)

            results = list(pool.map(race, range(racers)))
            latencies += [seconds for _, seconds in results]
            statuses = sorted(status for status, _ in results)
            if statuses != [201] + [409] * (racers - 1):
                wrong_rounds += 1
                say(f"  round on spot {spot_id}: {statuses}")
    elapsed = time.perf_counter() - started
    total = len(spot_ids) * racers
    say(
        f"contention: {len(spot_ids)} rounds x {racers} racers on one spot, "
        f"{total / elapsed:.0f} requests/s, {summary(latencies)}; "
        f"rounds with exactly one 201 and the rest 409: {len(spot_ids) - wrong_rounds}"
        f"/{len(spot_ids)}"
    )


def leave_reserved(share: float) -> None:
    """Book `share` of all spots (active reservations running now) for the spot benchmarks."""
    from datetime import timedelta

    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from parking_spots.models import ParkingSpot
    from reservations.models import Reservation
    from reservations.pricing import FLAT_METER_HOURS

    now = timezone.now()
    free = ParkingSpot.objects.filter(active=True).exclude(
        Exists(Reservation.objects.filter(spot=OuterRef("pk"), end_time__gt=now))
    )
    target = int(ParkingSpot.objects.filter(active=True).count() * share)
    reserved = Reservation.objects.filter(end_time__gt=now, status="active").count()
    picks = list(free.order_by("?").values_list("pk", "rate")[: max(0, target - reserved)])
    Reservation.objects.bulk_create(
        Reservation(
            email="bench-reserved@example.com",
            spot_id=pk,
            rate=rate,
            first_hour_cents=int(rate * 100),
            later_hour_cents=int(rate * 100),
            meter_hours=FLAT_METER_HOURS,
            start_time=now,
            end_time=now + timedelta(hours=24),
            status="active",
        )
        for pk, rate in picks
    )
    say(f"left {reserved + len(picks)} of the active spots reserved for 24 h ({share:.0%})")


def main() -> None:
    args = parse_args()
    setup_django()
    from django.core.management import call_command

    call_command("ensure_database")
    call_command("migrate", verbosity=0)
    token, spot_ids = make_fixtures(args.spots + args.rounds)
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="bench-bookings-", suffix=".log", delete=False) as log:
        server = start_gunicorn(port, workers=args.workers, threads=args.threads, log=log)
        try:
            say(
                f"gunicorn {args.workers} workers x {args.threads} threads on {HOST}:{port}, "
                f"{os.cpu_count()} CPUs (shared machine: figures are indicative)"
            )
            for _ in range(2 * args.workers):  # warm up workers and database connections
                request(port, "GET", "/reservation-auth/", token)
            distinct_spots(port, token, spot_ids[: args.spots], args.concurrency)
            contention(port, token, spot_ids[args.spots :], args.racers)
        finally:
            server.terminate()
            server.wait(timeout=30)
            cleanup()
            say(f"server log: {log.name}")
    if args.reserved_share:
        leave_reserved(args.reserved_share)


if __name__ == "__main__":
    main()
