from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from secure_my_spot.api import unwrap
from secure_my_spot.pagination import PAGE_PARAMETERS, list_response
from secure_my_spot.throttling import FailOpenScopedRateThrottle
from users.authentication import TokenAuthentication
from users.models import VEHICLE_NICKNAME_MAX_LENGTH, Vehicle
from users.plates import PlateField, PlateStateField
from users.selectors import vehicle_get_for_user, vehicle_list
from users.services import (
    SignInBackoff,
    auth_token_issue,
    password_reset_confirm,
    password_reset_request,
    user_change_password,
    user_create,
    user_sign_in,
    user_sign_out,
    user_verification_send,
    user_verify_email,
    vehicle_add,
    vehicle_remove,
    vehicle_rename,
)
from users.throttles import PasswordResetEmailThrottle


def _password_field() -> serializers.CharField:
    return serializers.CharField(max_length=128, trim_whitespace=False)


def _mismatch_check(attrs: dict, field: str, confirmation: str) -> dict:
    if attrs[field] != attrs[confirmation]:
        raise serializers.ValidationError({confirmation: ["The passwords do not match."]})
    return attrs


class TokenOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user.id")
    email = serializers.EmailField(source="user.email")
    email_verified = serializers.BooleanField(source="user.email_verified")
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


def _token_response(user, token, key) -> Response:
    body = TokenOutputSerializer({"user": user, "token": key, "expires_at": token.expiry}).data
    return Response(body, status=status.HTTP_201_CREATED)


def _wrapped(name: str, serializer: type[serializers.Serializer]):
    return inline_serializer(name, fields={"credentials": serializer()})


