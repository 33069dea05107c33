from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from reservations.emails import format_segment
from reservations.models import Reservation
from reservations.pricing import format_dollars, reservation_quote
from reservations.services import reservation_end_now
from secure_my_spot.exceptions import ApplicationError
from users.plates import PlateSearchMixin


@admin.register(Reservation)
class ReservationAdmin(PlateSearchMixin, admin.ModelAdmin):
    """Read-only: reservations change state through the services only, so bills stay true."""

    list_display = (
        "id",
        "email",
        "spot",
        "plate",
        "plate_state",
        "status",
        "start_time",
        "end_time",
        "rate",
        "amount_cents",
        "card_last4",
    )
    list_filter = ("status", ("start_time", admin.DateFieldListFilter), "created_at")
    date_hierarchy = "start_time"
    # `=public_id`: the reservation id a driver quotes from an e-mail or the app; a plate
    # typed any way is found too (PlateSearchMixin).
    search_fields = ("email", "=public_id", "=spot__id", "spot__street", "spot__meter_number")
    list_select_related = ("spot", "user")
    actions = ["end_now"]

    def get_readonly_fields(self, request: HttpRequest, obj: Reservation | None = None):
        # Its pricing fields (first_hour_cents, later_hour_cents, meter_hours) among them.
        return [field.name for field in Reservation._meta.fields] + ["booked_stay_quote"]

    @admin.display(description="quote for the booked stay")
    def booked_stay_quote(self, obj: Reservation) -> str:
        """Why a bill is what it is: start_time to end_time priced with what the reservation
        was booked with (its rates and meter hours, not the zone's or spot's of today), as
        the bill is at end (an ended stay's end_time is its end)."""
        quote = reservation_quote(obj, end=obj.end_time)
        if quote.minimum_applied:
            total = "the minimum charge"
        elif quote.metered_minutes:
            total = "the sum of the segments, rounded once"
        else:
            total = "nothing metered: no charge"
        return format_html(
            "{} for {} metered min ({})<br>{}",
            format_dollars(quote.amount_cents),
            quote.metered_minutes,
            total,
            format_html_join(
                "", "{}<br>", ((format_segment(segment),) for segment in quote.segments)
            ),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Reservation | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reservation | None = None) -> bool:
        """The list and its action, yes; no Save on a reservation's page, which would rewrite
        the whole row without its lock and could undo a worker's change."""
        return obj is None and super().has_change_permission(request)

    @admin.action(description="End the selected reservations now (billed)")
    def end_now(self, request: HttpRequest, queryset: QuerySet[Reservation]) -> None:
        ended = 0
        for reservation in queryset:
            try:
                reservation_end_now(reservation_id=reservation.pk)
            except ApplicationError as exc:
                self.message_user(request, f"#{reservation.pk}: {exc.message}", messages.WARNING)
            else:
                ended += 1
        if ended:
            self.message_user(request, f"Ended {ended} reservation(s).", messages.SUCCESS)
