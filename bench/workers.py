"""End-of-reservation throughput: many reservations ending in the same minute.

Books `--count` reservations (default 1,000) on distinct spots, each with a card saved in
localstripe, ending spread over one minute; then runs the real pipeline (Celery beat and
worker on RabbitMQ and Redis, localstripe, an SMTP server) until every one is ended,
charged once and e-mailed. Reports the time from each reservation's end to its 'ended'
e-mail (p50, p99, max), per worker concurrency. Loopback only; bounded by --timeout.

    .venv/bin/python bench/workers.py                     # 1,000 reservations, 1 and 2 workers
    .venv/bin/python bench/workers.py --count 200 --concurrency 2
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import add_bench_database_argument, say  # noqa: E402
from testing.localstripe import (  # noqa: E402
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    LocalStripe,
)
from testing.mail import running_smtp_server  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60, help="seconds the ends spread over")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--beat-interval", type=float, default=10, help="the production default")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run at most")
    add_bench_database_argument(
        parser, variable="BENCH_WORKERS_DATABASE_URL", name="secure_my_spot_bench_workers"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    stripe_server = LocalStripe()
    stripe_server.start()
    try:
        with running_smtp_server() as (smtp_url, mailbox):
            results = run_all(args, stripe_server, smtp_url, mailbox)
    finally:
        stripe_server.stop()
    say("")
    say("| worker processes | reservations | all done after | end -> e-mailed p50 | p99 | max |")
    say("|---|---|---|---|---|---|")
    for row in results:
        say(
            f"| {row['concurrency']} | {row['count']} | {row['wall']:.1f} s after the last end "
            f"| {row['p50']:.1f} s | {row['p99']:.1f} s | {row['max']:.1f} s |"
        )


def run_all(args, stripe_server, smtp_url: str, mailbox) -> list[dict]:
    """One run per worker concurrency. Django starts after the services: settings read their
    addresses from the environment."""
    queue = f"bench-workers-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        DATABASE_URL=args.database_url,
        DEBUG="false",
        SECRET_KEY="bench-only-not-secret",  # noqa: S106
        DJANGO_SETTINGS_MODULE="secure_my_spot.settings.base",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        EMAIL_URL=smtp_url,
        STRIPE_API_BASE=stripe_server.base_url,
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        DUE_WORK_INTERVAL_SECONDS=str(args.beat_interval),
        RESERVATION_REMINDER_MINUTES="0",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    results = []
    for concurrency in args.concurrency:
        mailbox.clear()
        results.append(run_once(args, concurrency, stripe_server, mailbox, queue))
    return results


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


def run_once(args, concurrency: int, stripe_server, mailbox, queue: str) -> dict:
    from django.db import connection

    from payments.models import Payment, PaymentState
    from reservations.models import Reservation, ReservationStatus
    from testing.processes import CeleryProcesses

    stripe_server.restart_empty()  # each run pays for its own charges only
    customer_id, payment_method_id = saved_card(stripe_server)
    ids = book(args, customer_id, payment_method_id, lead=10)
    processes = CeleryProcesses({**os.environ, "CONN_MAX_AGE": "0"}, queue)
    say(
        f"{len(ids)} reservations ending over {args.spread:.0f} s; worker concurrency {concurrency}"
    )
    try:
        processes.worker("bench", concurrency=concurrency)
        processes.beat()
        deadline = time.monotonic() + args.timeout
        done = 0
        while time.monotonic() < deadline:
            done = ended_emails_sent(ids).count()
            if done == len(ids):
                break
            time.sleep(1)
        connection.close()
    finally:
        processes.stop_all()
    if done != len(ids):
        raise SystemExit(f"only {done} of {len(ids)} finished within {args.timeout:.0f} s")
    sent_at = dict(ended_emails_sent(ids).values_list("dedupe_key", "sent_at"))
    payment_intents = dict(
        Payment.objects.filter(reservation_id__in=ids, state=PaymentState.SUCCEEDED).values_list(
            "reservation_id", "stripe_payment_intent_id"
        )
    )
    rows = [
        (end, sent_at[f"reservation:{pk}:ended"], payment_intents[pk])
        for pk, end in Reservation.objects.filter(
            pk__in=ids, status=ReservationStatus.PAID
        ).values_list("pk", "end_time")
    ]
    delays = sorted((sent - end).total_seconds() for end, sent, _ in rows)
    charges = {pi for _, _, pi in rows}
    mails = mailbox.messages(subject="has ended")
    if len(charges) != len(ids) or len(mails) != len(ids):
        raise SystemExit(f"{len(charges)} charges and {len(mails)} e-mails for {len(ids)}")
    last_end = max(end for end, _, _ in rows)
    last_done = max(sent for _, sent, _ in rows)
    result = {
        "concurrency": concurrency,
        "count": len(ids),
        "wall": (last_done - last_end).total_seconds(),
        "p50": statistics.median(delays),
        "p99": delays[int(0.99 * (len(delays) - 1))],
        "max": delays[-1],
    }
    say(
        f"  done: p50 {result['p50']:.1f} s, p99 {result['p99']:.1f} s, max {result['max']:.1f} s;"
        f" {len(charges)} PaymentIntents, {len(mails)} e-mails"
    )
    return result


if __name__ == "__main__":
    main()
