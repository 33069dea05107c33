"""Enforcement's coverage lookup at a million reservations, through gunicorn with wrk.

Loads the real NYC export into a database of its own (bench/run.py's loading), then fills
the reservations with one INSERT ... SELECT generate_series: --reservations rows (1,000,000)
of a population of --vehicles cars (a few park often, most rarely; NY plates 80%, NJ 10%,
then PA, CT and others), 10% without a plate (bookings from before plates), spread over
the export's meters, each meter's stays days apart over the last two years, billed (paid
mostly, some failed or cancelled); plus, each on a meter of its own, a paid stay begun in
the last two hours on 20% of them (most still running) and one booked ahead on 5%. Then,
with one enforcement key and the per-key throttle lifted for the one loopback client, wrk
drives GET /enforcement/coverage/ for:
- a plate (half of them covered now, 40% with past stays only, 10% never seen),
- a meter (any of the export's),
- a plate at a meter (covered plates, each at its own meter or at another),
each request a new random one, and reports requests/s, p50 and p99 (every answered lookup
also writes its log row, as in production), then GET /healthz on the same gunicorn: the
framework's ceiling on this machine. Last, EXPLAIN (ANALYZE, BUFFERS) of the SQL a
plate lookup runs, and whether it uses the plate index (reservation_plate_end).

    .venv/bin/python bench/enforcement.py
    .venv/bin/python bench/enforcement.py --reservations 200000 --duration 5

wrk comes from Debian: `apt-get install wrk`.
"""

import argparse
import os
import random
import shutil
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import HOST, add_bench_database_argument, say  # noqa: E402
from bench.run import serve_real_data, wrk  # noqa: E402

PLATE_INDEX = "reservation_plate_end"
SAMPLE = 2000  # distinct queries per case, drawn at random by wrk


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_database_argument(
        parser,
        variable="BENCH_ENFORCEMENT_DATABASE_URL",
        name="secure_my_spot_bench_enforcement",
    )
    parser.add_argument("--reservations", type=int, default=1_000_000)
    parser.add_argument("--vehicles", type=int, default=200_000, help="distinct cars")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=2, help="wrk connections")
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per case")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if not 1_000 <= args.reservations <= 5_000_000:
        parser.error("--reservations must be 1,000 to 5,000,000")
    if not 100 <= args.vehicles <= args.reservations:
        parser.error("--vehicles must be 100 to --reservations")
    if not 1 <= args.duration <= 60:
        parser.error("--duration must be 1 to 60 seconds")
    return args


# A car: its state by the share of NYC's tickets, its plate in that state's usual shape.
VEHICLES = """
CREATE TEMPORARY TABLE bench_vehicle AS
SELECT n AS id,
       CASE WHEN r < 0.80 THEN 'NY' WHEN r < 0.90 THEN 'NJ' WHEN r < 0.93 THEN 'PA'
            WHEN r < 0.96 THEN 'CT'
            ELSE (ARRAY['FL','MA','TX','CA','VA','MD','ON','QC'])[1 + floor(random() * 8)::int]
       END AS state,
       CASE WHEN r < 0.80 THEN pg_temp.letters(3) || lpad(floor(random() * 10000)::text, 4, '0')
            WHEN r < 0.90 THEN pg_temp.letters(1) || lpad(floor(random() * 100)::text, 2, '0')
                               || pg_temp.letters(3)
            ELSE pg_temp.letters(3) || lpad(floor(random() * 1000)::text, 3, '0')
       END AS plate
FROM (SELECT n, random() AS r FROM generate_series(1, %(vehicles)s) AS n) AS drawn;
CREATE UNIQUE INDEX ON bench_vehicle (id);
"""
LETTERS = """
CREATE OR REPLACE FUNCTION pg_temp.letters(n int) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(chr(65 + floor(random() * 26)::int), '') FROM generate_series(1, n)
$$;
"""
# The columns every row needs; the bill matches the status (the table's checks).
ROWS = """
INSERT INTO reservations_reservation (
    public_id, email, spot_id, plate, plate_state, rate, first_hour_cents, later_hour_cents,
    meter_hours, start_time, end_time, status, hold_expires_at, ended_at, amount_cents,
    stripe_customer_id, stripe_setup_intent_id, stripe_payment_method_id, card_brand,
    card_last4, created_at, updated_at)
SELECT md5(n::text || random()::text), 'bench@example.com', spot.id,
       CASE WHEN has_plate THEN vehicle.plate ELSE '' END,
       CASE WHEN has_plate THEN vehicle.state ELSE '' END,
       spot.rate, (spot.rate * 100)::int, (spot.rate * 100)::int, spot.meter_hours,
       start_time, start_time + length, status,
       NULL,
       CASE WHEN status = 'active' THEN NULL ELSE start_time + length END,
       CASE WHEN status = 'active' THEN NULL
            WHEN status = 'cancelled' THEN 0
            ELSE greatest(50, (spot.rate * 100 * extract(epoch FROM length) / 3600)::int) END,
       '', '', '', '', '', start_time, start_time
FROM (
    SELECT n,
           -- frequent parkers: a few cars own many of the stays
           1 + floor(%(vehicles)s * power(random(), 2))::int AS vehicle_id,
           random() >= 0.10 AS has_plate,
           spot_number,
           CASE WHEN kind = 'now' THEN now() - random() * interval '2 hours'
                WHEN kind = 'ahead' THEN now() + interval '1 hour' + random() * interval '2 days'
                -- past: each meter's stays in slots days apart over the last two years
                ELSE now() - interval '730 days' + slot * (interval '729 days' / %(slots)s)
                     + random() * interval '4 hours'
           END AS start_time,
           make_interval(mins => 15 + floor(random() * 226)::int) AS length,
           CASE WHEN kind <> 'past' THEN 'active'
                WHEN r < 0.90 THEN 'paid' WHEN r < 0.95 THEN 'ended'
                WHEN r < 0.97 THEN 'payment_failed' ELSE 'cancelled'
           END AS status
    FROM (
        SELECT n, random() AS r,
               CASE WHEN n <= %(now)s THEN 'now'
                    WHEN n <= %(now)s + %(ahead)s THEN 'ahead' ELSE 'past' END AS kind,
               (n - 1) %% %(spots)s AS spot_number,
               (n - 1) / %(spots)s AS slot
        FROM generate_series(1, %(rows)s) AS n
    ) AS numbered
) AS stay
JOIN bench_spot AS spot ON spot.number = stay.spot_number
JOIN bench_vehicle AS vehicle ON vehicle.id = stay.vehicle_id;
"""