class SignUpApi(APIView):
    """Create an account and send its verification e-mail; it may book once the e-mail is
    verified (unless UNVERIFIED_ACCOUNTS_MAY_BOOK)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "auth"

    @extend_schema_serializer(component_name="SignUpCredentials")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = _password_field()
        password_confirmation = _password_field()

        def validate(self, attrs: dict) -> dict:
            return _mismatch_check(attrs, "password", "password_confirmation")

    @extend_schema(
        request=_wrapped("SignUpRequest", InputSerializer),
        responses={201: TokenOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=unwrap(request.data, "credentials"))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = user_create(email=data["email"], password=data["password"])
        token, key = auth_token_issue(user=user)
        return _token_response(user, token, key)


class SignInApi(APIView):
    """Exchange e-mail and password for a token; repeated failures slow the account down."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "auth"

    @extend_schema_serializer(component_name="SignInCredentials")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = _password_field()

    @extend_schema(
        request=_wrapped("SignInRequest", InputSerializer),
        responses={201: TokenOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=unwrap(request.data, "credentials"))
        serializer.is_valid(raise_exception=True)
        try:
            user, token, key = user_sign_in(**serializer.validated_data)
        except SignInBackoff as exc:  # a 429 with Retry-After, as the address throttle's
            raise exceptions.Throttled(wait=exc.retry_after) from exc
        return _token_response(user, token, key)


class SignOutApi(APIView):
    """Revoke the token this request carries."""

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        user_sign_out(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChangePasswordApi(APIView):
    """Change the password, proving the old one; other sessions' tokens are revoked."""

    throttle_scope = "password_change"

    @extend_schema_serializer(component_name="ChangePasswordCredentials")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = _password_field()
        new_password = _password_field()
        new_password_confirmed = _password_field()

        def validate(self, attrs: dict) -> dict:
            return _mismatch_check(attrs, "new_password", "new_password_confirmed")

    @extend_schema(
        request=_wrapped("ChangePasswordRequest", InputSerializer), responses={204: None}
    )
    def patch(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=unwrap(request.data, "credentials"))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user_change_password(
            user=request.user,
            current_token=request.auth,
            email=data["email"],
            password=data["password"],
            new_password=data["new_password"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _token_field() -> serializers.CharField:
    return serializers.CharField(max_length=512, trim_whitespace=True)


class VerifyEmailApi(APIView):
    """Spend the token from the verification mail (links are POSTed by the app: a GET link
    would be spent by mail scanners)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "verify_email"

    @extend_schema_serializer(component_name="VerifyEmail")
    class InputSerializer(serializers.Serializer):
        token = _token_field()

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_verify_email(token=serializer.validated_data["token"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ResendVerificationApi(APIView):
    """Send the verification e-mail again (throttled, so it cannot flood a mailbox)."""

    throttle_scope = "resend_verification"

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        user_verification_send(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetApi(APIView):
    """Always 204: the answer never says whether the address has an account."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [FailOpenScopedRateThrottle, PasswordResetEmailThrottle]
    throttle_scope = "password_reset"

    @extend_schema_serializer(component_name="PasswordReset")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        password_reset_request(email=serializer.validated_data["email"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetConfirmApi(APIView):
    """Set a new password with the token from the reset e-mail; every token is then revoked."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "password_reset_confirm"

    @extend_schema_serializer(component_name="PasswordResetConfirm")
    class InputSerializer(serializers.Serializer):
        token = _token_field()
        new_password = _password_field()
        new_password_confirmed = _password_field()

        def validate(self, attrs: dict) -> dict:
            return _mismatch_check(attrs, "new_password", "new_password_confirmed")

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        password_reset_confirm(token=data["token"], new_password=data["new_password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class VehicleOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    state = serializers.CharField(source="plate_state", read_only=True)

    class Meta:
        model = Vehicle
        fields = ["id", "plate", "state", "nickname", "created_at"]


def _nickname_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        max_length=VEHICLE_NICKNAME_MAX_LENGTH,
        allow_blank=True,
        help_text="Optional label, e.g. Work van.",
        **kwargs,
    )


def _vehicle_request(name: str, serializer: type[serializers.Serializer]):
    return inline_serializer(name, fields={"vehicle": serializer()})


def _vehicle_response(vehicle: Vehicle, code: int = status.HTTP_200_OK) -> Response:
    return Response(VehicleOutputSerializer(vehicle).data, status=code)


class _VehiclesApi(APIView):
    """The signed-in person's own vehicles, by token only; writes throttled per account."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_scope = "writes"

    def get_throttles(self) -> list:
        if self.request.method in SAFE_METHODS:
            return []
        return super().get_throttles()


class VehicleListApi(_VehiclesApi):
    """The person's vehicles, oldest first; adding a plate they have already returns it
    (200), a new one is 201, and a full account (VEHICLES_PER_ACCOUNT) a 409."""

    @extend_schema_serializer(component_name="VehicleAdd")
    class InputSerializer(serializers.Serializer):
        plate = PlateField()
        state = PlateStateField()
        nickname = _nickname_field(default="")

    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: VehicleOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        vehicles = vehicle_list(user=request.user)
        return list_response(
            request, vehicles, lambda page: VehicleOutputSerializer(page, many=True).data
        )

    @extend_schema(
        request=_vehicle_request("VehicleAddRequest", InputSerializer),
        responses={201: VehicleOutputSerializer, 200: VehicleOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=unwrap(request.data, "vehicle"))
        serializer.is_valid(raise_exception=True)
        vehicle, created = vehicle_add(user=request.user, **serializer.validated_data)
        return _vehicle_response(
            vehicle, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class VehicleDetailApi(_VehiclesApi):
    """Rename or remove one of the person's vehicles; another person's id is a 404.

    Removing a vehicle changes no reservation: each keeps the plate it was booked with.
    """

    @extend_schema_serializer(component_name="VehicleRename")
    class InputSerializer(serializers.Serializer):
        nickname = _nickname_field()

    @extend_schema(
        request=_vehicle_request("VehicleRenameRequest", InputSerializer),
        responses={200: VehicleOutputSerializer},
    )
    def patch(self, request: Request, vehicle_id: str) -> Response:
        vehicle = vehicle_get_for_user(public_id=vehicle_id, user=request.user)
        serializer = self.InputSerializer(data=unwrap(request.data, "vehicle"))
        serializer.is_valid(raise_exception=True)
        vehicle = vehicle_rename(vehicle=vehicle, **serializer.validated_data)
        return _vehicle_response(vehicle)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, vehicle_id: str) -> Response:
        vehicle_remove(vehicle=vehicle_get_for_user(public_id=vehicle_id, user=request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)
