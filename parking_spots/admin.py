from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from parking_spots.models import Holiday, ParkingSpot, RateZone
from parking_spots.services import (
    parking_spot_pin_zone,
    parking_spot_set_active,
    parking_spot_unpin_zones,
)


def _dollars(cents: int) -> str:
    return f"${cents / 100:.2f}"


@admin.register(RateZone)
class RateZoneAdmin(admin.ModelAdmin):
    """Operators change names and rates; the zones themselves are the rule's vocabulary."""

    list_display = ["code", "name", "first_hour", "later_hours", "spot_count", "updated_at"]
    fields = ["code", "name", "first_hour_cents", "later_hour_cents", "description", "updated_at"]
    readonly_fields = ["code", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RateZone]:
        return super().get_queryset(request).annotate(spot_count=Count("spots"))

    @admin.display(description="first hour", ordering="first_hour_cents")
    def first_hour(self, zone: RateZone) -> str:
        return _dollars(zone.first_hour_cents)

    @admin.display(description="later hours", ordering="later_hour_cents")
    def later_hours(self, zone: RateZone) -> str:
        return _dollars(zone.later_hour_cents)

    @admin.display(description="spots", ordering="spot_count")
    def spot_count(self, zone: RateZone) -> int:
        return zone.spot_count

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RateZone | None = None) -> bool:
        return False


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ["date", "weekday", "name", "meters_suspended"]
    list_filter = ["meters_suspended"]
    date_hierarchy = "date"
    search_fields = ["name"]

    @admin.display(description="day", ordering="date")
    def weekday(self, holiday: Holiday) -> str:
        return holiday.date.strftime("%A")


class ZoneActionForm(ActionForm):
    zone = forms.ModelChoiceField(queryset=RateZone.objects.all(), required=False)


@admin.register(ParkingSpot)
class ParkingSpotAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "meter_number",
        "borough",
        "street",
        "rate",
        "zone",
        "zone_pinned",
        "active",
        "updated_at",
    ]
    list_filter = ["borough", "active", "zone", "zone_pinned"]
    list_select_related = ["zone"]
    search_fields = ["meter_number", "street"]
    readonly_fields = ["created_at", "updated_at"]
    ordering = ["id"]
    action_form = ZoneActionForm
    actions = ["activate", "deactivate", "pin_zone", "unpin_zone"]

    def save_model(self, request: HttpRequest, obj: ParkingSpot, form, change: bool) -> None:
        """A zone chosen by hand stays: the importer and assign_zones would undo it otherwise."""
        if "zone" in form.changed_data:
            obj.zone_pinned = True
        super().save_model(request, obj, form, change)

    @admin.action(description="Activate selected parking spots")
    def activate(self, request: HttpRequest, queryset: QuerySet[ParkingSpot]) -> None:
        changed = parking_spot_set_active(spots=queryset, active=True)
        self.message_user(request, f"{changed} parking spot(s) activated.", messages.SUCCESS)

    @admin.action(description="Deactivate selected parking spots")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[ParkingSpot]) -> None:
        changed = parking_spot_set_active(spots=queryset, active=False)
        self.message_user(request, f"{changed} parking spot(s) deactivated.", messages.SUCCESS)

    @admin.action(description="Pin selected parking spots to the zone chosen beside")
    def pin_zone(self, request: HttpRequest, queryset: QuerySet[ParkingSpot]) -> None:
        try:
            zone = ZoneActionForm.base_fields["zone"].clean(request.POST.get("zone"))
        except ValidationError:
            zone = None
        if zone is None:
            self.message_user(request, "Choose the zone to pin them to.", messages.ERROR)
            return
        changed = parking_spot_pin_zone(spots=queryset, zone=zone)
        self.message_user(request, f"{changed} parking spot(s) pinned to {zone}.", messages.SUCCESS)

    @admin.action(description="Unpin selected parking spots' zones (the rule decides again)")
    def unpin_zone(self, request: HttpRequest, queryset: QuerySet[ParkingSpot]) -> None:
        changed = parking_spot_unpin_zones(spots=queryset)
        self.message_user(request, f"{changed} parking spot(s) unpinned.", messages.SUCCESS)
