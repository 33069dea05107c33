"""Reads of money: receipts for drivers, totals for operators."""

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate

from parking_spots.pricing import Segment
from payments import gateway
from payments.models import (
    REFUND_COUNTING_STATES,
    Dispute,
    Payment,
    PaymentState,
    Refund,
    RefundState,
    ReservationBill,
)
from reservations.emails import format_local_time, format_plate, format_segment
from reservations.links import reservation_get_by_link_token
from reservations.models import BILLED_STATUSES, Reservation, ReservationStatus
from reservations.pricing import format_dollars, reservation_quote
from secure_my_spot.exceptions import ConflictError


def payment_refundable_cents(*, payment: Payment) -> int:
    """What is left to refund: the amount paid less every refund that is or may be paid.

    Only final under the payment's row lock (`refund_create` reads it there).
    """
    counted = payment.refunds.filter(state__in=REFUND_COUNTING_STATES).aggregate(
        total=Sum("amount_cents")
    )["total"]
    return max(payment.amount_cents - (counted or 0), 0)


# --- Money at a glance, for operators (the admin's bills list and daily totals) ---


class BillState(models.TextChoices):
    """Where a billed reservation's money stands, the most pressing first: a dispute outranks
    a refund, which outranks the payment it came from."""

    DISPUTED = "disputed", "disputed"
    REFUNDED_IN_FULL = "refunded_in_full", "refunded in full"
    REFUNDED_IN_PART = "refunded_in_part", "refunded in part"
    SUCCEEDED = "succeeded", "succeeded"
    CHARGE_PENDING = "charge_pending", "charge pending"
    FAILED = "failed", "failed"
    # No payment tried: the charge has not run yet, or a zero bill was marked paid.
    UNBILLED = "unbilled", "unbilled"


def reservation_bills() -> QuerySet[ReservationBill]:
    """Billed reservations, each annotated with its money in the same query (no query per row):
    `paid_cents` (its succeeded payment, at most one), `refunded_cents` (succeeded refunds
    only: a pending one may still fail), `open_dispute` and `bill_state` (a BillState)."""
    payments = Payment.objects.filter(reservation=OuterRef("pk"))
    disputes = Dispute.objects.filter(payment__reservation=OuterRef("pk"))
    refunded = (
        Refund.objects.filter(payment__reservation=OuterRef("pk"), state=RefundState.SUCCEEDED)
        .order_by()
        .values("payment__reservation")
        .annotate(total=Sum("amount_cents"))
        .values("total")
    )
    return (
        ReservationBill.objects.filter(status__in=BILLED_STATUSES)
        .annotate(
            paid_cents=Subquery(
                payments.filter(state=PaymentState.SUCCEEDED).values("amount_cents")[:1]
            ),
            refunded_cents=Coalesce(Subquery(refunded), 0),
            open_dispute=Exists(disputes.filter(closed_at__isnull=True)),
        )
        .alias(
            tried=Exists(payments),
            pending=Exists(payments.filter(state=PaymentState.PENDING)),
            disputed=Exists(disputes),
        )
        .annotate(
            bill_state=Case(
                When(disputed=True, then=Value(BillState.DISPUTED)),
                When(
                    refunded_cents__gt=0,
                    refunded_cents__gte=F("paid_cents"),
                    then=Value(BillState.REFUNDED_IN_FULL),
                ),
                When(refunded_cents__gt=0, then=Value(BillState.REFUNDED_IN_PART)),
                When(paid_cents__isnull=False, then=Value(BillState.SUCCEEDED)),
                When(pending=True, then=Value(BillState.CHARGE_PENDING)),
                When(tried=True, then=Value(BillState.FAILED)),
                default=Value(BillState.UNBILLED),
                output_field=models.CharField(),
            )
        )
    )


@dataclass(frozen=True, kw_only=True)
class MoneyTotals:
    """What moved in a period, in integer cents, with how many rows made it."""

    charged_cents: int = 0
    charged_count: int = 0
    refunded_cents: int = 0
    refunded_count: int = 0
    failed_cents: int = 0
    failed_count: int = 0
    disputed_cents: int = 0
    disputed_count: int = 0

    def __add__(self, other: "MoneyTotals") -> "MoneyTotals":
        return MoneyTotals(
            **{
                field.name: getattr(self, field.name) + getattr(other, field.name)
                for field in fields(MoneyTotals)
            }
        )


@dataclass(frozen=True, kw_only=True)
class DayTotals(MoneyTotals):
    day: date


def _sums_by_day(
    queryset: QuerySet, *, moment: str, since: datetime, until: datetime, zone: ZoneInfo
) -> dict[date, tuple[int, int]]:
    """{day: (sum of amount_cents, rows)} in one GROUP BY query, days cut in `zone`."""
    rows = (
        queryset.filter(**{f"{moment}__gte": since, f"{moment}__lt": until})
        .annotate(day=TruncDate(moment, tzinfo=zone))
        .order_by()
        .values("day")
        .annotate(cents=Sum("amount_cents"), count=Count("pk"))
        .values_list("day", "cents", "count")
    )
    return {day: (cents, count) for day, cents, count in rows}


