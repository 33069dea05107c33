"""Mixed load on the real stack for a fixed time, then an invariant check of what it left.

Starts, on loopback only, against a database of its own (dropped and refilled with the real
NYC export): gunicorn (the project's gunicorn.conf.py), a Celery worker and beat on RabbitMQ
and Redis, localstripe and an SMTP server that records every e-mail. For `--seconds` it then
plays, with asyncio and aiohttp:
- map clients polling the spot search (radius and viewport) and, a few, the all-spots route,
  conditionally (If-None-Match with the last ETag), now and then panning to a new centre;
- drivers, guests and signed-in accounts: book a spot where the stay is legal under the
  posted hours (a share of them on a few busy spots near Times Square, most of the others
  on spots metered during the load, a few on spots that are not, whose bills are 0), save
  a card through localstripe as Stripe.js would, confirm, read the reservation, then end it
  now, shorten it, extend it or let it run out; some cancel or abandon the hold; some
  guests' cards are declined at the charge.
Reservations last a minute (30 s more when extended) and holds a minute
(RESERVATION_HOLD_MINUTES=1), so they end, are charged and e-mailed during the run. Each
virtual client has its own address (X-Forwarded-For, NUM_PROXIES=1), so the real throttles
and caps apply per client.

Then it waits (at most `--drain-timeout`) until nothing is left to do and checks: no two
reservations of a spot overlap; each billed reservation has exactly one PaymentIntent in
localstripe, for its bill, and nothing is charged twice or without a bill (a bill of 0
has no PaymentIntent); no reservation is stuck (running past its end, ended but not
charged, a hold past its expiry); every e-mail arrived once. Prints per route: requests,
status classes, p50 and p99; exits non-zero on any 5xx or transport error from the API or
any failed invariant.

    .venv/bin/python bench/mixed.py                   # 60 s
    .venv/bin/python bench/mixed.py --seconds 120 --pollers 200 --drivers 24
"""

import argparse
import asyncio
import gc
import json
import os
import random
import runpy
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import HOST, add_bench_database_argument, fetch, say, setup_django  # noqa: E402
from bench.live import percentile  # noqa: E402
from bench.run import TIMES_SQUARE, load_real_data  # noqa: E402
from testing.localstripe import (  # noqa: E402
    CARD_DECLINED_ON_CHARGE,
    CARD_OK,
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    LocalStripe,
)
from testing.mail import running_smtp_server  # noqa: E402
from testing.net import free_port, wait_until  # noqa: E402

# The busy spots: this many nearest Times Square, which drivers pick `HOT_SHARE` of the time.
HOT_SPOTS = 30
HOT_SHARE = 0.3
# Of the other bookings, the share on spots whose meter does not run during the load (bills
# of 0, which must not be charged), when there are both kinds at the hour of the run.
FREE_SHARE = 0.2
# How far past the load a booking may still run: its minute, an extension, the hold.
STAY_MARGIN = timedelta(minutes=5)
ACCOUNTS = 200
MAX_SECONDS = 600
ROUTE_HEADER = "X-Bench-Route"
ACCESS_LOG_FORMAT = "%({x-bench-route}i)s|%(s)s|%(D)s"
LAG_PROBE = 0.05


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_database_argument(
        parser, variable="BENCH_MIXED_DATABASE_URL", name="secure_my_spot_bench_mixed"
    )
    parser.add_argument("--seconds", type=int, default=60, help="length of the load")
    parser.add_argument("--pollers", type=int, default=100, help="map clients polling a search")
    parser.add_argument("--all-spots-pollers", type=int, default=2, help="polling every spot")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="seconds between polls")
    parser.add_argument("--drivers", type=int, default=16, help="booking clients, half guests")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between steps")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--beat-interval", type=float, default=10, help="the production default")
    parser.add_argument("--drain-timeout", type=float, default=300, help="seconds at most")
    parser.add_argument(
        "--grace", type=float, default=30, help="seconds past a due moment before 'stuck'"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--queue", default="bench-mixed", help="a Celery queue of its own: purged at start"
    )
    args = parser.parse_args()
    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be 1 to {MAX_SECONDS}")
    if not 0 <= args.pollers + args.all_spots_pollers <= 2_000 or not 1 <= args.drivers <= 200:
        parser.error("at most 2,000 pollers and 1 to 200 drivers")
    return args


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Route:
    statuses: Counter = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    external: bool = False


