"""The nine reservation routes of the contract and the manage link's; auth and guest variants
share one body each.

A guest route differs only in how it finds the reservation (public id plus the e-mail it was
made with) and in being open and throttled. Routes name a reservation by its random public
id only: the integer key never leaves the server.
"""

import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from parking_spots.models import ParkingSpot
from parking_spots.pricing import Quote
from reservations.access import Access
from reservations.fields import AwareDateTimeField
from reservations.links import reservation_get_by_link
from reservations.models import Reservation
from reservations.pricing import (
    reservation_amount_cents,
    reservation_bill_cents,
    reservation_quote,
    spot_quote,
)
from reservations.selectors import (
    reservation_list_current,
    reservation_list_past,
)
from reservations.services import (
    idempotent_request_claim,
    idempotent_request_finish,
    idempotent_request_release,
    reservation_cancel,
    reservation_change_end_time,
    reservation_change_plate,
    reservation_create,
    reservation_link_opened,
)
from reservations.windows import reservation_window_resolve
from secure_my_spot.api import client_address, unwrap
from secure_my_spot.exceptions import ApplicationError, NotFoundError
from secure_my_spot.pagination import PAGE_PARAMETERS, list_response
from users.models import User
from users.plates import PlateField, PlateStateField
from users.selectors import vehicle_get_for_user

# payments.gateway.CURRENCY, which reservations may not import: the meters price in dollars.
QUOTE_CURRENCY = "usd"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Optional, 1-255 printable ASCII characters. The same key with the same "
    "request replays the first answer for 24 hours; with another request it is a 422; "
    "while the first is still running, a 409.",
)


class ReservationOutputSerializer(serializers.ModelSerializer):
    """A reservation as the contract shows it.

    `rate` is the first-hour rate (USD) it was booked at: later metered hours may cost more,
    and unmetered time nothing. `amount_cents` is the bill (final once ended, so far while
    active); `quoted_amount_cents` the price of [start_time, end_time) as it stands, the
    bill it will have if it runs to its end.
    """

    id = serializers.CharField(source="public_id", read_only=True)
    parking_spot = serializers.IntegerField(source="spot_id")
    plate = serializers.SerializerMethodField(help_text="Null until the person gives one.")
    state = serializers.SerializerMethodField(help_text="The plate's issuer, e.g. NY; or null.")
    paid = serializers.BooleanField()
    amount_cents = serializers.SerializerMethodField()
    quoted_amount_cents = serializers.SerializerMethodField()

    class Meta:
        model = Reservation
        fields = [
            "id",
            "user",
            "email",
            "parking_spot",
            "plate",
            "state",
            "rate",
            "start_time",
            "end_time",
            "paid",
            "status",
            "amount_cents",
            "quoted_amount_cents",
            "stripe_setup_intent_id",
            "hold_expires_at",
            "ended_at",
            "card_brand",
            "card_last4",
            "created_at",
            "updated_at",
        ]

    def get_plate(self, reservation: Reservation) -> str | None:
        return reservation.plate or None

    def get_state(self, reservation: Reservation) -> str | None:
        return reservation.plate_state or None

    def get_amount_cents(self, reservation: Reservation) -> int:
        return reservation_bill_cents(reservation, now=timezone.now())

    def get_quoted_amount_cents(self, reservation: Reservation) -> int:
        return reservation_amount_cents(reservation, end=reservation.end_time)


def _reservation_response(reservation: Reservation, code: int = status.HTTP_200_OK) -> Response:
    return Response(ReservationOutputSerializer(reservation).data, status=code)


def _wrapped(name: str, serializer: type[serializers.Serializer]):
    return inline_serializer(name, fields={"reservation": serializer()})