def money_daily_totals(*, start: date, end: date) -> list[DayTotals]:
    """Each day from `start` to `end` (inclusive, New York days, empty days included): what was
    charged, refunded, failed and disputed; one query per kind, whatever the range.

    A day is the day the row reached its state: `updated_at` of a succeeded payment or
    refund (a row is saved when its state changes; the `(state, updated_at)` indexes serve
    this read), the first failed payment of a reservation (a retry or failed settlement of
    the same bill does not count it again), a dispute's `created_at` (when its webhook
    recorded it).
    """
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    since = datetime.combine(start, time.min, tzinfo=zone)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
    window = {"since": since, "until": until, "zone": zone}
    earlier_failure = Payment.objects.filter(
        reservation=OuterRef("reservation"), state=PaymentState.FAILED
    ).filter(
        Q(updated_at__lt=OuterRef("updated_at"))
        | Q(updated_at=OuterRef("updated_at"), pk__lt=OuterRef("pk"))
    )
    charged = _sums_by_day(
        Payment.objects.filter(state=PaymentState.SUCCEEDED), moment="updated_at", **window
    )
    refunded = _sums_by_day(
        Refund.objects.filter(state=RefundState.SUCCEEDED), moment="updated_at", **window
    )
    failed = _sums_by_day(
        Payment.objects.filter(state=PaymentState.FAILED).exclude(Exists(earlier_failure)),
        moment="updated_at",
        **window,
    )
    disputed = _sums_by_day(Dispute.objects.all(), moment="created_at", **window)
    days = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        charged_cents, charged_count = charged.get(day, (0, 0))
        refunded_cents, refunded_count = refunded.get(day, (0, 0))
        failed_cents, failed_count = failed.get(day, (0, 0))
        disputed_cents, disputed_count = disputed.get(day, (0, 0))
        days.append(
            DayTotals(
                day=day,
                charged_cents=charged_cents,
                charged_count=charged_count,
                refunded_cents=refunded_cents,
                refunded_count=refunded_count,
                failed_cents=failed_cents,
                failed_count=failed_count,
                disputed_cents=disputed_cents,
                disputed_count=disputed_count,
            )
        )
    return days


# --- Receipts, for drivers (the receipt routes, the PDF and the "ended" e-mail) ---

# The salt of a receipt link (reservations/links.py signs it as it signs a manage link): it
# reads the receipt and nothing else, so it may be forwarded (to an employer, to contest a
# ticket) without handing over the reservation, and it serves accounts as well as guests.
RECEIPT_LINK = "payments.receipt-link"
CANCELLED_HAS_NO_RECEIPT = "A cancelled reservation is never billed, so it has no receipt."
NOT_BILLED_YET = "This reservation is {status}: it is billed, and has a receipt, once it ends."
PAYMENT_WORDS = {
    ReservationStatus.ENDED: "charge under way",
    ReservationStatus.PAID: "paid",
    ReservationStatus.PAYMENT_FAILED: "charge failed, not paid",
}


@dataclass(frozen=True)
class ReceiptSpot:
    meter_number: str | None
    street: str
    borough: str
    # The block and side: what a parking ticket names, so what contesting one needs.
    from_street: str
    to_street: str
    side_of_street: str


@dataclass(frozen=True)
class ReceiptRefund:
    amount_cents: int
    reason: str
    state: str
    created_at: datetime


