"""The live map at city scale: the all-spots route cold, warm and conditional.

On loopback only, bounded in requests and time, against a benchmark database of its own:
1. GET /available-parking-spots/ through gunicorn at the real NYC size (~13k spots) and at
   100k: cold (a spot changes before every request, so each one builds a new snapshot),
   warm (the version's snapshot is cached) and conditional (If-None-Match: a 304), as
   identity and as brotli (built and compressed once per version). One keep-alive client,
   so the modes are comparable: requests/s, p50, p99, bytes. Then per size: the body in
   each encoding and shape, what Redis holds for the snapshot (MEMORY USAGE of its keys)
   and each gunicorn worker's resident memory now and at its peak.
Push latency at scale is bench/push.py's.

    .venv/bin/python bench/live.py
    .venv/bin/python bench/live.py --sizes 100000 --requests 50
    .venv/bin/python bench/live.py --sizes 100000 1000000 --requests 20   # as make bench

Records issue 18's item 3 (the default answer gzip'd at the real size) and, at a million
spots, item 2 (Redis against one snapshot, each worker's peak) for bench/report.py.
"""

import argparse
import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import HOST, add_bench_database_argument, record, say  # noqa: E402
from bench.run import grow_to, serve_real_data  # noqa: E402

ALL = "/available-parking-spots/"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_database_argument(parser)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--requests", type=int, default=100, help="per mode and size")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    if not 1 <= args.requests <= 2_000:
        parser.error("--requests must be 1 to 2,000")
    if any(not 0 < size <= 1_000_000 for size in args.sizes):
        parser.error("--sizes must be at most 1,000,000")
    return args


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def change_a_spot() -> None:
    """A new availability version, as an admin edit would make it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE parking_spots_parkingspot SET updated_at = clock_timestamp() "
            "WHERE id = (SELECT min(id) FROM parking_spots_parkingspot)"
        )


def measure(
    port: int, mode: str, count: int, accept: str = ""
) -> tuple[float, float, float, int, int]:
    """(requests/s, p50 ms, p99 ms, body bytes, status) of `count` GETs in one mode, sending
    `accept` as Accept-Encoding."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    encoding = {"Accept-Encoding": accept} if accept else {}
    conn.request("GET", ALL, headers=encoding)
    first = conn.getresponse()
    first.read()
    etag = first.getheader("ETag")
    headers = {**encoding, "If-None-Match": etag} if mode == "conditional" else encoding
    seconds, size, status = [], 0, 0
    for _ in range(count):
        if mode == "cold":
            change_a_spot()
        started = time.perf_counter()
        conn.request("GET", ALL, headers=headers)
        response = conn.getresponse()
        body = response.read()
        seconds.append(time.perf_counter() - started)
        size, status = len(body), response.status
    conn.close()
    return (
        count / sum(seconds),
        percentile(seconds, 0.5) * 1000,
        percentile(seconds, 0.99) * 1000,
        size,
        status,
    )


def answer_sizes(port: int) -> list[tuple[str, int]]:
    """Bytes of the (warm) all-spots answer in each shape and encoding."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    sizes = []
    for shape, path in (("json", ALL), ("columnar", ALL + "?format=columnar")):
        for accept in ("identity", "gzip", "br"):
            conn.request("GET", path, headers={"Accept-Encoding": accept})
            response = conn.getresponse()
            body = response.read()
            assert response.getheader("Content-Encoding", "identity") == accept, accept
            sizes.append((f"{shape} {accept}", len(body)))
    conn.close()
    return sizes


def snapshot_redis_bytes() -> tuple[int, dict[bytes, int]]:
    """(keys, bytes by version) of the all-spots snapshot in Redis, by MEMORY USAGE."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match="*availability:snapshot:*"))
    by_version: dict[bytes, int] = {}
    for key in keys:
        # <prefix>availability:snapshot:<version>[-shape-encoding][:parts]
        version = key.split(b"availability:snapshot:", 1)[1].split(b":")[0].split(b"-")[0]
        by_version[version] = by_version.get(version, 0) + (
            client.memory_usage(key, samples=0) or 0
        )
    return len(keys), by_version


