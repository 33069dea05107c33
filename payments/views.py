"""The four payment routes of the contract and Stripe's webhook; guest variants as in
reservations (id plus e-mail, open, throttled)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.exceptions import InvalidWebhook, PaymentProviderError, PaymentProviderUnavailable
from payments.services import (
    payment_setup_confirm,
    payment_setup_intent_get_or_create,
    payment_webhook_receive,
)
from reservations.views import IDEMPOTENCY_PARAMETER, GuestAccess, OwnerAccess, idempotent


class PaymentProviderDown(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The payment provider cannot be reached; try again shortly."
    default_code = "payment_provider_unavailable"


class PaymentProviderRefused(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The payment provider refused the request."
    default_code = "payment_provider_error"


class PaymentErrors:
    """Stripe's trouble is the client's 503 (retry) or 502, never a 500."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, PaymentProviderUnavailable):
            exc = PaymentProviderDown()
        elif isinstance(exc, PaymentProviderError):
            exc = PaymentProviderRefused()
        return super().handle_exception(exc)


class SetupIntentCreateApi(PaymentErrors, OwnerAccess, APIView):
    @extend_schema_serializer(component_name="SetupIntentClientSecret")
    class OutputSerializer(serializers.Serializer):
        clientSecret = serializers.CharField()  # the contract spells it so

    @extend_schema(
        request=None, responses={201: OutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    @idempotent
    def post(self, request: Request, **lookup: str) -> Response:
        reservation = self.get_reservation(request, **lookup)
        client_secret = payment_setup_intent_get_or_create(reservation_id=reservation.pk)
        return Response(
            self.OutputSerializer({"clientSecret": client_secret}).data,
            status=status.HTTP_201_CREATED,
        )


class SetupIntentCreateGuestApi(GuestAccess, SetupIntentCreateApi):
    pass


class SetupIntentConfirmApi(PaymentErrors, OwnerAccess, APIView):
    @extend_schema(request=None, responses={204: None})
    def get(self, request: Request, **lookup: str) -> Response:
        payment_setup_confirm(reservation_id=self.get_reservation(request, **lookup).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SetupIntentConfirmGuestApi(GuestAccess, SetupIntentConfirmApi):
    pass


class StripeWebhookApi(PaymentErrors, APIView):
    """Called by Stripe: the signature over the raw body is the authentication, so no token,
    no CSRF (no session authentication) and no parsing before it is checked."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=None, responses={200: None, 400: None})
    def post(self, request: Request) -> Response:
        try:
            payment_webhook_receive(
                payload=request.body, signature=request.headers.get("Stripe-Signature", "")
            )
        except InvalidWebhook as exc:
            raise exceptions.ParseError(str(exc)) from exc
        return Response({"received": True})