class Stats:
    """Per route: every status (0 = no answer: a reset or a timeout) and latency."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = defaultdict(Route)
        self.flows: Counter = Counter()
        # 'changed' e-mails the API promised: a 200 to an extend or shorten of an active stay.
        self.amended = 0
        self.loop_lag: list[tuple[float, float]] = []  # (seconds late, at second)

    def record(self, route: str, status: int, seconds: float, *, external: bool) -> None:
        entry = self.routes[route]
        entry.statuses[status] += 1
        entry.seconds.append(seconds)
        entry.external = external

    def api_failures(self) -> int:
        return sum(
            count
            for route in self.routes.values()
            if not route.external
            for status, count in route.statuses.items()
            if status == 0 or status >= 500
        )

    def table(self, seconds: float, server: dict[str, list[float]]) -> list[str]:
        """Latencies as the client saw them (queueing included) and as gunicorn's access log
        has them (from the request read to the answer written)."""
        rows = [
            "| route | requests | 2xx | 304 | 4xx | 5xx | no answer | p50 ms | p99 ms "
            "| gunicorn p50 | gunicorn p99 | codes >= 400 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        total = 0
        for name in sorted(self.routes, key=lambda name: (self.routes[name].external, name)):
            route = self.routes[name]
            count = sum(route.statuses.values())
            total += 0 if route.external else count

            def within(low: int, high: int, route: Route = route) -> int:
                return sum(n for status, n in route.statuses.items() if low <= status < high)

            codes = ", ".join(
                f"{status}: {n}" for status, n in sorted(route.statuses.items()) if status >= 400
            )
            label = f"{name}, localstripe: not counted" if route.external else name
            served = server.get(name)
            rows.append(
                f"| {label} | {count:,} | {within(200, 300):,} | {route.statuses[304]:,} "
                f"| {within(400, 500):,} | {within(500, 600):,} | {route.statuses[0]:,} "
                f"| {percentile(route.seconds, 0.5) * 1000:.1f} "
                f"| {percentile(route.seconds, 0.99) * 1000:.1f} "
                f"| {f'{percentile(served, 0.5) * 1000:.1f}' if served else ''} "
                f"| {f'{percentile(served, 0.99) * 1000:.1f}' if served else ''} | {codes} |"
            )
        rows.append(
            f"| all API routes | {total:,} ({total / seconds:,.1f}/s) | | | | | | | | | | |"
        )
        return rows


# --- the stack --------------------------------------------------------------------------------


def stack_environment(args, *, stripe_url: str, smtp_url: str, web_port: int) -> None:
    """Production settings (DEBUG off; the module is bench.common's) on loopback, with times
    short enough to see the whole life of a reservation within the run; the services
    inherit it."""
    os.environ.update(
        DATABASE_URL=args.database_url,
        DEBUG="false",
        SECRET_KEY="bench-only-not-secret",  # noqa: S106
        ALLOWED_HOSTS=HOST,
        SECURE_SSL_REDIRECT="false",
        PUBLIC_BASE_URL=f"http://{HOST}:{web_port}",
        CELERY_TASK_DEFAULT_QUEUE=args.queue,
        EMAIL_URL=smtp_url,
        STRIPE_API_BASE=stripe_url,
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        DUE_WORK_INTERVAL_SECONDS=str(args.beat_interval),
        RESERVATION_HOLD_MINUTES="1",
        RESERVATION_REMINDER_MINUTES="1",
        # Every virtual client is an address of its own, as nginx would pass it.
        NUM_PROXIES="1",
        LOG_LEVEL="WARNING",
    )


def fresh_database(database_url: str) -> None:
    """Drop the benchmark's database, then migrate it anew and import the NYC export."""
    import psycopg2
    from psycopg2 import sql

    parts = urllib.parse.urlsplit(database_url)
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(urllib.parse.urlunsplit(parts._replace(path="/postgres")))
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()
    load_real_data()


def web_argv(port: int, workers: int, access_log: Path) -> list[str]:
    """gunicorn as the Procfile runs it: gunicorn.conf.py decides the worker class and the
    timeouts, only the address and the process count are given. The access log (on, as in
    the Procfile) has each request's route as the client named it and its time."""
    argv = [str(ROOT / ".venv/bin/gunicorn"), "secure_my_spot.wsgi", "-c", "gunicorn.conf.py"]
    argv += ["--bind", f"{HOST}:{port}", "--workers", str(workers)]
    return [*argv, "--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT]


def answers(port: int) -> bool:
    try:
        return bool(fetch(port, "/healthz"))
    except OSError:
        return False


def make_accounts(count: int) -> list[str]:
    """Verified accounts and their tokens (signing in is not what this measures)."""
    from django.utils import timezone
    from knox.models import AuthToken

    from users.models import User

    users = User.objects.bulk_create(
        User(email=f"driver-{n}@example.com", email_verified_at=timezone.now())
        for n in range(count)
    )
    return [AuthToken.objects.create(user=user)[1] for user in users]


@dataclass(frozen=True)
class Spot:
    id: int
    lat: float
    lng: float


@dataclass(frozen=True)
class BookableSpots:
    """Active spots where any stay the load books is legal, by whether their meter runs."""

    hot: list[Spot]  # the HOT_SPOTS nearest Times Square, metered or not
    metered: list[Spot]  # the meter runs some time during the load: stays in it are billed
    free: list[Spot]  # it does not: every bill is 0

    def describe(self) -> str:
        return (
            f"{len(self.hot) + len(self.metered) + len(self.free):,} bookable spots "
            f"({len(self.metered):,} metered during the load, {len(self.free):,} not; "
            f"{len(self.hot)} hot)"
        )


def bookable_spots(seconds: float) -> BookableSpots:
    """Meter pricing's rules over the load's time, once per posted-hours text: a spot where a
    stay from now to the end of the load would pass a posted limit or a curb reserved for
    commercial vehicles is a 400 to book (parking_spots.pricing.stay_legal_max_end), so left
    out; the others are split by whether the meter runs in that time (the quote's metered
    minutes)."""
    from django.utils import timezone

    from parking_spots.models import ParkingSpot
    from reservations.pricing import stay_legal_end, stay_quote

    start = timezone.now()
    end = start + timedelta(seconds=seconds) + STAY_MARGIN
    legal, metered = {}, {}
    spots = []
    for pk, lat, lng, hours in ParkingSpot.objects.filter(active=True).values_list(
        "id", "lat", "lng", "meter_hours"
    ):
        if hours not in legal:
            legal[hours] = stay_legal_end(meter_hours=hours, start=start, end=end)[0] is None
            # Only its metered minutes matter here, not the rates.
            quote = stay_quote(
                meter_hours=hours, first_hour_cents=1, later_hour_cents=1, start=start, end=end
            )
            metered[hours] = quote.metered_minutes > 0
        if legal[hours]:
            spots.append((Spot(pk, float(lat), float(lng)), metered[hours]))
    spots.sort(
        key=lambda s: (s[0].lat - TIMES_SQUARE["lat"]) ** 2 + (s[0].lng - TIMES_SQUARE["lng"]) ** 2
    )
    return BookableSpots(
        hot=[spot for spot, _ in spots[:HOT_SPOTS]],
        metered=[spot for spot, runs in spots[HOT_SPOTS:] if runs],
        free=[spot for spot, runs in spots[HOT_SPOTS:] if not runs],
    )


# --- the load ---------------------------------------------------------------------------------


class Load:
    """Virtual clients on one aiohttp session (a pool, as nginx keeps towards gunicorn)."""

    def __init__(self, args, *, web: str, stripe: str, tokens, bookable, stats) -> None:
        self.args, self.web, self.stripe, self.stats = args, web, stripe, stats
        self.tokens, self.bookable = tokens, bookable
        self.hot, self.spots = bookable.hot, bookable.metered + bookable.free
        self.rng = random.Random(args.seed)  # noqa: S311 - a reproducible load, not a secret
        self.addresses = 0
        self.guests = 0
        self.deadline = 0.0

    def address(self) -> str:
        """A new client address in 127.0.0.0/8: only ever a header value."""
        self.addresses += 1
        n = self.addresses
        return f"127.{1 + n // 65536 % 254}.{n // 256 % 256}.{n % 256}"

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    async def think(self) -> None:
        await asyncio.sleep(self.args.think * self.rng.uniform(0.5, 1.5))

    async def call(
        self, route: str, method: str, url: str, *, external=False, parse=True, **kwargs
    ):
        """(status, JSON body or None, headers); status 0 when no answer came. Map polls
        leave their bodies unparsed: a megabyte of JSON would stall every other client."""
        started = time.perf_counter()
        try:
            async with self.session.request(method, url, **kwargs) as response:
                body = await response.read()
                status, headers = response.status, response.headers
        except (aiohttp.ClientError, TimeoutError):
            self.stats.record(route, 0, time.perf_counter() - started, external=external)
            return 0, None, {}
        self.stats.record(route, status, time.perf_counter() - started, external=external)
        is_json = parse and body and headers.get("Content-Type", "").startswith("application/json")
        return status, (json.loads(body) if is_json else None), headers

    async def api(self, route: str, method: str, path: str, address: str, token=None, **kwargs):
        headers = {"X-Forwarded-For": address, ROUTE_HEADER: route, **kwargs.pop("headers", {})}
        if token:
            headers["Authorization"] = f"Token {token}"
        return await self.call(route, method, self.web + path, headers=headers, **kwargs)

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=1.0)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as self.session:
            self.deadline = time.monotonic() + self.args.seconds
            clients = [self.poller("all") for _ in range(self.args.all_spots_pollers)]
            clients += [
                self.poller("bbox" if n % 4 == 3 else "filter") for n in range(self.args.pollers)
            ]
            clients += [self.driver(guest=n % 2 == 0) for n in range(self.args.drivers)]
            await asyncio.gather(self.loop_lag(), *clients)

    async def loop_lag(self) -> None:
        """How late this client's own event loop wakes up: what it adds to every latency."""
        while self.running():
            started = time.perf_counter()
            await asyncio.sleep(LAG_PROBE)
            lag = time.perf_counter() - started - LAG_PROBE
            self.stats.loop_lag.append((lag, self.args.seconds - (self.deadline - started)))

    # Map clients.

    def search_path(self, kind: str, spot: Spot) -> str:
        if kind == "all":
            return "/available-parking-spots/"
        if kind == "bbox":
            d = 0.005
            box = f"{spot.lat - d:.6f},{spot.lng - d:.6f},{spot.lat + d:.6f},{spot.lng + d:.6f}"
            return f"/available-parking-spots/?bbox={box}"
        return f"/available-parking-spots-filter/?lat={spot.lat}&long={spot.lng}&unit=km&dist=0.5"

    def map_centre(self) -> Spot:
        return self.rng.choice(self.hot if self.rng.random() < HOT_SHARE else self.spots)

    def spot_to_book(self) -> Spot:
        """A hot spot, else mostly one that is metered: bills to charge, and a few of 0."""
        if self.rng.random() < HOT_SHARE:
            return self.rng.choice(self.hot)
        metered, free = self.bookable.metered, self.bookable.free
        if free and (not metered or self.rng.random() < FREE_SHARE):
            return self.rng.choice(free)
        return self.rng.choice(metered)

    async def poller(self, kind: str) -> None:
        address, spot, etag = self.address(), self.map_centre(), None
        route = {
            "all": "GET all spots (map poll)",
            "bbox": "GET spots in viewport (map poll)",
            "filter": "GET spots near (map poll)",
        }[kind]
        await asyncio.sleep(self.rng.uniform(0, self.args.poll_interval))
        while self.running():
            if kind != "all" and self.rng.random() < 0.05:  # the map is panned
                spot, etag = self.map_centre(), None
            headers = {"If-None-Match": etag} if etag else {}
            status, _, response_headers = await self.api(
                route, "GET", self.search_path(kind, spot), address, headers=headers, parse=False
            )
            if status == 200:
                etag = response_headers.get("ETag")
            await asyncio.sleep(self.args.poll_interval * self.rng.uniform(0.8, 1.2))

    # Drivers.

    async def driver(self, *, guest: bool) -> None:
        await asyncio.sleep(self.rng.uniform(0, 2 * self.args.think))
        while self.running():
            if guest:
                self.guests += 1
                email = f"guest-{self.guests}@example.com"
                await self.booking(address=self.address(), email=email, token=None)
            else:
                token = self.tokens[self.rng.randrange(len(self.tokens))]
                await self.booking(address=self.address(), email="", token=token)
            await self.think()

    async def booking(self, *, address: str, email: str, token: str | None) -> None:
        """One driver's booking, from the spot to its end; stops where the run ends."""
        who = "account" if token else "guest"
        spot = self.spot_to_book()
        body = {"reservation_length": 1}
        if not token:
            body["email"] = email
        status, booked, _ = await self.api(
            f"POST book ({who})",
            "POST",
            f"/reservation-{'auth' if token else 'unauth'}/{spot.id}/",
            address,
            token,
            json={"reservation": body},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        if status != 201:
            self.stats.flows[f"booking answered {status}"] += 1
            return
        self.stats.flows["booked"] += 1
        suffix = "auth/" + booked["id"] if token else "unauth/" + f"{booked['id']}/{email}"
        mode = self.rng.random()
        await self.think()
        if mode < 0.1 or not self.running():
            self.stats.flows["hold abandoned"] += 1
            return
        if mode < 0.2:
            status, _, _ = await self.api(
                "DELETE cancel", "DELETE", f"/delete-reservation-{suffix}/", address, token
            )
            self.stats.flows[f"cancelled {status}"] += 1
            return
        status, created, _ = await self.api(
            "POST create-payment-intent",
            "POST",
            f"/create-payment-intent-{suffix}/",
            address,
            token,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        if status != 201:
            self.stats.flows[f"payment intent answered {status}"] += 1
            return
        if mode < 0.25:
            self.stats.flows["card never entered"] += 1
            return
        declined = not token and self.rng.random() < 0.15
        if not await self.save_card(created["clientSecret"], declined=declined):
            return
        status, _, _ = await self.api(
            "GET confirm", "GET", f"/confirm-successful-setup-intent-{suffix}/", address, token
        )
        if status != 204:
            self.stats.flows[f"confirm answered {status}"] += 1
            return
        self.stats.flows["confirmed" + (", card to decline" if declined else "")] += 1
        await self.think()
        if token:
            await self.api(
                "GET my reservations (account)", "GET", "/reservation-auth/", address, token
            )
        else:
            await self.api("GET reservation (guest)", "GET", f"/reservation-{suffix}/", address)
        await self.after_confirmed(suffix, address, token, end=booked["end_time"])

    async def save_card(self, client_secret: str, *, declined: bool) -> bool:
        """What Stripe.js confirmCardSetup sends (testing/localstripe.py does it synchronously)."""
        setup_intent_id = client_secret.split("_secret_")[0]
        card = {"number": CARD_DECLINED_ON_CHARGE if declined else CARD_OK}
        card.update(exp_month=12, exp_year=2034, cvc="123")
        status, result, _ = await self.call(
            "POST setup_intents/:id/confirm (browser)",
            "POST",
            f"{self.stripe}/v1/setup_intents/{setup_intent_id}/confirm",
            external=True,
            json={
                "key": PUBLISHABLE_KEY,
                "client_secret": client_secret,
                "payment_method_data": {"type": "card", "card": card},
            },
        )
        saved = status == 200 and result["status"] == "succeeded"
        if not saved:
            self.stats.flows[f"card set-up answered {status}"] += 1
        return saved

    async def after_confirmed(self, suffix: str, address: str, token, *, end: str) -> None:
        """End now, shorten, extend (then maybe end), or leave it to run out."""
        action = self.rng.choices(
            ["end", "shorten", "extend", "extend then end", "run out"], [3, 2, 2, 1, 2]
        )[0]
        self.stats.flows[f"then {action}"] += 1
        if action == "run out":
            return
        await self.think()
        if action in ("extend", "extend then end"):
            later = datetime.fromisoformat(end) + timedelta(seconds=30)
            await self.change("PATCH extend", suffix, address, token, later.isoformat())
            if action == "extend":
                return
            await self.think()
        if action == "shorten":
            sooner = datetime.now().astimezone() + timedelta(seconds=self.rng.uniform(5, 20))
            await self.change("PATCH shorten", suffix, address, token, sooner.isoformat())
            return
        await self.change("PATCH end now", suffix, address, token, None)

    async def change(self, route: str, suffix: str, address: str, token, end_time) -> None:
        if not self.running():
            return
        status, changed, _ = await self.api(
            route,
            "PATCH",
            f"/update-reservation-{suffix}/",
            address,
            token,
            json={"reservation": {"end_time": end_time}},
        )
        if status == 200 and end_time is not None and changed["status"] == "active":
            self.stats.amended += 1


# --- afterwards -------------------------------------------------------------------------------


def outbox_unsent() -> int | None:
    """Unsent rows of the e-mail outbox; None where this version of the code has none."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('outbox_outboundemail') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT count(*) FROM outbox_outboundemail WHERE sent_at IS NULL")
        return cursor.fetchone()[0]


def unfinished() -> dict[str, int]:
    """What the workers still have to do: reservations not yet in a final state, mail unsent."""
    from reservations.models import Reservation, ReservationStatus

    left = Counter(
        Reservation.objects.filter(
            status__in=[
                ReservationStatus.PENDING_PAYMENT,
                ReservationStatus.ACTIVE,
                ReservationStatus.ENDED,
            ]
        ).values_list("status", flat=True)
    )
    unsent = outbox_unsent()
    if unsent:
        left["outbox e-mails"] = unsent
    return dict(left)


def drain(args, mailbox, stats) -> float:
    """Wait until every reservation is final and its e-mails are in; the seconds it took."""
    started = time.monotonic()
    last_report = started
    while time.monotonic() - started < args.drain_timeout:
        left = unfinished()
        if not left and email_check(mailbox, stats)[0]:
            break
        if time.monotonic() - last_report >= 15:
            say(f"  still to do: {left or 'e-mails in flight'}")
            last_report = time.monotonic()
        time.sleep(1)
    return time.monotonic() - started


def overlap_check() -> tuple[bool, str]:
    """No two reservations of one spot that were ever its occupants overlap in time: holds
    and stays (cancelled ones never occupied it). Stronger than the exclusion constraint,
    which sees holding rows only."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), min(a.public_id || ' & ' || b.public_id)
            FROM reservations_reservation a
            JOIN reservations_reservation b
              ON a.spot_id = b.spot_id AND a.id < b.id
             AND tstzrange(a.start_time, a.end_time) && tstzrange(b.start_time, b.end_time)
            WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'
            """
        )
        count, example = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), count(DISTINCT spot_id) FROM reservations_reservation "
            "WHERE status <> 'cancelled'"
        )
        rows, spots = cursor.fetchone()
    if count:
        return False, f"{count} overlapping pairs, e.g. {example}"
    return True, f"{rows} reservations that held a spot, on {spots} spots"


def recorded_payment_intents() -> dict[str, set[str]]:
    """The PaymentIntent ids the database recorded, per reservation public id: in
    payments.Payment where the code has it, else on the reservation row."""
    from django.apps import apps

    from reservations.models import Reservation

    try:
        payment = apps.get_model("payments", "Payment")
    except LookupError:
        rows = Reservation.objects.exclude(stripe_payment_intent_id="").values_list(
            "public_id", "stripe_payment_intent_id"
        )
    else:
        rows = payment.objects.exclude(stripe_payment_intent_id="").values_list(
            "reservation__public_id", "stripe_payment_intent_id"
        )
    recorded = defaultdict(set)
    for public_id, intent_id in rows:
        recorded[public_id].add(intent_id)
    return recorded


def payment_check(stripe_server) -> tuple[tuple[bool, str], tuple[bool, str], tuple[bool, str]]:
    """(exactly one PaymentIntent for each billed reservation, for its bill; nothing charged
    twice, without a bill or without the database knowing; a bill of 0, a stay outside
    metered hours, paid without a PaymentIntent or a payment row)."""
    from django.conf import settings

    from reservations.models import Reservation, ReservationStatus

    intents = defaultdict(list)
    for intent in stripe_server.payment_intents():
        if intent["metadata"].get("deployment") == settings.DEPLOYMENT_TAG:
            intents[intent["metadata"].get("reservation")].append(intent)
    recorded = recorded_payment_intents()
    billed = Reservation.objects.filter(
        status__in=[ReservationStatus.PAID, ReservationStatus.PAYMENT_FAILED], amount_cents__gt=0
    ).values_list("public_id", "status", "amount_cents")
    wrong, statuses = [], Counter()
    for public_id, status, amount in billed:
        found = intents.get(public_id, [])
        statuses[status] += 1
        if len(found) != 1:
            wrong.append(f"{public_id} ({status}) has {len(found)}")
        elif status == ReservationStatus.PAID and (
            found[0]["status"] != "succeeded" or found[0]["amount"] != amount
        ):
            wrong.append(f"{public_id} paid, but its PaymentIntent is {found[0]}")
    billed_ids = {public_id for public_id, *_ in billed}
    twice = [f"{r} ({len(found)})" for r, found in intents.items() if len(found) > 1]
    unbilled = [r for r in intents if r not in billed_ids]
    unknown = Counter(
        intent["status"]
        for public_id, found in intents.items()
        for intent in found
        if intent["id"] not in recorded.get(public_id, ())
    )
    # Money taken that the database does not know of fails; a declined attempt it does not
    # know of is localstripe's doing: its decline error does not name the PaymentIntent
    # (Stripe's error.payment_intent), so the gateway has no id to record.
    untracked = unknown.pop("succeeded", 0)
    counts = ", ".join(f"{n} {s}" for s, n in statuses.items())
    one_each = (
        not wrong,
        f"{len(billed_ids)} billed ({counts})" + (f"; wrong: {wrong[:3]}" if wrong else ""),
    )
    once = (
        not twice and not unbilled and not untracked,
        f"{sum(map(len, intents.values()))} PaymentIntents"
        + (f"; twice: {twice[:3]}" if twice else "")
        + (f"; for no bill: {unbilled[:3]}" if unbilled else "")
        + (f"; {untracked} succeeded but unknown to the database" if untracked else "")
        + (
            f"; declined, id not recorded (localstripe names none): {dict(unknown)}"
            if unknown
            else ""
        ),
    )
    zero = set(
        Reservation.objects.filter(status=ReservationStatus.PAID, amount_cents=0).values_list(
            "public_id", flat=True
        )
    )
    charged_for_nothing = sorted(zero & ({*intents} | {*recorded}))
    nothing_to_pay = (
        not charged_for_nothing,
        f"{len(zero)} bills of 0, paid"
        + (f"; with a PaymentIntent: {charged_for_nothing[:3]}" if charged_for_nothing else "")
        + ("" if zero else "; none to check: every stay of the load was metered"),
    )
    return one_each, once, nothing_to_pay


def stuck_check(grace: float) -> tuple[bool, str]:
    from django.db.models import Q
    from django.utils import timezone

    from reservations.models import Reservation, ReservationStatus

    limit = timezone.now() - timedelta(seconds=grace)
    S = ReservationStatus
    kinds = {
        "active past their end": Q(status=S.ACTIVE, end_time__lt=limit),
        "ended, not charged": Q(status=S.ENDED, ended_at__lt=limit),
        "holds past their expiry": Q(status=S.PENDING_PAYMENT, hold_expires_at__lt=limit),
    }
    found = {name: Reservation.objects.filter(q).count() for name, q in kinds.items()}
    stuck = {name: n for name, n in found.items() if n}
    unsent = outbox_unsent()
    if unsent:
        stuck["outbox e-mails unsent"] = unsent
    final = Counter(Reservation.objects.values_list("status", flat=True))
    return not stuck, str(stuck) if stuck else f"none (grace {grace:.0f} s); {dict(final)}"


def email_check(mailbox, stats) -> tuple[bool, str]:
    """The e-mails the SMTP server got against what the database and the API answers say
    must have gone out: one confirmation per confirmed stay, one 'ended' per bill, one
    'could not charge' per failed charge, a reminder at most once per claim, and one
    'changed' per extend or shorten of an active stay."""
    from payments.emails import SUBJECT as PAYMENT_FAILED
    from reservations.emails import SUBJECTS
    from reservations.models import Reservation, ReservationStatus

    S = ReservationStatus
    kinds = {subject: kind for kind, subject in SUBJECTS.items()} | {PAYMENT_FAILED: "failed"}
    received = Counter(
        (kinds.get(m["Subject"], m["Subject"]), m["To"].lower()) for m in mailbox.messages()
    )
    expected = Counter()
    rows = Reservation.objects.values_list("email", "status", "reminder_sent_at")
    for email, status, reminded in rows:
        if status in (S.ACTIVE, S.ENDED, S.PAID, S.PAYMENT_FAILED):
            expected["confirmed", email] += 1
        if status in (S.PAID, S.PAYMENT_FAILED):
            expected["ended", email] += 1
        if status == S.PAYMENT_FAILED:
            expected["failed", email] += 1
        if reminded is not None:
            expected["reminder", email] += 1
    problems = []
    for kind in ("confirmed", "ended", "failed"):
        got = Counter({to: n for (k, to), n in received.items() if k == kind})
        want = Counter({to: n for (k, to), n in expected.items() if k == kind})
        if got != want:
            problems.append(f"{kind}: {sum(got.values())} sent, {sum(want.values())} due")
    reminders = Counter({to: n for (k, to), n in received.items() if k == "reminder"})
    claimed = Counter({to: n for (k, to), n in expected.items() if k == "reminder"})
    if reminders - claimed:
        problems.append(f"reminders beyond their claims: {dict(reminders - claimed)}")
    amended = sum(n for (k, _), n in received.items() if k == "amended")
    if amended != stats.amended:
        problems.append(f"changed: {amended} sent, {stats.amended} answered")
    other = {k for k, _ in received} - {*SUBJECTS, "failed"}
    if other:
        problems.append(f"unexpected subjects: {other}")
    sent = Counter(k for k, _ in received.elements())
    summary = ", ".join(f"{n} {k}" for k, n in sorted(sent.items()))
    return not problems, ("; ".join(problems) + f" (sent: {summary})") if problems else summary


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far, from /proc/stat."""
    user, nice, system, idle, iowait, *rest = map(int, Path("/proc/stat").read_text().split()[1:9])
    total = user + nice + system + idle + iowait + sum(rest)
    return total - idle - iowait, total


def availability_version() -> int:
    from availability.models import AvailabilityState

    return AvailabilityState.objects.get().version


def served_times(access_log: Path) -> dict[str, list[float]]:
    """Seconds per route from gunicorn's access log (ACCESS_LOG_FORMAT)."""
    times = defaultdict(list)
    for line in access_log.read_text(errors="replace").splitlines():
        route, _, rest = line.partition("|")
        _, _, microseconds = rest.partition("|")
        if route != "-" and microseconds.isdigit():
            times[route].append(int(microseconds) / 1_000_000)
    return times


def log_errors(path: Path, offset: int = 0) -> int:
    with path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return text.count("Traceback") + text.count("WORKER TIMEOUT")


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-mixed-"))
    stats = Stats()
    with ExitStack() as services:  # stopped in reverse order, whatever happens
        stripe_server = LocalStripe()
        stripe_server.start()
        services.callback(stripe_server.stop)
        smtp_url, mailbox = services.enter_context(running_smtp_server(HOST))
        web_port = free_port()
        stack_environment(
            args, stripe_url=stripe_server.base_url, smtp_url=smtp_url, web_port=web_port
        )
        setup_django(args.database_url)
        from testing.processes import LOG_DIR, CeleryProcesses, declare_and_purge, running

        say(f"fresh database {args.database_url.rsplit('/', 1)[-1]} with the NYC export ...")
        fresh_database(args.database_url)
        tokens = make_accounts(ACCOUNTS)
        bookable = bookable_spots(args.seconds)
        declare_and_purge(args.queue)
        celery = CeleryProcesses({**os.environ, "CONN_MAX_AGE": "0"}, args.queue)
        services.callback(celery.stop_all)
        worker_log = LOG_DIR / f"{args.queue}-mixed.log"
        worker_log_start = worker_log.stat().st_size if worker_log.exists() else 0
        argv = web_argv(web_port, args.workers, logs / "access.log")
        web = services.enter_context(running(argv, dict(os.environ), logs / "gunicorn.log"))
        wait_until(lambda: answers(web_port), 30, "gunicorn's /healthz", web)
        celery.worker("mixed", concurrency=args.celery_concurrency)
        celery.beat()
        conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        say(
            f"{bookable.describe()}; gunicorn {args.workers} x "
            f"{conf.get('threads', 1)} {conf.get('worker_class', 'sync')} on "
            f"{HOST}:{web_port}, Celery {args.celery_concurrency} + beat every "
            f"{args.beat_interval:g} s, localstripe, SMTP; {os.cpu_count()} CPUs"
        )
        load = Load(
            args,
            web=f"http://{HOST}:{web_port}",
            stripe=stripe_server.base_url,
            tokens=tokens,
            bookable=bookable,
            stats=stats,
        )
        elapsed = run_load(args, load)
        say(f"waiting for the workers (at most {args.drain_timeout:.0f} s) ...")
        say(f"  settled after {drain(args, mailbox, stats):.1f} s")
        one_each, once, nothing_to_pay = payment_check(stripe_server)
        checks = {
            "no overlap": overlap_check(),
            "one PaymentIntent per billed reservation": one_each,
            "nothing charged twice or unbilled": once,
            "no charge for a bill of 0": nothing_to_pay,
            "no reservation stuck": stuck_check(args.grace),
            "every e-mail sent once": email_check(mailbox, stats),
        }
    errors = {"gunicorn": log_errors(logs / "gunicorn.log")}
    if worker_log.exists():
        errors["Celery worker"] = log_errors(worker_log, worker_log_start)
    report(stats, elapsed, checks, served_times(logs / "access.log"))
    say(
        "tracebacks or worker timeouts in the logs: "
        + ", ".join(f"{name} {n}" for name, n in errors.items())
        + f" ({logs}, {worker_log})"
    )
    failures = stats.api_failures()
    failed = [name for name, (ok, _) in checks.items() if not ok]
    if failures or failed:
        raise SystemExit(f"FAILED: {failures} 5xx or unanswered API requests; invariants {failed}")


def run_load(args, load: Load) -> float:
    """Play the load; its seconds. Says how busy the machine and the client were."""
    say(
        f"load: {args.seconds} s, {args.pollers} map pollers + {args.all_spots_pollers} "
        f"all-spots pollers every {args.poll_interval:g} s, {args.drivers} drivers "
        f"(think {args.think:g} s) ..."
    )
    # Django's and the spots' objects stay out of the collector's full passes, which would
    # otherwise stall the client (and so every latency it measures) now and then.
    gc.freeze()
    version, (busy, total), started = availability_version(), cpu_ticks(), time.monotonic()
    asyncio.run(load.run())
    elapsed = time.monotonic() - started
    busy_after, total_after = cpu_ticks()
    say(
        f"load done in {elapsed:.1f} s: machine CPU {busy_after - busy:,} of "
        f"{total_after - total:,} ticks busy ({(busy_after - busy) / (total_after - total):.0%}, "
        f"load average {os.getloadavg()[0]:.1f}); availability version changed "
        f"{availability_version() - version:,} times"
    )
    lag, at = max(load.stats.loop_lag)
    say(
        f"the load client's event loop woke late by p99 "
        f"{percentile([lag for lag, _ in load.stats.loop_lag], 0.99) * 1000:.0f} ms, "
        f"at most {lag * 1000:.0f} ms (at second {at:.0f})"
    )
    say(f"flows: {dict(sorted(load.stats.flows.items()))}")
    return elapsed


def report(stats: Stats, elapsed: float, checks: dict, served: dict[str, list[float]]) -> None:
    say()
    say("\n".join(stats.table(elapsed, served)))
    say()
    say("| invariant | result | detail |")
    say("|---|---|---|")
    for name, (ok, detail) in checks.items():
        say(f"| {name} | {'pass' if ok else 'FAIL'} | {detail} |")
    say()


if __name__ == "__main__":
    main()
