"""End-of-reservation throughput: many reservations ending in the same minute (issue 18, 5).

Books `--count` reservations (default 1,000) on distinct spots, each with a card saved in
localstripe, ending spread over one minute; then runs the real pipeline (Celery beat and
workers on RabbitMQ and Redis, localstripe, an SMTP server) until every one is ended,
charged once and e-mailed. Every Stripe call goes through a proxy that holds it for
`--stripe-latency-ms` (300 by default: real Stripe answers in hundreds of milliseconds,
localstripe in a few), so the workers wait on Stripe as they would in production.

Reports the time from each reservation's end to its 'ended' e-mail (p50, p99, max) and the
PaymentIntents and e-mails made, first for the configured workers: `--processes` worker
processes with the settings' pool and concurrency (CELERY_WORKER_POOL and
CELERY_CONCURRENCY, read from this environment as a worker reads them); then, for
comparison, the former configuration, one prefork worker with 2 processes. Loopback only;
bounded by --timeout.

    .venv/bin/python bench/workers.py
    CELERY_CONCURRENCY=8 .venv/bin/python bench/workers.py --no-prefork
    .venv/bin/python bench/workers.py --count 200 --stripe-latency-ms 0
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import add_bench_database_argument, record, say  # noqa: E402
from testing.latency_proxy import running_latency_proxy  # noqa: E402
from testing.localstripe import (  # noqa: E402
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    LocalStripe,
)
from testing.mail import running_smtp_server  # noqa: E402

ITEM = "5"
TARGET_P99_SECONDS = 5.0
FORMER_POOL, FORMER_CONCURRENCY = "prefork", 2  # the worker command before item 5


@dataclass(frozen=True)
class Workers:
    """One configuration: `instances` worker commands, each with `pool` and `concurrency`
    (None: the settings')."""

    label: str
    instances: int
    pool: str | None = None
    concurrency: int | None = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60, help="seconds the ends spread over")
    parser.add_argument("--stripe-latency-ms", type=float, default=300)
    parser.add_argument("--processes", type=int, default=2, help="configured worker processes")
    parser.add_argument(
        "--no-prefork", action="store_true", help="skip the former configuration's run"
    )
    parser.add_argument("--beat-interval", type=float, default=10, help="the production default")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run at most")
    add_bench_database_argument(
        parser, variable="BENCH_WORKERS_DATABASE_URL", name="secure_my_spot_bench_workers"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    stripe_server = LocalStripe()
    stripe_server.start()
    try:
        with (
            running_latency_proxy(
                stripe_server.base_url, delay_seconds=args.stripe_latency_ms / 1000
            ) as proxy,
            running_smtp_server() as (smtp_url, mailbox),
        ):
            results = run_all(args, stripe_server, proxy.base_url, smtp_url, mailbox)
    finally:
        stripe_server.stop()
    say("")
    say(
        f"Stripe +{args.stripe_latency_ms:.0f} ms a call; {args.count} reservations ending over"
        f" {args.spread:.0f} s"
    )
    say("| workers | all done after | end -> e-mailed p50 | p99 | max | charges | e-mails |")
    say("|---|---|---|---|---|---|---|")
    for row in results:
        say(
            f"| {row['label']} | {row['wall']:.1f} s after the last end | {row['p50']:.1f} s "
            f"| {row['p99']:.1f} s | {row['max']:.1f} s | {row['charges']} | {row['mails']} |"
        )
    if any(not row["exactly_once"] for row in results):
        raise SystemExit("some reservation was not charged and mailed exactly once")


def run_all(args, stripe_server, stripe_base: str, smtp_url: str, mailbox) -> list[dict]:
    """One run per worker configuration. Django starts after the services: settings read
    their addresses from the environment, which the workers inherit."""
    queue = f"bench-workers-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        DATABASE_URL=args.database_url,
        DEBUG="false",
        SECRET_KEY="bench-only-not-secret",  # noqa: S106
        DJANGO_SETTINGS_MODULE="secure_my_spot.settings.base",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        EMAIL_URL=smtp_url,
        STRIPE_API_BASE=stripe_base,
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        DUE_WORK_INTERVAL_SECONDS=str(args.beat_interval),
        RESERVATION_REMINDER_MINUTES="0",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    pool, concurrency = settings.CELERY_WORKER_POOL, settings.CELERY_WORKER_CONCURRENCY
    configurations = [
        Workers(f"{pool}, {args.processes} processes x {concurrency}", args.processes)
    ]
    if not args.no_prefork:
        configurations.append(
            Workers(
                f"former: {FORMER_POOL}, 1 worker x {FORMER_CONCURRENCY} processes",
                1,
                FORMER_POOL,
                FORMER_CONCURRENCY,
            )
        )
    results = []
    for workers in configurations:
        mailbox.clear()
        results.append(run_once(args, workers, stripe_server, mailbox, queue))
    record_targets(args, results)
    return results


def record_targets(args, results: list[dict]) -> None:
    configured, *former = results
    load = (
        f"{args.count} reservations ending within {args.spread:.0f} s, Stripe +"
        f"{args.stripe_latency_ms:.0f} ms a call"
    )
    record(
        item=ITEM,
        target=f"{load}: p99 end -> e-mail < {TARGET_P99_SECONDS:.0f} s on {args.processes}"
        " worker processes",
        measured=f"p99 {configured['p99']:.1f} s (p50 {configured['p50']:.1f} s, max "
        f"{configured['max']:.1f} s)",
        met=configured["p99"] < TARGET_P99_SECONDS and configured["complete"],
        note=configured["label"],
    )
    record(
        item=ITEM,
        target=f"{load}: each charged and mailed exactly once",
        measured=f"{configured['charges']} PaymentIntents, {configured['mails']} e-mails for "
        f"{configured['count']} reservations",
        met=configured["exactly_once"],
        note=configured["label"],
    )
    for row in former:
        record(
            item=ITEM,
            target=f"{load}: the former worker configuration, for comparison",
            measured=f"p99 {row['p99']:.1f} s (p50 {row['p50']:.1f} s, max {row['max']:.1f} s),"
            f" {row['charges']} PaymentIntents, {row['mails']} e-mails",
            met=None,
            note=row["label"],
        )


def saved_card(stripe_server) -> tuple[str, str]:
    """One customer and card, shared by every reservation: the charge is what is measured."""
    from payments import gateway

    customer_id = gateway.customer_create(
        email="bench@example.com", idempotency_key=uuid.uuid4().hex
    )
    intent = gateway.setup_intent_create(
        customer_id=customer_id, metadata={}, idempotency_key=uuid.uuid4().hex
    )
    stripe_server.confirm_card_setup(intent.client_secret, "4242424242424242")
    return customer_id, gateway.setup_intent_retrieve(setup_intent_id=intent.id).payment_method_id


def book(args, customer_id: str, payment_method_id: str, lead: float) -> list[int]:
    from django.db import connection
    from django.utils import timezone

    from parking_spots.models import ParkingSpot
    from reservations.models import Reservation, ReservationStatus
    from reservations.pricing import FLAT_METER_HOURS

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE reservations_reservation, parking_spots_parkingspot, outbox_outboundemail"
            " RESTART IDENTITY CASCADE"
        )
    spots = ParkingSpot.objects.bulk_create(
        ParkingSpot(lat=Decimal("40.75"), lng=Decimal("-73.98"), rate=Decimal("4.50"))
        for _ in range(args.count)
    )
    now = timezone.now()
    first_end = now + timedelta(seconds=lead)
    reservations = Reservation.objects.bulk_create(
        Reservation(
            spot=spot,
            email=f"driver{i}@example.com",
            rate=spot.rate,
            first_hour_cents=int(spot.rate * 100),
            later_hour_cents=int(spot.rate * 100),
            meter_hours=FLAT_METER_HOURS,
            start_time=now - timedelta(minutes=30),
            end_time=first_end + timedelta(seconds=args.spread * i / args.count),
            status=ReservationStatus.ACTIVE,
            stripe_customer_id=customer_id,
            stripe_payment_method_id=payment_method_id,
            card_brand="visa",
            card_last4="4242",
        )
        for i, spot in enumerate(spots)
    )
    return [r.pk for r in reservations]


