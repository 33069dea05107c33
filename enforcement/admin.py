from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from enforcement.models import CoverageLookup, EnforcementKey, Scope
from enforcement.services import enforcement_key_create, enforcement_key_revoke
from users.plates import PlateSearchMixin


class EnforcementKeyAddForm(forms.Form):
    name = forms.CharField(
        max_length=EnforcementKey._meta.get_field("name").max_length,
        help_text="Who will use it: an agency, a device, a team.",
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        initial=[Scope.COVERAGE],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


@admin.register(EnforcementKey)
class EnforcementKeyAdmin(admin.ModelAdmin):
    """Keys are issued here, shown once, and revoked, never edited or deleted: the log of
    lookups names them."""

    list_display = (
        "prefix",
        "name",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("=prefix", "name")
    list_select_related = ("created_by",)
    actions = ["revoke"]

    def has_delete_permission(self, request: HttpRequest, obj: EnforcementKey | None = None):
        return False

    def has_change_permission(self, request: HttpRequest, obj: EnforcementKey | None = None):
        """The list and its revoke action, yes; no Save on a key's page."""
        return obj is None and super().has_change_permission(request)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        """A form of its own: the answer to it is the only page that ever shows the key."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = EnforcementKeyAddForm(request.POST if request.method == "POST" else None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Add enforcement key",
        }
        if form.is_bound and form.is_valid():
            issued = enforcement_key_create(
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                created_by=request.user,
            )
            self.log_addition(request, issued.key, [{"added": {}}])
            response = TemplateResponse(
                request,
                "admin/enforcement/key_issued.html",
                {**context, "title": "Enforcement key created", "issued": issued},
            )
            # The key is in this page only: no cache may keep a copy.
            add_never_cache_headers(response)
            return response
        return TemplateResponse(
            request, "admin/enforcement/key_add.html", {**context, "form": form}
        )

    @admin.action(description="Revoke the selected keys (they answer 401 from now on)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[EnforcementKey]) -> None:
        revoked = sum(enforcement_key_revoke(key_id=key.pk) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


@admin.register(CoverageLookup)
class CoverageLookupAdmin(PlateSearchMixin, admin.ModelAdmin):
    """The log, read-only. A search finds a plate typed any way (`abc-1234`) or a meter."""

    list_display = (
        "at",
        "key",
        "plate",
        "plate_state",
        "meter",
        "reason",
        "covered",
        "client_address",
    )
    list_filter = ("key", "reason", ("at", admin.DateFieldListFilter))
    search_fields = ("=meter",)
    list_select_related = ("key",)
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CoverageLookup | None = None):
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CoverageLookup | None = None):
        return False
