from payments import views
from reservations.urls import EMAIL, RESERVATION
from secure_my_spot.api import route

urlpatterns = [
    route(
        f"create-payment-intent-auth/{RESERVATION}",
        views.SetupIntentCreateApi.as_view(),
        name="setup-intent-create",
    ),
    route(
        f"create-payment-intent-unauth/{RESERVATION}/{EMAIL}",
        views.SetupIntentCreateGuestApi.as_view(),
        name="setup-intent-create-guest",
    ),
    route(
        f"confirm-successful-setup-intent-auth/{RESERVATION}",
        views.SetupIntentConfirmApi.as_view(),
        name="setup-intent-confirm",
    ),
    route(
        f"confirm-successful-setup-intent-unauth/{RESERVATION}/{EMAIL}",
        views.SetupIntentConfirmGuestApi.as_view(),
        name="setup-intent-confirm-guest",
    ),
    route("stripe/webhook", views.StripeWebhookApi.as_view(), name="stripe-webhook"),
]