def _request_sha256(request: Request) -> str:
    """Method, route (trailing slash or not) and body, the body as parsed: a retry that
    spaces or orders its JSON differently is the same request."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"))
    route = request.path.rstrip("/")
    return hashlib.sha256(f"{request.method} {route}\n{body}".encode()).hexdigest()


def idempotent(handler: Callable[..., Response]) -> Callable[..., HttpResponse]:
    """Stripe's `Idempotency-Key` for a view's POST: the same key and request from the same
    caller (account, or client address for guests) within 24 h get the first answer again,
    and nothing is done twice (a client may retry after a lost response).

    Every answer but a 5xx is kept (a 5xx frees the key: a retry runs again); a key reused
    for another request is a 422, one whose request is still running a 409.
    """

    @functools.wraps(handler)
    def wrapper(view: APIView, request: Request, *args, **kwargs) -> HttpResponse:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise ApplicationError(
                "Must be 1 to 255 printable ASCII characters.", field=IDEMPOTENCY_HEADER
            )
        user = request.user
        caller = f"user:{user.pk}" if user else f"address:{client_address(request)}"
        stored = idempotent_request_claim(
            caller=caller, key=key, request_sha256=_request_sha256(request)
        )
        if stored is not None:
            replay = HttpResponse(
                stored.response_body, status=stored.status_code, content_type="application/json"
            )
            replay["Idempotent-Replayed"] = "true"
            return replay
        try:
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                response = view.handle_exception(exc)
        except BaseException:
            idempotent_request_release(caller=caller, key=key)
            raise
        if response.status_code >= 500:
            idempotent_request_release(caller=caller, key=key)
        else:
            idempotent_request_finish(
                caller=caller,
                key=key,
                status_code=response.status_code,
                response_body=JSONRenderer().render(response.data).decode(),
            )
        return response

    return wrapper


class CarInput(serializers.Serializer):
    """The car a stay is for: `plate` and `state`, or one of the signed-in person's vehicles
    by id. Optional: a client that sends neither still books (`plate` null)."""

    plate = PlateField(required=False)
    state = PlateStateField(required=False)
    vehicle = serializers.CharField(
        required=False,
        max_length=64,
        help_text="Signed in only: the id of one of your vehicles (GET /vehicles/), instead "
        "of plate and state.",
    )

    def validate(self, data: dict) -> dict:
        if "vehicle" in data and ("plate" in data or "state" in data):
            raise serializers.ValidationError(
                {"vehicle": ["Give a vehicle or a plate and state, not both."]}
            )
        for given, needed in (("plate", "state"), ("state", "plate")):
            if given in data and needed not in data:
                raise serializers.ValidationError(
                    {needed: [f"Give the {needed} with the {given}."]}
                )
        return data


def _car(data: dict, user: User | None) -> dict[str, str] | None:
    """`plate` and `plate_state` for the services from a CarInput's data; None if it names
    no car. A vehicle that is not the person's is a 400 naming it, as an unknown one is."""
    if "vehicle" in data:
        if user is None:
            raise ApplicationError("Sign in to name one of your vehicles.", field="vehicle")
        try:
            vehicle = vehicle_get_for_user(public_id=data["vehicle"], user=user)
        except NotFoundError:
            raise ApplicationError(
                "No such vehicle among yours: see GET /vehicles/.", field="vehicle"
            ) from None
        return {"plate": vehicle.plate, "plate_state": vehicle.plate_state}
    if "plate" in data:
        return {"plate": data["plate"], "plate_state": data["state"]}
    return None


