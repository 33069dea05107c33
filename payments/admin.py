from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from payments.exceptions import PaymentError
from payments.models import (
    Dispute,
    Payment,
    PaymentState,
    Refund,
    RefundState,
    ReservationBill,
    StripeCustomer,
    StripeWebhookEvent,
)
from payments.selectors import (
    BillState,
    MoneyTotals,
    money_daily_totals,
    payment_refundable_cents,
    reservation_bills,
)
from payments.services.refunds import refund_create, refund_retry
from reservations.pricing import format_dollars
from secure_my_spot.exceptions import ApplicationError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows mirror Stripe's records: editing them here would only make them disagree."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ("email", "stripe_customer_id", "created_at")
    search_fields = ("email", "stripe_customer_id")


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "received_at", "processed_at", "outcome")
    list_filter = ("type",)
    search_fields = ("event_id",)


# The permission to give money back: Refund rows are only ever added by `refund_create`.
REFUND_PERMISSION = "payments.add_refund"


class RefundForm(forms.Form):
    amount_dollars = forms.DecimalField(
        label="Amount (US dollars)",
        min_value=Decimal("0.01"),
        max_digits=9,
        decimal_places=2,
        help_text="Dollars and cents, e.g. 12.50 for $12.50 (1250 cents).",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown to the person on their receipt.",
    )


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    """Read-only, with one way to change money: "Refund…" of a succeeded payment, for
    operators with the `payments.add_refund` permission."""

    list_display = (
        "reservation",
        "attempt",
        "state",
        "amount_cents",
        "error_code",
        "created_at",
        "refund_link",
    )
    list_filter = ("state",)
    search_fields = ("reservation__public_id", "stripe_payment_intent_id")
    list_select_related = ("reservation",)
    actions = ("refund",)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    @admin.display(description="refund")
    def refund_link(self, payment: Payment) -> str:
        if payment.state != PaymentState.SUCCEEDED:
            return "-"
        url = reverse("admin:payments_payment_refund", args=[payment.pk])
        return format_html('<a href="{}">Refund…</a>', url)

    @admin.action(description="Refund… (one succeeded payment)", permissions=["refund"])
    def refund(self, request: HttpRequest, queryset) -> HttpResponse | None:
        payment_ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(payment_ids) != 1:
            self.message_user(request, "Choose exactly one payment to refund.", messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:payments_payment_refund", args=payment_ids))

    def get_urls(self):
        refund = path(
            "<path:object_id>/refund/",
            self.admin_site.admin_view(self.refund_view),
            name="payments_payment_refund",
        )
        return [refund, *super().get_urls()]

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A form for the amount (in dollars) and the reason; `refund_create` checks the
        amount against what is left, under the payment's lock."""
        if not self.has_refund_permission(request):
            raise PermissionDenied
        payment = self.get_object(request, unquote(object_id))
        if payment is None:
            raise Http404("No such payment.")
        left = payment_refundable_cents(payment=payment)
        form = RefundForm(
            request.POST if request.method == "POST" else None,
            initial={"amount_dollars": Decimal(left) / 100},
        )
        if form.is_valid():
            try:
                refund = refund_create(
                    payment_id=payment.pk,
                    amount_cents=int(form.cleaned_data["amount_dollars"] * 100),
                    reason=form.cleaned_data["reason"],
                    requested_by=request.user,
                )
            except ApplicationError as refused:
                field = "amount_dollars" if refused.field == "amount_cents" else refused.field
                form.add_error(field if field in form.fields else None, refused.message)
            else:
                self.message_user(request, *_refund_outcome(refund))
                changelist = reverse("admin:payments_refund_changelist")
                return HttpResponseRedirect(f"{changelist}?payment__id__exact={payment.pk}")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund payment {payment.pk}",
            "opts": self.opts,
            "payment": payment,
            "form": form,
            "paid": format_dollars(payment.amount_cents),
            "left": format_dollars(left),
        }
        return TemplateResponse(request, "admin/payments/payment/refund.html", context)


def _refund_outcome(refund: Refund) -> tuple[str, int]:
    amount = format_dollars(refund.amount_cents)
    if refund.state == RefundState.SUCCEEDED:
        return f"Refund {refund.pk} of {amount} succeeded.", messages.SUCCESS
    if refund.state == RefundState.FAILED:
        return f"Stripe refused refund {refund.pk}: {refund.failure_reason}", messages.ERROR
    if not refund.stripe_refund_id:
        return (
            f"Refund {refund.pk} of {amount} is pending: Stripe could not be reached. "
            "Retry it from this list.",
            messages.WARNING,
        )
    return f"Refund {refund.pk} of {amount} is {refund.state} at Stripe.", messages.INFO


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    """Refunds are made from a payment ("Refund…"); here they are listed, and a pending one
    (Stripe could not be reached) is sent again."""

    list_display = (
        "id",
        "payment",
        "amount",
        "state",
        "reason",
        "requested_by",
        "stripe_refund_id",
        "failure_reason",
        "created_at",
    )
    list_filter = ("state",)
    search_fields = (
        "stripe_refund_id",
        "payment__stripe_payment_intent_id",
        "=payment__reservation__public_id",
    )
    list_select_related = ("payment__reservation", "requested_by")
    actions = ("retry",)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, refund: Refund) -> str:
        return format_dollars(refund.amount_cents)

    @admin.action(description="Ask Stripe again for the pending refunds", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset) -> None:
        for refund_id in queryset.filter(state=RefundState.PENDING).values_list("pk", flat=True):
            try:
                self.message_user(request, *_refund_outcome(refund_retry(refund_id=refund_id)))
            except (ApplicationError, PaymentError) as failed:
                self.message_user(request, f"Refund {refund_id}: {failed}", messages.ERROR)


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    """As Stripe reports them: answered with evidence in Stripe's dashboard, by the due date."""

    list_display = (
        "stripe_dispute_id",
        "payment",
        "amount",
        "status",
        "reason",
        "evidence_due_by",
        "closed_at",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = (
        "stripe_dispute_id",
        "payment__stripe_payment_intent_id",
        "=payment__reservation__public_id",
    )
    list_select_related = ("payment__reservation",)

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, dispute: Dispute) -> str:
        return format_dollars(dispute.amount_cents)


