"""The payment routes (card set-up, settling a failed charge, receipts) and Stripe's webhook;
guest variants as in reservations (id plus e-mail, open, throttled)."""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.receipt_pdf import receipt_pdf_render
from payments.selectors import receipt_get, reservation_get_by_receipt_link
from payments.services.cards import payment_setup_confirm, payment_setup_intent_get_or_create
from payments.services.settlement import (
    payment_settlement_confirm,
    payment_settlement_get_or_create,
)
from payments.services.webhooks import payment_webhook_receive
from reservations.access import Access
from reservations.models import Reservation
from reservations.views import IDEMPOTENCY_PARAMETER, idempotent
from secure_my_spot.api import JSONOnlyNegotiation, validated_query_params


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


class SettlementCreateApi(APIView):
    """Settle a failed end-of-stay charge (`payment_failed`): the client secret of a
    PaymentIntent for the bill, to confirm with Stripe.js `confirmCardPayment` (the saved
    card is its default; a new card may be given there), 3-D Secure included.

    201 with a new PaymentIntent, 200 with the one already open (every call gets the same
    one until it is paid or Stripe cancels it); 409 when the reservation is paid or has no
    failed charge.
    """

    access: Access

    @extend_schema_serializer(component_name="SettlementClientSecret")
    class OutputSerializer(serializers.Serializer):
        clientSecret = serializers.CharField()  # spelt as the SetupIntent route spells it
        amount_cents = serializers.IntegerField()
        currency = serializers.CharField()

    @extend_schema(
        request=None,
        responses={200: OutputSerializer, 201: OutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @idempotent
    def post(self, request: Request, **lookup: str) -> Response:
        reservation = self.access.find(request, **lookup)
        settlement = payment_settlement_get_or_create(reservation_id=reservation.pk)
        output = {
            "clientSecret": settlement.client_secret,
            "amount_cents": settlement.amount_cents,
            "currency": settlement.currency,
        }
        return Response(
            self.OutputSerializer(output).data,
            status=status.HTTP_201_CREATED if settlement.created else status.HTTP_200_OK,
        )


class SettlementConfirmApi(APIView):
    """After `confirmCardPayment`: 204 once Stripe says the settlement succeeded (the
    reservation is then `paid` and no longer stops a booking); 409 naming Stripe's status
    while it has not."""

    access: Access

    @extend_schema(request=None, responses={204: None})
    def get(self, request: Request, **lookup: str) -> Response:
        payment_settlement_confirm(reservation_id=self.access.find(request, **lookup).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _receipt_link_finds(request: Request, *, token: str) -> Reservation:
    return reservation_get_by_receipt_link(token=token)


# The signed link of the 'ended' e-mail (payments/emails.py): open, throttled as guests are,
# for accounts' reservations and guests' alike.
RECEIPT_LINK = Access(
    name="ReceiptLink",
    find=_receipt_link_finds,
    throttle_scope="guest",
    permission_classes=(AllowAny,),
    authentication_classes=(),
)


def _new_york_time() -> serializers.DateTimeField:
    return serializers.DateTimeField(default_timezone=ZoneInfo(settings.DISPLAY_TIME_ZONE))


class ReceiptSpotOutputSerializer(serializers.Serializer):
    meter_number = serializers.CharField(allow_null=True)
    street = serializers.CharField()
    borough = serializers.CharField()
    from_street = serializers.CharField()
    to_street = serializers.CharField()
    side_of_street = serializers.CharField()


class ReceiptRefundOutputSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField()
    reason = serializers.CharField()
    state = serializers.CharField()
    created_at = _new_york_time()


class ReceiptSegmentOutputSerializer(serializers.Serializer):
    """A priced stretch of the bill, named as the quote routes name it (reservations/views.py)."""

    start = _new_york_time()
    end = _new_york_time()
    minutes = serializers.IntegerField()
    rate_cents_per_hour = serializers.IntegerField()
    amount_cents = serializers.IntegerField(help_text="For display: the total is the bill.")
    step = serializers.CharField(help_text='"first hour" or "later hours".')


class ReceiptApi(APIView):
    """A billed reservation's receipt (ended, paid or payment_failed): JSON, or a printable
    PDF with `?format=pdf`.

    Amounts in integer cents (`rate_cents` per hour), times in New York time with their
    offset, `plate` and `state` null when the stay named no car; `refunded_cents` counts the
    refunds that succeeded (pending ones are listed, not counted). `segments` itemise the bill
    as the quote does: their cents add up to `amount_cents` but for rounding (a cent or so),
    or for the minimum charge when `minimum_applied`; none when the stay was outside the
    meter's hours. 409 while the reservation has no bill (not ended, or cancelled).
    """

    access: Access
    # `format` is this route's own parameter, not DRF's choice of renderer.
    content_negotiation_class = JSONOnlyNegotiation

    class QuerySerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=["json", "pdf"], default="json")

    @extend_schema_serializer(component_name="Receipt")
    class OutputSerializer(serializers.Serializer):
        reservation_id = serializers.CharField()
        status = serializers.CharField()
        spot = ReceiptSpotOutputSerializer()
        plate = serializers.CharField(allow_null=True)
        state = serializers.CharField(allow_null=True, help_text="The plate's issuer: NY.")
        start_time = _new_york_time()
        end_time = _new_york_time()
        billed_minutes = serializers.IntegerField()
        rate_cents = serializers.IntegerField()
        amount_cents = serializers.IntegerField()
        currency = serializers.CharField()
        card_brand = serializers.CharField()
        card_last4 = serializers.CharField()
        payment_state = serializers.CharField(allow_null=True)
        stripe_payment_intent_id = serializers.CharField(allow_null=True)
        refunds = ReceiptRefundOutputSerializer(many=True)
        refunded_cents = serializers.IntegerField()
        segments = ReceiptSegmentOutputSerializer(many=True)
        minimum_applied = serializers.BooleanField()

    @extend_schema(
        parameters=[QuerySerializer],
        responses={
            (200, "application/json"): OutputSerializer,
            (200, "application/pdf"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request: Request, **lookup: str) -> HttpResponse:
        query = validated_query_params(request, self.QuerySerializer)
        receipt = receipt_get(reservation=self.access.find(request, **lookup))
        if query["format"] == "pdf":
            response = HttpResponse(receipt_pdf_render(receipt=receipt), "application/pdf")
            filename = f"receipt-{receipt.reservation_id}.pdf"
            response["Content-Disposition"] = f'inline; filename="{filename}"'
        else:
            response = Response(self.OutputSerializer(receipt).data)
        # Personal, and reached by a bearer link: no shared cache may keep it.
        add_never_cache_headers(response)
        return response
