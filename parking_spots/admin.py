from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from parking_spots.models import ParkingSpot
from parking_spots.services import parking_spot_set_active


@admin.register(ParkingSpot)
class ParkingSpotAdmin(admin.ModelAdmin):
    list_display = ["id", "meter_number", "borough", "street", "rate", "active", "updated_at"]
    list_filter = ["borough", "active"]
    search_fields = ["meter_number", "street"]
    readonly_fields = ["created_at", "updated_at"]
    ordering = ["id"]
    actions = ["activate", "deactivate"]

    @admin.action(description="Activate selected parking spots")
    def activate(self, request: HttpRequest, queryset: QuerySet[ParkingSpot]) -> None:
        changed = parking_spot_set_active(spots=queryset, active=True)
        self.message_user(request, f"{changed} parking spot(s) activated.", messages.SUCCESS)

    @admin.action(description="Deactivate selected parking spots")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[ParkingSpot]) -> None:
        changed = parking_spot_set_active(spots=queryset, active=False)
        self.message_user(request, f"{changed} parking spot(s) deactivated.", messages.SUCCESS)
