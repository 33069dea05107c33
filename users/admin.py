from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.core.exceptions import ValidationError

from users.models import User, Vehicle
from users.plates import plate_normalise


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
class VehicleAdmin(admin.ModelAdmin):
    list_display = ("plate", "plate_state", "nickname", "user", "created_at")
    list_filter = ("plate_state",)
    search_fields = ("plate", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("user", *VEHICLE_READONLY_FIELDS)
    ordering = ("-created_at",)

    def has_add_permission(self, request) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        """A plate typed as people type it ("abc-1234") finds it as stored (ABC1234)."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            plate = plate_normalise(search_term)
        except ValidationError:
            return results, may_have_duplicates
        return results | queryset.filter(plate=plate), may_have_duplicates


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
