"""The four payment routes of the contract and Stripe's webhook; guest variants as in
reservations (id plus e-mail, open, throttled)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.services.cards import payment_setup_confirm, payment_setup_intent_get_or_create
from payments.services.webhooks import payment_webhook_receive
from reservations.access import Access
from reservations.views import IDEMPOTENCY_PARAMETER, idempotent


class SetupIntentCreateApi(APIView):
    access: Access

    @extend_schema_serializer(component_name="SetupIntentClientSecret")
    class OutputSerializer(serializers.Serializer):
        clientSecret = serializers.CharField()  # the contract spells it so

    @extend_schema(
        request=None, responses={201: OutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    @idempotent
    def post(self, request: Request, **lookup: str) -> Response:
        reservation = self.access.find(request, **lookup)
        client_secret = payment_setup_intent_get_or_create(reservation_id=reservation.pk)
        return Response(
            self.OutputSerializer({"clientSecret": client_secret}).data,
            status=status.HTTP_201_CREATED,
        )


class SetupIntentConfirmApi(APIView):
    access: Access

    @extend_schema(request=None, responses={204: None})
    def get(self, request: Request, **lookup: str) -> Response:
        payment_setup_confirm(reservation_id=self.access.find(request, **lookup).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StripeWebhookApi(APIView):
    """Called by Stripe: the signature over the raw body is the authentication, so no token,
    no CSRF (no session authentication) and no parsing before it is checked."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=None, responses={200: None, 400: None})
    def post(self, request: Request) -> Response:
        payment_webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
        return Response({"received": True})
