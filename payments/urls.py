from payments import views
from reservations.access import GUEST, OWNER, with_access
from reservations.urls import EMAIL, RESERVATION
from secure_my_spot.api import route

urlpatterns = [
    route(
        f"create-payment-intent-auth/{RESERVATION}",
        with_access(views.SetupIntentCreateApi, access=OWNER),
        name="setup-intent-create",
    ),
    route(
        f"create-payment-intent-unauth/{RESERVATION}/{EMAIL}",
        with_access(views.SetupIntentCreateApi, access=GUEST),
        name="setup-intent-create-guest",
    ),
    route(
        f"confirm-successful-setup-intent-auth/{RESERVATION}",
        with_access(views.SetupIntentConfirmApi, access=OWNER),
        name="setup-intent-confirm",
    ),
    route(
        f"confirm-successful-setup-intent-unauth/{RESERVATION}/{EMAIL}",
        with_access(views.SetupIntentConfirmApi, access=GUEST),
        name="setup-intent-confirm-guest",
    ),
    route("stripe/webhook", views.StripeWebhookApi.as_view(), name="stripe-webhook"),
]
