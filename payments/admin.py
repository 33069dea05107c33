from django.contrib import admin

from payments.models import Payment, StripeCustomer, StripeWebhookEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows mirror Stripe's records: editing them here would only make them disagree."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ("email", "stripe_customer_id", "created_at")
    search_fields = ("email", "stripe_customer_id")


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "received_at", "processed_at", "outcome")
    list_filter = ("type",)
    search_fields = ("event_id",)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("reservation", "attempt", "state", "amount_cents", "error_code", "created_at")
    list_filter = ("state",)
    search_fields = ("reservation__public_id", "stripe_payment_intent_id")
    list_select_related = ("reservation",)