@dataclass(frozen=True)
class Receipt:
    """What a billed reservation cost and how it was paid; times in New York time.

    The payment shown is the one that succeeded, else the latest attempt; none for a bill
    that needed no charge (zero) or whose charge was not tried yet.
    """

    reservation_id: str
    status: str
    spot: ReceiptSpot
    plate: str | None  # None (and `state` too) when the stay named no car
    state: str | None
    start_time: datetime
    end_time: datetime
    billed_minutes: int
    rate_cents: int  # per hour
    amount_cents: int
    currency: str
    card_brand: str
    card_last4: str
    payment_state: str | None
    stripe_payment_intent_id: str | None
    refunds: tuple[ReceiptRefund, ...]
    refunded_cents: int
    # The bill's priced stretches (parking_spots.pricing), and whether the minimum charge
    # replaced their total: what makes `amount_cents` what it is.
    segments: tuple[Segment, ...]
    minimum_applied: bool

    @property
    def lines(self) -> tuple[tuple[str, str], ...]:
        """The receipt as a person reads it, label and value: the PDF and the e-mail."""
        spot = self.spot
        lines = [
            ("Reservation", self.reservation_id),
            ("Meter", spot.meter_number or "none (not a metered space)"),
            ("Street", spot.street or "not recorded"),
        ]
        if spot.from_street and spot.to_street:
            lines.append(("Between", f"{spot.from_street} and {spot.to_street}"))
        if spot.side_of_street:
            lines.append(("Side of street", spot.side_of_street))
        lines += [
            ("Borough", spot.borough or "not recorded"),
            ("Plate", format_plate(self.plate or "", self.state or "") or "not recorded"),
            ("Start", format_local_time(self.start_time)),
            ("End", format_local_time(self.end_time)),
            ("Billed time", f"{self.billed_minutes} min"),
            ("Rate", f"{format_dollars(self.rate_cents)} per hour"),
        ]
        lines += [("Metered", format_segment(segment)) for segment in self.segments]
        if not self.segments:
            lines.append(("Metered", "none: the stay was outside the meter's hours"))
        lines += self._total_lines()
        lines += [
            ("Amount", format_dollars(self.amount_cents)),
            ("Card", _card_words(self.card_brand, self.card_last4)),
            ("Payment", PAYMENT_WORDS[self.status]),
        ]
        if self.stripe_payment_intent_id:
            lines.append(("Stripe PaymentIntent", self.stripe_payment_intent_id))
        for refund in self.refunds:
            when = format_local_time(refund.created_at)
            lines.append(
                (
                    "Refund",
                    f"{format_dollars(refund.amount_cents)} ({refund.state}, {when}): "
                    f"{refund.reason}",
                )
            )
        if self.refunds:
            lines.append(("Refunded", format_dollars(self.refunded_cents)))
        return tuple(lines)

    def _total_lines(self) -> list[tuple[str, str]]:
        """Why the amount is not the sum of the lines above it, when it is not."""
        metered = sum(segment.amount_cents for segment in self.segments)
        if self.minimum_applied:
            return [
                (
                    "Minimum charge",
                    f"the metered time comes to {format_dollars(metered)}; "
                    f"a stay costs at least {format_dollars(self.amount_cents)}",
                )
            ]
        if metered != self.amount_cents:
            return [
                (
                    "Rounding",
                    f"the metered lines come to {format_dollars(metered)}, each rounded to "
                    "the cent; the amount is rounded once, on the whole stay",
                )
            ]
        return []


def _card_words(brand: str, last4: str) -> str:
    if not last4:
        return "none saved"
    return f"{brand.title() or 'Card'} ending in {last4}"


def receipt_get(*, reservation: Reservation) -> Receipt:
    """The receipt of a billed reservation (ended, paid or payment_failed); a reservation
    without a bill is a ConflictError saying why."""
    if reservation.status not in BILLED_STATUSES:
        if reservation.status == ReservationStatus.CANCELLED:
            raise ConflictError(CANCELLED_HAS_NO_RECEIPT)
        raise ConflictError(NOT_BILLED_YET.format(status=reservation.status))
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    payments = list(Payment.objects.filter(reservation=reservation).order_by("attempt"))
    payment = next((p for p in payments if p.state == PaymentState.SUCCEEDED), None) or (
        payments[-1] if payments else None
    )
    refunds = tuple(
        ReceiptRefund(
            amount_cents=refund.amount_cents,
            reason=refund.reason,
            state=refund.state,
            created_at=refund.created_at.astimezone(zone),
        )
        for refund in (payment.refunds.all() if payment else ())
    )
    # The card that paid; the reservation's saved card where no attempt recorded one.
    card = payment if payment is not None and payment.card_last4 else reservation
    spot = reservation.spot
    # The bill's own computation (reservations/services.py `_end_locked`), itemised.
    bill = reservation_quote(reservation, end=reservation.ended_at)
    return Receipt(
        reservation_id=reservation.public_id,
        status=reservation.status,
        spot=ReceiptSpot(
            meter_number=spot.meter_number,
            street=spot.street,
            borough=spot.borough,
            from_street=spot.from_street,
            to_street=spot.to_street,
            side_of_street=spot.side_of_street,
        ),
        plate=reservation.plate or None,
        state=reservation.plate_state or None,
        start_time=reservation.start_time.astimezone(zone),
        end_time=reservation.ended_at.astimezone(zone),
        # The metered minutes, at the first-hour rate as booked (later hours may cost more).
        billed_minutes=bill.metered_minutes,
        rate_cents=reservation.first_hour_cents,
        amount_cents=reservation.amount_cents,
        currency=payment.currency if payment is not None else gateway.CURRENCY,
        card_brand=card.card_brand,
        card_last4=card.card_last4,
        payment_state=payment.state if payment is not None else None,
        stripe_payment_intent_id=(payment.stripe_payment_intent_id or None) if payment else None,
        refunds=refunds,
        refunded_cents=sum(r.amount_cents for r in refunds if r.state == RefundState.SUCCEEDED),
        segments=tuple(
            replace(segment, start=segment.start.astimezone(zone), end=segment.end.astimezone(zone))
            for segment in bill.segments
        ),
        minimum_applied=bill.minimum_applied,
    )


def reservation_get_by_receipt_link(*, token: str) -> Reservation:
    """The reservation (an account's or a guest's) a receipt link names, else a 404."""
    return reservation_get_by_link_token(token=token, purpose=RECEIPT_LINK, guests_only=False)
