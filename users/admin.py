from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from users.models import User, Vehicle
from users.plates import PlateSearchMixin


class EmailUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class EmailUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


# Plates and states are only written by users.services (normalised, capped per account):
# operators see them, may rename or remove a vehicle, and never add one here.
VEHICLE_READONLY_FIELDS = ("public_id", "plate", "plate_state", "created_at", "updated_at")


class VehicleInline(admin.TabularInline):
    model = Vehicle
    extra = 0
    fields = ("plate", "plate_state", "nickname", "public_id", "created_at")
    readonly_fields = VEHICLE_READONLY_FIELDS

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Vehicle)
class VehicleAdmin(PlateSearchMixin, admin.ModelAdmin):
    list_display = ("plate", "plate_state", "nickname", "user", "created_at")
    list_filter = ("plate_state",)
    search_fields = ("plate", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("user", *VEHICLE_READONLY_FIELDS)
    ordering = ("-created_at",)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    ordering = ("email",)
    list_display = ("email", "email_verified_at", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email",)
    readonly_fields = ("date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("email_verified_at", "last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [VehicleInline]

    def get_inlines(self, request, obj):
        """Vehicles on an account's page, not on the add form: a new account has none."""
        return self.inlines if obj is not None else []
