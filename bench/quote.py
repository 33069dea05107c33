"""Pricing a stay (parking_spots.pricing.price_stay), in process: no HTTP, no database.

Every stay is priced for a meter the importer would load from the real NYC export: its posted
hours and the seeded 2023 rates of the zone the rule gives it. Each stay starts at a random
moment of 2026 (to the second, New York's DST changes and meter holidays included) and lasts
from 1 minute to 24 hours. The stays are timed twice: priced as the bill is (the legality
check looks only as far as the stay's end), and as a quote is (the legal maximum end looked
for up to 24 hours after the start). Reports p50/p99/max per call; the schedules are parsed
(and cached) beforehand, as the quote route would find them.

With --route, the route instead: GET /quote/:parking_spot_id/ through gunicorn with wrk
(bench/run.py's loading and conventions, on a database of its own), each request for a
random spot of the export, starting at a random minute of the next 30 days and lasting 1 to
1,440 minutes. Reports requests/s, p50 and p99; the spot routes' throttle is lifted for
the one loopback client.

    .venv/bin/python bench/quote.py                  # 10,000 stays
    .venv/bin/python bench/quote.py --count 50000 --seed 7
    .venv/bin/python bench/quote.py --route --duration 10 --connections 8
"""

import argparse
import csv
import importlib
import os
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import add_bench_database_argument, fetch, say, setup_django  # noqa: E402
from bench.run import EXPORT, serve_real_data, wrk  # noqa: E402

YEAR_START = datetime(2026, 1, 1, 5, tzinfo=UTC)  # midnight in New York
YEAR = timedelta(days=365)
QUOTE_HORIZON = timedelta(hours=24)
WARM_UP = 1000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="stays priced per case")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--route", action="store_true", help="the HTTP route, with wrk")
    add_bench_database_argument(parser)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load")
    args = parser.parse_args()
    if not 1 <= args.count <= 1_000_000:
        parser.error("--count must be 1 to 1,000,000")
    if not 1 <= args.duration <= 60:
        parser.error("--duration must be 1 to 60 seconds")
    return args


# Each request: a random spot, a start at a random minute of the next 30 days (10 minutes
# from now at the earliest, so it is never in the past on arrival), 1 to 1,440 minutes long.
RANDOM_QUOTE = """
local ids = {%(ids)s}
math.randomseed(%(seed)d)
request = function()
  local start = os.time() + 600 + 60 * math.random(0, 29 * 24 * 60)
  local path = string.format(
    "/quote/%%d/?start_time=%%s&reservation_length=%%d",
    ids[math.random(#ids)], os.date("!%%Y-%%m-%%dT%%H:%%M:00Z", start), math.random(1, 1440))
  return wrk.format("GET", path)
end
"""


def route(args: argparse.Namespace) -> None:
    """The quote route through gunicorn, as bench/run.py measures the spot routes."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: install it with `apt-get install wrk` (Debian).")
    os.environ["THROTTLE_SPOT_WINDOWS_RATE"] = "1000000/second"
    port, server = serve_real_data(args.database_url, args.workers)
    try:
        from parking_spots.models import ParkingSpot

        ids = list(ParkingSpot.objects.filter(active=True).values_list("pk", flat=True))
        sample = f"/quote/{ids[0]}/?reservation_length=90"
        for _ in range(10 * args.workers):  # warm every worker and its connection
            fetch(port, sample)
        script = RANDOM_QUOTE % {"ids": ",".join(map(str, ids)), "seed": args.seed}
        load = wrk(port, "/", args.duration, args.connections, script)
    finally:
        server.terminate()
        server.wait(timeout=30)
    say(
        f"gunicorn {args.workers} sync workers; wrk {args.connections} connections, "
        f"{args.duration} s; {len(ids):,} spots; {os.cpu_count()} CPUs"
    )
    say("| route | req/s | p50 ms | p99 ms | non-2xx |")
    say("|---|---:|---:|---:|---:|")
    say(
        f"| GET /quote/:parking_spot_id/ (random spot, start, length) "
        f"| {load.requests_per_second:,.0f} | {load.p50_ms:.2f} | {load.p99_ms:.2f} "
        f"| {load.errors} |"
    )


def meters() -> list[tuple[str, str]]:
    """(posted hours, zone code) of every meter the importer would make a spot of."""
    from parking_spots.nyc_meters import SkipRow, parse_row
    from parking_spots.zones import zone_code_for

    loaded = []
    with EXPORT.open(encoding="utf-8", newline="") as csv_file:
        for row in csv.DictReader(csv_file):
            try:
                record = parse_row(row)
            except SkipRow:
                continue
            if record.active:
                zone = zone_code_for(lat=record.lat, lng=record.lng, street=record.street)
                loaded.append((record.meter_hours, zone))
    return loaded


def main() -> None:
    args = parse_args()
    if args.route:
        route(args)
        return
    if not EXPORT.exists():
        raise SystemExit(f"The NYC export is missing: expected at {EXPORT}.")
    setup_django()
    from django.conf import settings

    from parking_spots.holidays import nyc_meter_holidays
    from parking_spots.pricing import price_stay
    from parking_spots.schedules import parse_meter_hours

    # The rates as seeded: operators may have changed them since, the benchmark does not care.
    seeded = importlib.import_module("parking_spots.migrations.0004_seed_zones_holidays_assign")
    rates = {code: (first, later) for code, _, first, later, _ in seeded.RATE_ZONES}
    holidays = frozenset(day for year in (2026, 2027) for day, _ in nyc_meter_holidays(year))
    minimum = settings.RESERVATION_MINIMUM_CHARGE_CENTS

    loaded = meters()
    began = time.perf_counter()
    schedules = {hours: parse_meter_hours(hours) for hours, _ in loaded}
    parse_ms = (time.perf_counter() - began) * 1000
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible load, not a secret
    stays = []
    for _ in range(WARM_UP + args.count):
        hours, zone = rng.choice(loaded)
        start = YEAR_START + timedelta(seconds=rng.randrange(int(YEAR.total_seconds())))
        length = timedelta(seconds=rng.randint(60, int(QUOTE_HORIZON.total_seconds())))
        stays.append((schedules[hours], rates[zone], start, start + length))

    say(
        f"{len(loaded)} meters, {len(schedules)} distinct posted hours (parsed in "
        f"{parse_ms:.0f} ms), {args.count} stays after {WARM_UP} warm-up calls"
    )
    say("")
    say("| case | p50 | p99 | max | metered stays | mean segments |")
    say("|---|---|---|---|---|---|")
    for case, horizon in (
        ("bill: price_stay(start, end)", None),
        ("quote: + 24 h legal horizon", QUOTE_HORIZON),
    ):
        timings, metered, segments = [], 0, 0
        for index, (schedule, (first, later), start, end) in enumerate(stays):
            began = time.perf_counter_ns()
            quote = price_stay(
                schedule=schedule,
                first_hour_cents=first,
                later_hour_cents=later,
                holidays=holidays,
                start=start,
                end=end,
                minimum_cents=minimum,
                horizon_end=start + horizon if horizon else None,
            )
            elapsed = time.perf_counter_ns() - began
            if index >= WARM_UP:
                timings.append(elapsed / 1000)
                metered += quote.metered_minutes > 0
                segments += len(quote.segments)
        cuts = statistics.quantiles(timings, n=100)
        say(
            f"| {case} | {cuts[49]:.0f} µs | {cuts[98]:.0f} µs | {max(timings):.0f} µs "
            f"| {metered / args.count:.0%} | {segments / args.count:.2f} |"
        )


if __name__ == "__main__":
    main()
