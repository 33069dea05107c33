from payments import views
from reservations.access import GUEST, OWNER, with_access
from reservations.urls import EMAIL, LINK, RESERVATION
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
    route(
        f"settle-reservation-auth/{RESERVATION}",
        with_access(views.SettlementCreateApi, access=OWNER),
        name="settlement-create",
    ),
    route(
        f"settle-reservation-unauth/{RESERVATION}/{EMAIL}",
        with_access(views.SettlementCreateApi, access=GUEST),
        name="settlement-create-guest",
    ),
    route(
        f"confirm-settlement-auth/{RESERVATION}",
        with_access(views.SettlementConfirmApi, access=OWNER),
        name="settlement-confirm",
    ),
    route(
        f"confirm-settlement-unauth/{RESERVATION}/{EMAIL}",
        with_access(views.SettlementConfirmApi, access=GUEST),
        name="settlement-confirm-guest",
    ),
    route(
        f"receipt-auth/{RESERVATION}",
        with_access(views.ReceiptApi, access=OWNER),
        name="receipt",
    ),
    route(
        f"receipt-unauth/{RESERVATION}/{EMAIL}",
        with_access(views.ReceiptApi, access=GUEST),
        name="receipt-guest",
    ),
    route(
        f"receipt-link/{LINK}",
        with_access(views.ReceiptApi, access=views.RECEIPT_LINK),
        name="receipt-link",
    ),
]