def fill(rows: int, vehicles: int) -> tuple[int, float]:
    """Replace every reservation by `rows` made-up ones; returns the meters and seconds."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE reservations_reservation CASCADE")
        cursor.execute("SELECT setseed(0.2026)")
        cursor.execute(LETTERS)
        cursor.execute(VEHICLES, {"vehicles": vehicles})
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_spot AS SELECT row_number() OVER (ORDER BY random())"
            " - 1 AS number, id, rate, meter_hours FROM parking_spots_parkingspot WHERE active"
        )
        cursor.execute("CREATE UNIQUE INDEX ON bench_spot (number)")
        cursor.execute("SELECT count(*) FROM bench_spot")
        spots = cursor.fetchone()[0]
        # The first numbers are the stays running now (20% of the meters) and booked ahead
        # (5%), each on a meter of its own: one holding stay per meter, as the table demands.
        params = {
            "rows": rows,
            "vehicles": vehicles,
            "spots": spots,
            "slots": max(1, rows // spots),
            "now": spots // 5,
            "ahead": spots // 20,
        }
        cursor.execute(ROWS, params)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE reservations_reservation")
    return spots, time.perf_counter() - started


def samples(seed: int) -> dict[str, list[str]]:
    """Query strings per case, SAMPLE of each, drawn from the table just filled."""
    from django.db import connection

    rng = random.Random(seed)  # noqa: S311 - a reproducible load, not a secret
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.plate, r.plate_state, s.meter_number FROM reservations_reservation r"
            " JOIN parking_spots_parkingspot s ON s.id = r.spot_id"
            " WHERE r.status = 'active' AND r.plate <> '' AND r.start_time <= now()"
            " AND r.end_time > now()"
        )
        covered = cursor.fetchall()
        cursor.execute(
            "SELECT plate, plate_state FROM reservations_reservation TABLESAMPLE SYSTEM (2)"
            " WHERE plate <> '' AND status <> 'active' LIMIT %s",
            [SAMPLE],
        )
        past = cursor.fetchall()
        cursor.execute("SELECT meter_number FROM parking_spots_parkingspot WHERE active")
        meters = [meter for (meter,) in cursor.fetchall()]
    plates = []
    for _ in range(SAMPLE):
        draw = rng.random()
        if draw < 0.5:
            plate, state, _meter = rng.choice(covered)
        elif draw < 0.9:
            plate, state = rng.choice(past)
        else:
            plate, state = f"Q{rng.randrange(10**6):06d}", "NY"  # no such car
        plates.append(f"plate={plate}&state={state}")
    at_meter = []
    for _ in range(SAMPLE):
        plate, state, meter = rng.choice(covered)
        if rng.random() < 0.5:
            meter = rng.choice(meters)
        at_meter.append(f"plate={plate}&state={state}&meter={meter}")
    return {
        "plate": plates,
        "meter": [f"meter={rng.choice(meters)}" for _ in range(SAMPLE)],
        "plate at meter": at_meter,
    }


RANDOM_QUERY = """
local queries = {%(queries)s}
math.randomseed(%(seed)d)
wrk.headers["Authorization"] = "Key %(key)s"
request = function()
  return wrk.format("GET", "/enforcement/coverage/?" .. queries[math.random(#queries)])
end
"""


def explain_lookup(query: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the reservations SQL coverage_check runs for `query`,
    warm (the third of three runs)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from enforcement.selectors import coverage_check

    with CaptureQueriesContext(connection) as captured:
        coverage_check(**dict(parse_qsl(query)), now=timezone.now())
    [sql] = [q["sql"] for q in captured.captured_queries if "reservations_reservation" in q["sql"]]
    with connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(line for (line,) in cursor.fetchall())


def fetch_with_key(port: int, path: str, key: str) -> None:
    request = urllib.request.Request(
        f"http://{HOST}:{port}{path}", headers={"Authorization": f"Key {key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        response.read()


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: install it with `apt-get install wrk` (Debian).")
    os.environ["THROTTLE_ENFORCEMENT_RATE"] = "1000000/second"
    port, server = serve_real_data(args.database_url, args.workers)
    try:
        from django.db import connection

        from enforcement.models import CoverageLookup, Scope
        from enforcement.services import enforcement_key_create

        say(f"filling {args.reservations:,} reservations of {args.vehicles:,} cars ...")
        spots, seconds = fill(args.reservations, args.vehicles)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE plate <> ''),"
                " count(DISTINCT (plate, plate_state)) FILTER (WHERE plate <> ''),"
                " count(*) FILTER (WHERE status = 'active' AND start_time <= now()"
                " AND end_time > now()),"
                " pg_size_pretty(pg_relation_size(%s::regclass))"
                " FROM reservations_reservation",
                [PLATE_INDEX],
            )
            total, plated, cars, running, index_size = cursor.fetchone()
        say(
            f"  {total:,} reservations on {spots:,} meters in {seconds:.0f} s: {plated:,} with "
            f"a plate ({cars:,} cars), {running:,} running now; {PLATE_INDEX} {index_size}"
        )
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE enforcement_coveragelookup, enforcement_enforcementkey")
        key = enforcement_key_create(name="bench", scopes=[Scope.COVERAGE], created_by=None)
        cases = samples(args.seed)
        results = []
        for case, queries in cases.items():
            script = RANDOM_QUERY % {
                "queries": ",".join(f'"{query}"' for query in queries),
                "seed": args.seed,
                "key": key.clear,
            }
            for query in queries[: 10 * args.workers]:  # warm every worker and its connection
                fetch_with_key(port, f"/enforcement/coverage/?{query}", key.clear)
            load = wrk(port, "/", args.duration, args.connections, script)
            results.append((case, load))
            say(f"  {case}: {load.requests_per_second:,.0f} req/s, p50 {load.p50_ms:.2f} ms")
        results.append(("/healthz", wrk(port, "/healthz", args.duration, args.connections)))
        logged = CoverageLookup.objects.count()
        plate_plan = explain_lookup(cases["plate"][0])
        meter_plan = explain_lookup(cases["meter"][0])
    finally:
        server.terminate()
        server.wait(timeout=30)
    say()
    say(
        f"gunicorn {args.workers} sync workers; wrk {args.connections} connections, "
        f"{args.duration} s per case; {os.cpu_count()} CPUs; {total:,} reservations; "
        f"{logged:,} lookups logged"
    )
    say("| lookup | req/s | p50 ms | p99 ms | non-2xx |")
    say("|---|---:|---:|---:|---:|")
    for case, load in results:
        say(
            f"| {case} | {load.requests_per_second:,.0f} | {load.p50_ms:.2f} "
            f"| {load.p99_ms:.2f} | {load.errors} |"
        )
    say()
    say(f"EXPLAIN (ANALYZE, BUFFERS) of a plate lookup ({cases['plate'][0]}):")
    say(plate_plan)
    if PLATE_INDEX not in plate_plan:
        say(f"    the plate lookup does not use {PLATE_INDEX}: it lost its index")
    say()
    say(f"A meter lookup ({cases['meter'][0]}), its scans and times:")
    for line in meter_plan.splitlines():
        if "Scan" in line or "Time" in line:
            say(line.strip())


if __name__ == "__main__":
    main()