def ended_emails_sent(ids: list[int]):
    """The 'ended' e-mails of these reservations that are out (the outbox's rows)."""
    from outbox.models import OutboundEmail

    return OutboundEmail.objects.filter(
        dedupe_key__in=[f"reservation:{pk}:ended" for pk in ids], sent_at__isnull=False
    )


def run_once(args, workers: Workers, stripe_server, mailbox, queue: str) -> dict:
    from django.db import connection

    from reservations.models import Reservation
    from testing.processes import CeleryProcesses

    stripe_server.restart_empty()  # each run pays for its own charges only
    customer_id, payment_method_id = saved_card(stripe_server)
    processes = CeleryProcesses(dict(os.environ), queue)
    try:
        for number in range(workers.instances):
            processes.worker(f"bench{number}", concurrency=workers.concurrency, pool=workers.pool)
        processes.beat()
        # Booked once the workers run, each ending after a whole sweep (as a reservation made
        # in advance does): the figures are the steady state's, not the start's.
        ids = book(args, customer_id, payment_method_id, lead=args.beat_interval + 5)
        say(f"{len(ids)} reservations ending over {args.spread:.0f} s; workers: {workers.label}")
        deadline = time.monotonic() + args.timeout
        done = 0
        while time.monotonic() < deadline:
            done = ended_emails_sent(ids).count()
            if done == len(ids):
                break
            time.sleep(1)
        time.sleep(2)  # a duplicate charge or e-mail would land now
        connection.close()
    finally:
        processes.stop_all()
    ends = dict(Reservation.objects.filter(pk__in=ids).values_list("pk", "end_time"))
    sent_at = {
        int(key.split(":")[1]): sent
        for key, sent in ended_emails_sent(ids).values_list("dedupe_key", "sent_at")
    }
    # Not sent within the timeout: counted as sent at its end, so p99 cannot hide them.
    never = max(ends.values()) + timedelta(seconds=args.timeout)
    delays = sorted(((sent_at.get(pk) or never) - end).total_seconds() for pk, end in ends.items())
    charges = stripe_server.payment_intents(customer_id)
    mails = mailbox.messages(subject="has ended")
    recipients = {mail["To"] for mail in mails}
    charged = {charge["metadata"]["reservation"] for charge in charges}
    result = {
        "label": workers.label,
        "count": len(ids),
        "complete": done == len(ids),
        "wall": (max(sent_at.values(), default=never) - max(ends.values())).total_seconds(),
        "p50": statistics.median(delays),
        "p99": delays[int(0.99 * (len(delays) - 1))],
        "max": delays[-1],
        "charges": len(charges),
        "mails": len(mails),
        "exactly_once": len(charges) == len(charged) == len(mails) == len(recipients) == len(ids)
        and all(charge["status"] == "succeeded" for charge in charges),
    }
    say(
        f"  done: {done} of {len(ids)}; p50 {result['p50']:.1f} s, p99 {result['p99']:.1f} s,"
        f" max {result['max']:.1f} s; {len(charges)} PaymentIntents, {len(mails)} e-mails"
    )
    return result


if __name__ == "__main__":
    main()
