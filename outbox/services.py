"""Queue an e-mail inside the caller's transaction; the workers send it, once in practice.

`email_queue` renders both bodies at once (a mail says what was true at the change that
caused it) and inserts the row. After commit, `email_queued` tells whoever sends (the
Celery wiring in tasks/ listens), so the mail leaves within seconds; the workers' sweep
(`email_claim_due`) sends what that signal missed: a broker that was down, a worker that
died, a mail server that failed (then with backoff). A send claims its row first, so two
deliveries of one message send one e-mail.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from outbox.models import OutboundEmail
from outbox.signals import email_queued
from secure_my_spot.db import after_commit, rows_delete_batch
from secure_my_spot.locking import claim_rows

logger = logging.getLogger(__name__)

# Retries back off from OUTBOX_RETRY_FIRST_SECONDS (30), doubling, to at most an hour; after
# 12 failures (about 7 hours) an operator decides (the admin shows the error and can try again).
RETRY_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 12
ERROR_MAX_LENGTH = 1000


def _sweep_grace() -> timedelta:
    """How long the sweep leaves a new e-mail to the signal's task: two beats."""
    return timedelta(seconds=2 * settings.DUE_WORK_INTERVAL_SECONDS)


def email_claim_lease() -> timedelta:
    """How long a send may take before its claim lapses (its worker died): past the longest
    a task may run, so a send still running is never claimed again."""
    seconds = max(settings.DUE_WORK_CLAIM_TIMEOUT_SECONDS, settings.CELERY_TASK_TIME_LIMIT + 5)
    return timedelta(seconds=seconds)


def email_queue(
    *,
    kind: str,
    template: str,
    subject: str,
    to: str,
    context: dict,
    reply_to: str = "",
    dedupe_key: str | None = None,
    stale_at: datetime | None = None,
) -> OutboundEmail | None:
    """Render `template`.txt and `.html` with `context` and queue them as one e-mail.

    With a `dedupe_key` the e-mail exists at most once (None when it already does): a
    repeated state change never mails twice. An e-mail still unsent at `stale_at` (the mail
    server was down) is dropped: it would say what is no longer true.
    """
    if dedupe_key and OutboundEmail.objects.filter(dedupe_key=dedupe_key).exists():
        return None
    email = OutboundEmail(
        kind=kind,
        to=to,
        reply_to=reply_to,
        subject=subject,
        text_body=render_to_string(f"{template}.txt", context),
        html_body=render_to_string(f"{template}.html", context),
        dedupe_key=dedupe_key,
        stale_at=stale_at,
        next_attempt_at=timezone.now() + _sweep_grace(),
    )
    try:
        with transaction.atomic():
            email.save()
    except IntegrityError:
        # The same key queued by a concurrent transaction, which waited on the unique index.
        return None
    after_commit(email_queued.send, sender=OutboundEmail, email_id=email.pk)
    return email


def email_send(*, email_id: int) -> bool:
    """Send one queued e-mail unless it is sent or being sent; False when nothing was sent.

    A failure is recorded with the time of the next attempt and logged without the
    address; the sweep comes back for it.
    """
    now = timezone.now()
    claimed = OutboundEmail.objects.filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - email_claim_lease()),
        pk=email_id,
        sent_at__isnull=True,
    ).update(claimed_at=now, next_attempt_at=now + email_claim_lease(), attempts=F("attempts") + 1)
    if not claimed:
        return False
    email = OutboundEmail.objects.get(pk=email_id)
    if email.stale_at is not None and email.stale_at <= now:
        OutboundEmail.objects.filter(pk=email_id).update(
            claimed_at=None,
            next_attempt_at=None,
            text_body="",
            html_body="",
            last_error=f"Dropped unsent: stale since {email.stale_at.isoformat()}.",
        )
        logger.info("E-mail %s (%s) dropped unsent: stale", email.pk, email.kind)
        return False
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text_body,
        to=[email.to],
        reply_to=[email.reply_to] if email.reply_to else None,
    )
    message.attach_alternative(email.html_body, "text/html")
    try:
        message.send()
    except Exception as exc:  # any failure of the mail server: retry later
        _record_failure(email, error=f"{type(exc).__name__}: {exc}")
        return False
    OutboundEmail.objects.filter(pk=email_id).update(
        sent_at=timezone.now(),
        claimed_at=None,
        next_attempt_at=None,
        text_body="",
        html_body="",
        last_error="",
    )
    return True


def _record_failure(email: OutboundEmail, *, error: str) -> None:
    if email.attempts >= MAX_ATTEMPTS:
        next_attempt_at = None
        logger.error(
            "E-mail %s (%s) not sent after %d attempts", email.pk, email.kind, MAX_ATTEMPTS
        )
    else:
        first = timedelta(seconds=settings.OUTBOX_RETRY_FIRST_SECONDS)
        delay = min(first * 2 ** (email.attempts - 1), RETRY_MAX)
        next_attempt_at = timezone.now() + delay
        logger.warning(
            "E-mail %s (%s) not sent (%s); next attempt in %d s",
            email.pk,
            email.kind,
            error.split(":", 1)[0],
            delay.total_seconds(),
        )
    OutboundEmail.objects.filter(pk=email.pk).update(
        claimed_at=None, next_attempt_at=next_attempt_at, last_error=error[:ERROR_MAX_LENGTH]
    )


def email_claim_due(*, now: datetime) -> list[int]:
    """The unsent e-mails due for an attempt, leased so the next sweep does not queue them
    again while this one's tasks run; call it in a transaction and enqueue after commit."""
    ids = claim_rows(
        OutboundEmail.objects.filter(sent_at__isnull=True, next_attempt_at__lte=now).order_by(
            "next_attempt_at"
        ),
        limit=settings.DUE_WORK_BATCH_SIZE,
    )
    if ids:
        OutboundEmail.objects.filter(pk__in=ids).update(next_attempt_at=now + email_claim_lease())
    return ids


def email_retry_now(*, email_ids: list[int]) -> int:
    """An operator's 'try again': unsent e-mails become due now, given up or not."""
    return OutboundEmail.objects.filter(pk__in=email_ids, sent_at__isnull=True).update(
        next_attempt_at=timezone.now(), attempts=0
    )


def email_purge_sent(*, now: datetime) -> int:
    """Forget sent e-mails after OUTBOX_KEEP_DAYS, a batch at a time."""
    cutoff = now - timedelta(days=settings.OUTBOX_KEEP_DAYS)
    return rows_delete_batch(rows=OutboundEmail.objects.filter(sent_at__lt=cutoff))
