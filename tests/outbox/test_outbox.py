"""The outbox: queued in the caller's transaction, sent once by the workers, retried later."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from outbox.models import OutboundEmail
from outbox.services import (
    MAX_ATTEMPTS,
    email_claim_due,
    email_claim_lease,
    email_purge_sent,
    email_queue,
    email_retry_now,
    email_send,
)
from testing.factories import UserFactory

pytestmark = pytest.mark.django_db

TEMPLATE = {"template": "users/email/password_reset", "subject": "Reset your password"}
CONTEXT = {"token": "the-secret-token", "link": None, "valid_for": "1 hour"}


def queue(**kwargs) -> OutboundEmail:
    return email_queue(
        kind="password_reset", to="a@example.com", context=CONTEXT, **TEMPLATE, **kwargs
    )


def test_a_queued_email_is_sent_once_and_its_bodies_wiped(mailoutbox):
    email = queue(reply_to="help@example.com")

    assert email_send(email_id=email.pk) is True
    assert email_send(email_id=email.pk) is False

    [sent] = mailoutbox
    assert (sent.to, sent.reply_to, sent.subject) == (
        ["a@example.com"],
        ["help@example.com"],
        "Reset your password",
    )
    assert "the-secret-token" in sent.body and "the-secret-token" in sent.alternatives[0][0]
    email.refresh_from_db()
    assert email.sent_at is not None and email.next_attempt_at is None
    # A reset link is a key to the account: it does not stay in the database.
    assert (email.text_body, email.html_body) == ("", "")


def test_a_dedupe_key_queues_an_email_once():
    assert queue(dedupe_key="reservation:1:confirmed") is not None
    assert queue(dedupe_key="reservation:1:confirmed") is None
    assert OutboundEmail.objects.count() == 1


def test_a_failed_send_is_recorded_and_retried_later_with_backoff(mail_server_down):
    email = queue()
    before = timezone.now()

    assert email_send(email_id=email.pk) is False
    email.refresh_from_db()
    assert (email.sent_at, email.claimed_at, email.attempts) == (None, None, 1)
    assert "ConnectionRefusedError" in email.last_error
    first_wait = email.next_attempt_at - before

    assert email_send(email_id=email.pk) is False
    email.refresh_from_db()
    assert email.attempts == 2
    assert email.next_attempt_at - before > first_wait >= timedelta(seconds=29)


def test_an_email_still_unsent_when_it_goes_stale_is_dropped(mailoutbox, mail_server_down):
    email = queue(stale_at=timezone.now() + timedelta(minutes=5))
    assert email_send(email_id=email.pk) is False  # the mail server is down
    OutboundEmail.objects.filter(pk=email.pk).update(stale_at=timezone.now())

    assert email_send(email_id=email.pk) is False
    email.refresh_from_db()
    assert (email.sent_at, email.next_attempt_at, email.text_body) == (None, None, "")
    assert email.last_error.startswith("Dropped unsent: stale since")
    assert email_claim_due(now=timezone.now() + timedelta(days=365)) == []
    assert mailoutbox == []


def test_after_the_last_attempt_only_an_operator_retries(mail_server_down):
    email = queue()
    OutboundEmail.objects.filter(pk=email.pk).update(attempts=MAX_ATTEMPTS - 1)

    assert email_send(email_id=email.pk) is False
    email.refresh_from_db()
    assert email.next_attempt_at is None
    assert email_claim_due(now=timezone.now() + timedelta(days=365)) == []

    assert email_retry_now(email_ids=[email.pk]) == 1
    assert email_claim_due(now=timezone.now()) == [email.pk]


def test_a_send_in_progress_is_not_sent_again_until_its_claim_lapses(mailoutbox, settings):
    email = queue()
    now = timezone.now()
    OutboundEmail.objects.filter(pk=email.pk).update(claimed_at=now)
    assert email_send(email_id=email.pk) is False

    lapsed = now - email_claim_lease() - timedelta(seconds=1)
    OutboundEmail.objects.filter(pk=email.pk).update(claimed_at=lapsed)
    assert email_send(email_id=email.pk) is True
    assert len(mailoutbox) == 1


def test_the_sweep_leaves_new_mail_to_its_task_then_leases_what_is_due():
    email = queue()
    now = timezone.now()

    assert email_claim_due(now=now) == []
    later = email.next_attempt_at
    assert email_claim_due(now=later) == [email.pk]
    # Leased: the next sweeps leave it to the task just queued.
    assert email_claim_due(now=later + timedelta(seconds=1)) == []


def test_sent_mail_is_forgotten_after_the_keeping_period(settings):
    old, recent = queue(), queue()
    now = timezone.now()
    OutboundEmail.objects.filter(pk=old.pk).update(
        sent_at=now - timedelta(days=settings.OUTBOX_KEEP_DAYS, seconds=1)
    )
    OutboundEmail.objects.filter(pk=recent.pk).update(sent_at=now)

    assert email_purge_sent(now=now) == 1
    assert list(OutboundEmail.objects.values_list("pk", flat=True)) == [recent.pk]


def test_a_sweep_forgets_one_batch_and_leaves_the_rest_to_the_next(settings):
    settings.DUE_WORK_BATCH_SIZE = 2
    now = timezone.now()
    old = [queue() for _ in range(3)]
    OutboundEmail.objects.filter(pk__in=[email.pk for email in old]).update(
        sent_at=now - timedelta(days=settings.OUTBOX_KEEP_DAYS, seconds=1)
    )

    assert [email_purge_sent(now=now) for _ in range(3)] == [2, 1, 0]
    assert not OutboundEmail.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_send_task_is_enqueued_after_commit_and_never_for_a_rollback(enqueued):
    with transaction.atomic():
        email = queue()
        assert enqueued.drain() == []
    assert enqueued.drain() == [("tasks.email_send", [email.pk])]

    with pytest.raises(RuntimeError), transaction.atomic():
        queue()
        raise RuntimeError("rolled back")
    assert enqueued.drain() == []
    assert OutboundEmail.objects.count() == 1
    assert mail.outbox == []


def test_operators_see_what_waits_and_why_but_no_body(admin_client, mail_server_down):
    email = queue()
    email_send(email_id=email.pk)
    changelist = reverse("admin:outbox_outboundemail_changelist")

    page = admin_client.get(reverse("admin:outbox_outboundemail_change", args=[email.pk]))
    assert page.status_code == 200
    assert b"ConnectionRefusedError" in page.content and b"the-secret-token" not in page.content

    OutboundEmail.objects.filter(pk=email.pk).update(next_attempt_at=None)
    answer = admin_client.post(
        changelist, {"action": "retry_now", "_selected_action": [email.pk]}, follow=True
    )
    assert answer.status_code == 200
    assert email_claim_due(now=timezone.now()) == [email.pk]


def test_an_operator_who_may_only_view_cannot_send_again(client, mail_server_down):
    email = queue()
    email_send(email_id=email.pk)
    OutboundEmail.objects.filter(pk=email.pk).update(next_attempt_at=None)
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_outboundemail"))
    client.force_login(viewer)
    changelist = reverse("admin:outbox_outboundemail_changelist")

    assert client.get(changelist).status_code == 200
    client.post(changelist, {"action": "retry_now", "_selected_action": [email.pk]})

    email.refresh_from_db()
    assert email.next_attempt_at is None
