"""The enforcement route: is this car, or this meter, covered by a paid stay right now?"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from enforcement.authentication import EnforcementKeyAuthentication, HasEnforcementScope
from enforcement.models import Scope
from enforcement.selectors import Reason, coverage_check, meter_normalise
from enforcement.services import coverage_lookup_record
from enforcement.throttles import EnforcementKeyRateThrottle
from secure_my_spot.api import JSONOnlyNegotiation, client_address
from secure_my_spot.exceptions import NotFoundError
from users.plates import PlateField, PlateStateField

QUERY_FIELDS = ("plate", "state", "meter")
# What the log says of a lookup that got no coverage answer.
INVALID = "invalid"
UNKNOWN_METER = "unknown_meter"


class CoverageQuerySerializer(serializers.Serializer):
    plate = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_null=True)
    meter = serializers.CharField(allow_null=True)


class CoverageStaySerializer(serializers.Serializer):
    parking_spot = serializers.IntegerField()
    meter = serializers.CharField(allow_null=True)
    borough = serializers.CharField()
    street = serializers.CharField()
    plate = serializers.CharField()
    state = serializers.CharField()
    start_time = serializers.DateTimeField()
    end_time = serializers.DateTimeField()
    status = serializers.ChoiceField(
        choices=["active", "ended"], help_text="`ended` for every stay that ended, paid or not."
    )


class CoverageOutputSerializer(serializers.Serializer):
    covered = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=[reason.value for reason in Reason])
    checked_at = serializers.DateTimeField()
    query = CoverageQuerySerializer(help_text="The query as looked up (normalised).")
    stays = CoverageStaySerializer(
        many=True,
        help_text="The covering stays; when not covered, the stay the reason is about.",
    )


class CoverageApi(APIView):
    """Whether a paid stay covers a plate, a meter, or that plate at that meter, now.

    Answers where, which car and when; never who (no e-mail, account, name, card or
    reservation id). Every answered lookup is logged with its key, address and query.
    """

    authentication_classes = [EnforcementKeyAuthentication]
    permission_classes = [HasEnforcementScope]
    throttle_classes = [EnforcementKeyRateThrottle]
    content_negotiation_class = JSONOnlyNegotiation
    enforcement_scope = Scope.COVERAGE

    class InputSerializer(serializers.Serializer):
        plate = PlateField(required=False)
        state = PlateStateField(required=False)
        meter = serializers.CharField(
            required=False, max_length=64, help_text="The meter's number, e.g. 1234567."
        )

        def validate_meter(self, value: str) -> str:
            return meter_normalise(value)

        def validate(self, data: dict) -> dict:
            if "plate" in data and "state" not in data:
                raise serializers.ValidationError({"state": ["Give the plate's state with it."]})
            if "state" in data and "plate" not in data:
                raise serializers.ValidationError({"plate": ["Give the plate with its state."]})
            if not data:
                raise serializers.ValidationError(
                    {"plate": ["Give plate and state, or meter, or all three."]}
                )
            return data

    @extend_schema(
        operation_id="enforcement_coverage",
        parameters=[
            OpenApiParameter(
                "plate",
                OpenApiTypes.STR,
                description="With state: the car's plate, as read (`abc-1234` is ABC1234).",
            ),
            OpenApiParameter("state", OpenApiTypes.STR, description="Its state's code: NY."),
            OpenApiParameter(
                "meter",
                OpenApiTypes.STR,
                description="A meter's number: the stay there, or with plate and state, "
                "whether that car is covered at this meter.",
            ),
        ],
        responses={200: CoverageOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        given = {name: request.query_params.get(name, "") for name in QUERY_FIELDS}
        query = self.InputSerializer(data=request.query_params)

        def record(*, normalised: dict, covered: bool | None, reason: str) -> None:
            coverage_lookup_record(
                key=request.auth,
                given=given,
                normalised=normalised,
                covered=covered,
                reason=reason,
                client_address=client_address(request),
                at=now,
            )

        if not query.is_valid():
            record(normalised={}, covered=None, reason=INVALID)
            raise serializers.ValidationError(query.errors)
        asked = query.validated_data
        try:
            coverage = coverage_check(**asked, now=now)
        except NotFoundError:
            record(normalised=asked, covered=None, reason=UNKNOWN_METER)
            raise
        record(normalised=asked, covered=coverage.covered, reason=coverage.reason)
        answer = {
            "covered": coverage.covered,
            "reason": coverage.reason,
            "checked_at": coverage.checked_at,
            "query": {name: asked.get(name) for name in QUERY_FIELDS},
            "stays": coverage.stays,
        }
        # An answer about this moment and a car: no cache on the way may keep it.
        return Response(
            CoverageOutputSerializer(answer).data, headers={"Cache-Control": "no-store"}
        )
