from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeBoundary, RangeOperators
from django.db import models
from django.db.models import Func, Q
from django.utils import timezone

from parking_spots.models import ParkingSpot
from secure_my_spot.ids import new_public_id
from users.plates import PLATE_MAX_LENGTH, STATE_MAX_LENGTH


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class ReservationStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Pending payment"
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"
    PAID = "paid", "Paid"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    CANCELLED = "cancelled", "Cancelled"


# The statuses in which a reservation occupies its spot for [start_time, end_time).
HOLDING_STATUSES = (ReservationStatus.PENDING_PAYMENT, ReservationStatus.ACTIVE)
# The statuses that carry a final bill.
BILLED_STATUSES = (
    ReservationStatus.ENDED,
    ReservationStatus.PAID,
    ReservationStatus.PAYMENT_FAILED,
)


class Reservation(models.Model):
    """A person's claim on one spot for [start_time, end_time), and its bill.

    No double booking is PostgreSQL's job: an exclusion constraint forbids two holding rows
    (pending_payment or active) of one spot with overlapping periods. A constraint cannot
    depend on now(), so a pending_payment row whose hold ran out still counts for it; the
    booking service therefore locks the spot row, cancels the spot's stale holds, re-checks
    and inserts in one transaction, and maps a violation of the constraint (a writer that
    skipped the lock) to a 409. Readers (availability) treat a stale hold as free.
    """

    Status = ReservationStatus

    public_id = models.CharField(
        "public id",
        max_length=32,
        unique=True,
        default=new_public_id,
        editable=False,
        help_text="The id every public route and answer uses; the integer key stays internal, "
        "so no reservation can be found by counting.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reservations",
        help_text="Empty for a guest reservation.",
    )
    email = models.EmailField("e-mail", max_length=254, help_text="Stored lower case.")
    # Indexed by reservation_spot_end, which leads with it.
    spot = models.ForeignKey(
        ParkingSpot, on_delete=models.PROTECT, related_name="reservations", db_index=False
    )
    plate = models.CharField(
        max_length=PLATE_MAX_LENGTH,
        blank=True,
        help_text="The car's plate, normalised (users.plates); empty until the person gives "
        "it. A copy, not a link: removing a vehicle never changes a stay.",
    )
    plate_state = models.CharField(
        "plate's state", max_length=STATE_MAX_LENGTH, blank=True, help_text="Its issuer: NY."
    )
    rate = models.DecimalField(
        "hourly rate (USD)",
        max_digits=6,
        decimal_places=2,
        help_text="The first-hour rate at booking, in dollars (the contract's `rate`).",
    )
    first_hour_cents = models.PositiveIntegerField(
        help_text="Cents for the first metered hour: the spot's zone rate at booking."
    )
    later_hour_cents = models.PositiveIntegerField(
        help_text="Cents for each later metered hour: the spot's zone rate at booking."
    )
    meter_hours = models.TextField(
        blank=True,
        help_text="The spot's posted hours at booking, which price and limit this stay "
        "(reservations.pricing.FLAT_METER_HOURS: booked under the flat rate).",
    )
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.PENDING_PAYMENT
    )
    hold_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="A pending_payment reservation stops holding then."
    )
    ended_at = models.DateTimeField(null=True, blank=True, help_text="The actual end, billed.")
    amount_cents = models.PositiveIntegerField(
        null=True, blank=True, help_text="Final bill, set when the reservation ends."
    )

    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_setup_intent_id = models.CharField(max_length=255, blank=True)
    stripe_payment_method_id = models.CharField(max_length=255, blank=True)
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)

    reminder_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the 'ends soon' e-mail was queued (its claim)."
    )
    work_claimed_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the workers last queued this reservation's due work.",
    )

    client_address = models.GenericIPAddressField(
        null=True, blank=True, help_text="Booking client's address, for per-address hold caps"
    )
    email_proven_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When this guest reservation's manage link was first opened: its e-mail's "
        "owner has seen it, so its unpaid bill counts against that e-mail.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            # The worker's "active and due" and "stale holds" sweeps.
            models.Index(fields=["status", "end_time"], name="reservation_status_end"),
            models.Index(fields=["status", "hold_expires_at"], name="reservation_status_hold"),
            # "Does this e-mail owe money?" at booking time.
            models.Index(fields=["email", "status"], name="reservation_email_status"),
            models.Index(fields=["user", "status"], name="reservation_user_status"),
            # The per-address cap on unpaid holds at booking time.
            models.Index(
                fields=["client_address", "hold_expires_at"],
                condition=Q(status=ReservationStatus.PENDING_PAYMENT),
                name="reservation_holds_by_address",
            ),
            # The per-address cap on reservations booked ahead (not yet started).
            models.Index(
                fields=["client_address", "start_time"],
                condition=Q(status__in=HOLDING_STATUSES),
                name="reservation_ahead_by_address",
            ),
            # Enforcement's "is this meter covered now": a spot's stays around now, by end.
            models.Index(fields=["spot", "-end_time"], name="reservation_spot_end"),
            # Enforcement's "is this plate covered now": a plate's stays, latest end first.
            models.Index(
                fields=["plate", "plate_state", "-end_time"],
                condition=~Q(plate=""),
                name="reservation_plate_end",
            ),
        ]
        constraints = [
            ExclusionConstraint(
                name="reservation_no_double_booking",
                expressions=[
                    ("spot", RangeOperators.EQUAL),
                    (
                        TsTzRange("start_time", "end_time", RangeBoundary()),
                        RangeOperators.OVERLAPS,
                    ),
                ],
                condition=Q(status__in=HOLDING_STATUSES),
            ),
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")),
                name="reservation_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReservationStatus.values), name="reservation_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=ReservationStatus.PENDING_PAYMENT)
                | Q(hold_expires_at__isnull=False),
                name="reservation_pending_has_hold",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=BILLED_STATUSES)
                | Q(ended_at__isnull=False, amount_cents__isnull=False),
                name="reservation_billed_has_amount",
            ),
            models.CheckConstraint(condition=Q(rate__gte=0), name="reservation_rate_non_negative"),
            models.CheckConstraint(
                condition=Q(plate="", plate_state="") | (~Q(plate="") & ~Q(plate_state="")),
                name="reservation_plate_has_state",
            ),
        ]

    def __str__(self) -> str:
        return f"Reservation {self.pk} ({self.status}, spot {self.spot_id})"

    @property
    def paid(self) -> bool:
        return self.status == ReservationStatus.PAID


class IdempotentRequest(models.Model):
    """One `Idempotency-Key` of one caller: the request it was first used with (a digest of
    method, path and body) and, once answered, that answer, replayed for a day.

    A row without a status is a request still running. Rows older than a day are ignored
    (and deleted a few at a time as new keys arrive).
    """

    caller = models.CharField(
        max_length=64, help_text="`user:<pk>` or `address:<ip>`: keys are per caller."
    )
    key = models.CharField(max_length=255)
    request_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The JSON answered, as sent.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["caller", "key"], name="idempotent_request_unique")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotent_request_created")]

    def __str__(self) -> str:
        return f"Idempotency-Key {self.key} of {self.caller}"
