from django.db import models
from django.db.models import Q


class OutboundEmail(models.Model):
    """One e-mail, written in the transaction of the change that causes it (an outbox).

    So a committed change always has its e-mail, a rolled-back one never does, and no request
    waits on the mail server: the workers send it under a claim (once in practice; twice only
    if a worker dies between the server's acceptance and the stamp) and try again later
    when it fails.
    The bodies are wiped once sent: they may carry sign-in secrets (reset links).
    """

    kind = models.CharField(max_length=50, help_text="The template, e.g. 'confirmed'.")
    to = models.EmailField(max_length=254)
    reply_to = models.EmailField(max_length=254, blank=True)
    subject = models.CharField(max_length=255)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    dedupe_key = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        unique=True,
        help_text="Set for an e-mail that exists once per thing (a reservation's confirmation).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the workers' sweep may send it; empty once sent or given up.",
    )
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it (the claim lapses)."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    stale_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Past this it would mislead (a reminder after the stay's end): dropped unsent.",
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        # Sending again what was given up (a bounced address, say) is a decision of its own.
        permissions = [("retry_outboundemail", "Can send unsent e-mails again now")]
        indexes = [
            # The sweep of unsent mail: a handful of rows, however much has been sent.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(sent_at__isnull=True),
                name="outbox_unsent_due",
            ),
            models.Index(fields=["to", "created_at"], name="outbox_to_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to}"