def record_targets(
    *, total: int, sizes: list[tuple[str, int]], by_version: dict, peak: int
) -> None:
    """Issue 18's items 2 and 3 as this size measured them."""
    if total < 100_000:
        gzipped = dict(sizes)["json gzip"]
        record(
            item="3",
            target=f"all-spots default answer gzip'd at {total:,} spots < 400 KB",
            measured=f"{gzipped / 1000:,.0f} KB",
            met=gzipped < 400_000,
        )
    if total >= 1_000_000:
        one = max(by_version.values(), default=0)
        held = sum(by_version.values())
        record(
            item="2",
            target=f"Redis snapshot at {total:,} spots < 2x one version's",
            measured=f"{held / 2**20:,.0f} MB in {len(by_version)} version(s), "
            f"one is {one / 2**20:,.0f} MB",
            met=held < 2 * one,
            note="every shape and encoding of a version counts as its snapshot",
        )
        record(
            item="2",
            target=f"gunicorn worker peak RSS at {total:,} spots < 600 MB",
            measured=f"{peak / 2**20:,.0f} MB",
            met=peak < 600 * 2**20,
            note="VmHWM of the worst worker after cold, warm and conditional requests",
        )


def worker_memory(server: subprocess.Popen) -> list[tuple[int, int]]:
    """(resident, peak resident) bytes of each gunicorn worker (the master's children)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    memory = []
    for pid in children:
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
        memory.append(
            (int(status["VmRSS"].split()[0]) * 1024, int(status["VmHWM"].split()[0]) * 1024)
        )
    return memory


def main() -> None:
    args = parse_args()
    port, server = serve_real_data(args.database_url, args.workers)
    from parking_spots.models import ParkingSpot

    rows = [
        "| spots | mode | encoding | req/s | p50 ms | p99 ms | bytes | status |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    sizes = ["| spots | answer | bytes |", "|---:|---|---:|"]
    memory = [
        "| spots | Redis snapshot keys | versions | Redis bytes | worker RSS MB | worker peak MB |",
        "|---:|---:|---:|---:|---|---|",
    ]
    try:
        say(f"gunicorn {args.workers} workers on {HOST}:{port}; {os.cpu_count()} CPUs")
        idle = ", ".join(f"{rss / 2**20:.0f}" for rss, _ in worker_memory(server))
        say(f"worker RSS before serving: {idle} MB")
        real = ParkingSpot.objects.count()
        for size in [real, *sorted(size for size in args.sizes if size > real)]:
            if size != real:
                say(f"growing to {size:,} spots ...")
                grow_to(size)
            total = ParkingSpot.objects.count()
            for accept in ("", "br"):
                for mode in ("cold", "warm", "conditional"):
                    rate, p50, p99, size_bytes, status = measure(port, mode, args.requests, accept)
                    rows.append(
                        f"| {total:,} | {mode} | {accept or 'identity'} | {rate:,.1f} | "
                        f"{p50:.2f} | {p99:.2f} | {size_bytes:,} | {status} |"
                    )
                    say(rows[-1])
            answers = answer_sizes(port)
            for answer, size_bytes in answers:
                sizes.append(f"| {total:,} | {answer} | {size_bytes:,} |")
                say(sizes[-1])
            keys, by_version = snapshot_redis_bytes()
            workers = worker_memory(server)
            record_targets(
                total=total,
                sizes=answers,
                by_version=by_version,
                peak=max(peak for _, peak in workers),
            )
            memory.append(
                f"| {total:,} | {keys} | {len(by_version)} | {sum(by_version.values()):,} | "
                f"{', '.join(f'{rss / 2**20:.0f}' for rss, _ in workers)} | "
                f"{', '.join(f'{peak / 2**20:.0f}' for _, peak in workers)} |"
            )
            say(memory[-1])

    finally:
        server.terminate()
        server.wait(timeout=30)
    say()
    say("\n".join(rows))
    say()
    say("\n".join(sizes))
    say()
    say("\n".join(memory))


if __name__ == "__main__":
    main()