class ReservationListCurrentApi(APIView):
    """The account's reservations holding a spot now or later (`pending_payment`, `active`),
    newest first."""

    @extend_schema(responses={200: ReservationOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        reservations = reservation_list_current(user=request.user)
        return Response(ReservationOutputSerializer(reservations, many=True).data)


class ReservationListPastApi(APIView):
    """The account's billed reservations (`ended`, `paid`, `payment_failed`), newest first."""

    @extend_schema(
        parameters=PAGE_PARAMETERS, responses={200: ReservationOutputSerializer(many=True)}
    )
    def get(self, request: Request) -> Response:
        reservations = reservation_list_past(user=request.user)
        return list_response(
            request, reservations, lambda page: ReservationOutputSerializer(page, many=True).data
        )


class ReservationDetailApi(APIView):
    """One reservation: the owner's by token, or a guest's by its id and e-mail (404 otherwise)."""

    access: Access

    @extend_schema(responses={200: ReservationOutputSerializer})
    def get(self, request: Request, **lookup: str) -> Response:
        return _reservation_response(self.access.find(request, **lookup))


class ReservationCreateApi(APIView):
    """Book a spot from now, or from a later `start_time`; a guest's booking differs only in
    the e-mail it gives.

    409 when the spot is taken for part of the period: `{"parking_spot": [...], "detail":
    ...}` names the window in the way (New York time) and the next free one as long.
    """

    @extend_schema_serializer(component_name="ReservationCreateInput")
    class InputSerializer(CarInput):
        # The upper bound depends on the spot; the service checks it.
        reservation_length = serializers.IntegerField(min_value=1)
        start_time = AwareDateTimeField(
            required=False,
            allow_null=True,
            help_text="ISO 8601 with an offset (or Z); absent, null or within a minute of now "
            "means now. Not in the past, at most RESERVATION_MAX_DAYS_AHEAD (30) days ahead.",
        )

    @extend_schema(
        request=_wrapped("ReservationCreateRequest", InputSerializer),
        responses={201: ReservationOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @idempotent
    def post(self, request: Request, parking_spot_id: str) -> Response:
        serializer = self.InputSerializer(data=unwrap(request.data, "reservation"))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reservation = reservation_create(
            spot_id=int(parking_spot_id),
            reservation_length=data["reservation_length"],
            start_time=data.get("start_time"),
            user=request.user,
            email=data.get("email", ""),
            client_address=client_address(request),
            **(_car(data, request.user) or {}),
        )
        return _reservation_response(reservation, status.HTTP_201_CREATED)


class ReservationCreateGuestApi(ReservationCreateApi):
    """The same booking with the e-mail in the body; `request.user` is None here."""

    @extend_schema_serializer(component_name="ReservationCreateGuestInput")
    class InputSerializer(ReservationCreateApi.InputSerializer):
        email = serializers.EmailField(max_length=254)
        vehicle = None  # a guest has no vehicles: plate and state only

    @extend_schema(
        request=_wrapped("ReservationCreateGuestRequest", InputSerializer),
        responses={201: ReservationOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request: Request, parking_spot_id: str) -> Response:
        return super().post(request, parking_spot_id)


class ReservationUpdateApi(APIView):
    """Extend or shorten the stay (`end_time` in the future), or end it now (`null` or the
    past); and/or name its car (`plate` and `state`, or signed in a `vehicle`).

    Ending one that has not started cancels it while that is free, else bills its first
    minute. 409 if the new end overlaps another reservation of the spot (`{"end_time":
    [...], "detail": ...}`, naming the window in the way and the latest end possible); 400
    before the start or past the longest stay. A plate can be added while the stay holds its
    spot, and changed only until it starts (409 `{"plate": [...]}` after). With both, the
    plate is recorded first.
    """

    access: Access

    @extend_schema_serializer(component_name="ReservationUpdateInput")
    class InputSerializer(CarInput):
        end_time = AwareDateTimeField(allow_null=True, required=False)

        def validate(self, data: dict) -> dict:
            data = super().validate(data)
            if "end_time" not in data and "plate" not in data and "vehicle" not in data:
                raise serializers.ValidationError({"end_time": ["This field is required."]})
            return data

    @extend_schema(
        request=_wrapped("ReservationUpdateRequest", InputSerializer),
        responses={200: ReservationOutputSerializer},
    )
    def patch(self, request: Request, **lookup: str) -> Response:
        reservation = self.access.find(request, **lookup)
        serializer = self.InputSerializer(data=unwrap(request.data, "reservation"))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if car := _car(data, request.user):
            reservation = reservation_change_plate(reservation_id=reservation.pk, **car)
        if "end_time" in data:
            reservation = reservation_change_end_time(
                reservation_id=reservation.pk, end_time=data["end_time"]
            )
        reservation.refresh_from_db()
        return _reservation_response(reservation)


class ReservationDeleteApi(APIView):
    """Cancel an unpaid hold, or a paid-for reservation that has not started while its free
    cancellation lasts (RESERVATION_FREE_CANCEL_BEFORE_START_MINUTES before the start; by
    default until it starts): the spot is free at once, nothing is billed. Past that, an
    active reservation is ended with PATCH, so it is billed (409 here)."""

    access: Access

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, **lookup: str) -> Response:
        reservation_cancel(reservation_id=self.access.find(request, **lookup).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReservationLinkApi(APIView):
    """The reservation a guest e-mail's signed link names: open, throttled as guests are.

    A client page at FRONTEND_BASE_URL/reservations/manage/<token> reads it here and then
    acts through the guest routes with the `id` and `email` it gets back.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "guest"

    @extend_schema(responses={200: ReservationOutputSerializer})
    def get(self, request: Request, token: str) -> Response:
        reservation = reservation_get_by_link(token=token)
        reservation_link_opened(reservation=reservation)
        return _reservation_response(reservation)


class QuoteOutputSerializer(serializers.Serializer):
    """A stay's price under the meter's rule (README "Pricing a stay"): times in ISO 8601
    with their offset, amounts in integer cents."""

    class SegmentSerializer(serializers.Serializer):
        start = serializers.DateTimeField()
        end = serializers.DateTimeField()
        minutes = serializers.IntegerField()
        rate_cents_per_hour = serializers.IntegerField()
        amount_cents = serializers.IntegerField(help_text="For display: the total is the bill.")
        step = serializers.CharField(help_text='"first hour" or "later hours".')

    parking_spot = serializers.IntegerField()
    start_time = serializers.DateTimeField()
    end_time = serializers.DateTimeField()
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    metered_minutes = serializers.IntegerField()
    minimum_applied = serializers.BooleanField()
    segments = SegmentSerializer(many=True)
    legal_max_end = serializers.DateTimeField(
        allow_null=True,
        help_text="The latest legal end from this start (looked for up to the longest "
        "reservation); null when no posted rule stops the stay before then.",
    )
    limited_by = serializers.CharField(help_text="The posted rule that sets legal_max_end.")


def _quote_response(quote: Quote, *, spot_id: int, start: datetime, end: datetime) -> Response:
    data = {
        "parking_spot": spot_id,
        "start_time": start,
        "end_time": end,
        "amount_cents": quote.amount_cents,
        "currency": QUOTE_CURRENCY,
        "metered_minutes": quote.metered_minutes,
        "minimum_applied": quote.minimum_applied,
        "segments": [vars(segment) for segment in quote.segments],
        "legal_max_end": quote.legal_max_end,
        "limited_by": quote.limited_by,
    }
    return Response(QuoteOutputSerializer(data).data)


def _longest_end(start: datetime) -> datetime:
    return start + timedelta(minutes=settings.RESERVATION_MAX_MINUTES)


class SpotQuoteApi(APIView):
    """What a stay at a spot would cost if booked now, and how long it may legally last.

    Open to anyone, throttled per client address (rate "spot_windows"). The window follows
    the booking's rules: `start_time` optional (now), then `end_time` or
    `reservation_length`; a 400 names the parameter at fault, an unknown spot is a 404.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "spot_windows"

    class InputSerializer(serializers.Serializer):
        start_time = AwareDateTimeField(required=False, allow_null=True)
        end_time = AwareDateTimeField(required=False, allow_null=True)
        reservation_length = serializers.IntegerField(min_value=1, required=False, allow_null=True)

    @extend_schema(
        parameters=[InputSerializer],
        responses={200: QuoteOutputSerializer},
    )
    def get(self, request: Request, parking_spot_id: str) -> Response:
        serializer = self.InputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        given = serializer.validated_data
        window = reservation_window_resolve(
            start_time=given.get("start_time"),
            end_time=given.get("end_time"),
            reservation_length=given.get("reservation_length"),
            now=timezone.now(),
        )
        spot = ParkingSpot.objects.filter(pk=int(parking_spot_id)).first()
        if spot is None:
            raise NotFoundError("Parking spot not found.")
        quote = spot_quote(
            spot=spot,
            start=window.start,
            end=window.end,
            horizon_end=_longest_end(window.start),
        )
        return _quote_response(quote, spot_id=spot.pk, start=window.start, end=window.end)


class ReservationQuoteApi(APIView):
    """What a reservation would cost with its end moved to `end_time`, at the rates and
    posted hours it was booked with, and the latest legal end from its start."""

    access: Access

    class InputSerializer(serializers.Serializer):
        end_time = AwareDateTimeField()

    @extend_schema(
        parameters=[InputSerializer],
        responses={200: QuoteOutputSerializer},
    )
    def get(self, request: Request, **lookup: str) -> Response:
        reservation = self.access.find(request, **lookup)
        serializer = self.InputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        end = serializer.validated_data["end_time"]
        start = reservation.start_time
        if end <= start:
            raise ApplicationError("The end must be after the start.", field="end_time")
        if end > _longest_end(start):
            raise ApplicationError(
                f"A reservation lasts at most {settings.RESERVATION_MAX_MINUTES} minutes.",
                field="end_time",
            )
        quote = reservation_quote(reservation, end=end, horizon_end=_longest_end(start))
        return _quote_response(quote, spot_id=reservation.spot_id, start=start, end=end)
