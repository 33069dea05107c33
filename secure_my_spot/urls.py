from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from secure_my_spot.api import route
from secure_my_spot.health import healthz, readyz
from secure_my_spot.metrics import metrics_view

urlpatterns = [
    # First: maps poll these, and every pattern tried before a match costs the request.
    path("", include("availability.urls")),
    path(settings.ADMIN_URL, admin.site.urls),
    route("api/schema", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its init script as a second request: no inline script, so the
    # Content-Security-Policy can forbid them.
    route("api/docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    route("healthz", healthz, name="healthz"),
    route("readyz", readyz, name="readyz"),
    route("metrics", metrics_view, name="metrics"),
    path("", include("users.urls")),
    path("", include("reservations.urls")),
    path("", include("payments.urls")),
    path("", include("enforcement.urls")),
]

handler400 = "secure_my_spot.api.bad_request"
handler403 = "secure_my_spot.api.permission_denied"
handler404 = "secure_my_spot.api.page_not_found"
handler500 = "secure_my_spot.api.server_error"