# --- Money at a glance: billed reservations by payment state, and daily totals ---

MONEY_DAYS_DEFAULT = 30
MONEY_DAYS_MAX = 366
# The totals read whole New York days around the range: keep both ends inside what dates hold.
MONEY_FIRST_DAY, MONEY_LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


class BillStateFilter(admin.SimpleListFilter):
    title = "payment state"
    parameter_name = "payment_state"

    def lookups(self, request, model_admin):
        return BillState.choices

    def queryset(self, request, queryset):
        if self.value() in BillState.values:
            return queryset.filter(bill_state=self.value())
        return queryset


class MoneyRangeForm(forms.Form):
    """The New York days of the totals, both included."""

    start = forms.DateField(
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is None or end is None:
            return cleaned
        if start < MONEY_FIRST_DAY or end > MONEY_LAST_DAY:
            raise ValidationError(f"Days from {MONEY_FIRST_DAY} to {MONEY_LAST_DAY} only.")
        if end < start:
            raise ValidationError("The end comes before the start.")
        if (end - start).days + 1 > MONEY_DAYS_MAX:
            raise ValidationError(f"At most {MONEY_DAYS_MAX} days at once.")
        return cleaned


def _money_cells(totals: MoneyTotals) -> list[str]:
    return [
        format_dollars(totals.charged_cents),
        str(totals.charged_count),
        format_dollars(totals.refunded_cents),
        str(totals.refunded_count),
        format_dollars(totals.failed_cents),
        str(totals.failed_count),
        format_dollars(totals.disputed_cents),
        str(totals.disputed_count),
    ]


def _dollars_or_dash(cents: int | None) -> str:
    return "-" if cents is None else format_dollars(cents)


@admin.register(ReservationBill)
class ReservationBillAdmin(ReadOnlyAdmin):
    """Billed reservations by where their money stands, in New York time like the daily
    totals (linked from the list) whose days the date hierarchy then matches."""

    list_display = (
        "public_id",
        "spot",
        "email",
        "end_time",
        "billed_amount",
        "paid_amount",
        "refunded_amount",
        "dispute_open",
        "payment_state",
    )
    list_filter = (BillStateFilter, "status")
    date_hierarchy = "end_time"
    search_fields = ("email", "=public_id")
    list_select_related = ("spot",)
    ordering = ("-end_time", "-id")

    def get_queryset(self, request: HttpRequest):
        return reservation_bills()

    @admin.display(description="billed", ordering="amount_cents")
    def billed_amount(self, bill: ReservationBill) -> str:
        return _dollars_or_dash(bill.amount_cents)

    @admin.display(description="paid", ordering="paid_cents")
    def paid_amount(self, bill: ReservationBill) -> str:
        return _dollars_or_dash(bill.paid_cents)

    @admin.display(description="refunded", ordering="refunded_cents")
    def refunded_amount(self, bill: ReservationBill) -> str:
        return format_dollars(bill.refunded_cents)

    @admin.display(description="open dispute", boolean=True, ordering="open_dispute")
    def dispute_open(self, bill: ReservationBill) -> bool:
        return bill.open_dispute

    @admin.display(description="payment state", ordering="bill_state")
    def payment_state(self, bill: ReservationBill) -> str:
        return BillState(bill.bill_state).label

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # Rendered inside the override: the list's queries and times are evaluated then.
        context = {
            "money_totals_allowed": request.user.has_perm("payments.view_payment"),
            **(extra_context or {}),
        }
        with timezone.override(ZoneInfo(settings.DISPLAY_TIME_ZONE)):
            response = super().changelist_view(request, context)
            if isinstance(response, TemplateResponse):
                response.render()
        return response

    def get_urls(self):
        totals = path(
            "totals/",
            self.admin_site.admin_view(self.totals_view),
            name="payments_reservationbill_totals",
        )
        return [totals, *super().get_urls()]

    def totals_view(self, request: HttpRequest) -> HttpResponse:
        """Charged, refunded, failed and disputed per New York day from `start` to `end`
        (YYYY-MM-DD, both included; the last 30 days by default)."""
        if not request.user.has_perm("payments.view_payment"):
            raise PermissionDenied
        today = timezone.localdate(timezone=ZoneInfo(settings.DISPLAY_TIME_ZONE))
        defaults = {
            "start": (today - timedelta(days=MONEY_DAYS_DEFAULT - 1)).isoformat(),
            "end": today.isoformat(),
        }
        form = MoneyRangeForm({**defaults, **request.GET.dict()})
        days = money_daily_totals(**form.cleaned_data) if form.is_valid() else []
        context = {
            **self.admin_site.each_context(request),
            "title": "Daily money totals",
            "opts": self.opts,
            "form": form,
            "days": [(totals.day, _money_cells(totals)) for totals in days],
            "total": _money_cells(sum(days, start=MoneyTotals())),
        }
        return TemplateResponse(request, "admin/payments/money_totals.html", context)
