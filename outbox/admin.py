from django.contrib import admin

from outbox.models import OutboundEmail
from outbox.services import email_retry_now


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    """Read-only: what was sent, what waits and why. Bodies are not shown (reset links)."""

    list_display = ("kind", "to", "created_at", "sent_at", "attempts", "next_attempt_at")
    list_filter = ("kind", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("to",)
    fields = (
        "kind",
        "to",
        "reply_to",
        "subject",
        "dedupe_key",
        "created_at",
        "next_attempt_at",
        "claimed_at",
        "sent_at",
        "attempts",
        "last_error",
    )
    readonly_fields = fields
    actions = ("retry_now",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("outbox.retry_outboundemail")

    @admin.action(description="Try to send the selected unsent e-mails now", permissions=["retry"])
    def retry_now(self, request, queryset) -> None:
        count = email_retry_now(email_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} e-mail(s) will be sent at the next sweep.")
