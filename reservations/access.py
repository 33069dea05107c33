"""Who may reach a reservation route, in one place: the owner by token, or a guest by the
reservation's id and the e-mail it was made with.

Every route names its access where it is routed (`with_access(View, access=GUEST)` in
urls.py), and the view finds its reservation with `self.access.find(...)`; nothing depends
on the order of a class's bases.
"""

from dataclasses import dataclass
from typing import Protocol

from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from reservations.models import Reservation
from reservations.selectors import reservation_get_for_guest, reservation_get_for_user


class _Finder(Protocol):
    def __call__(self, request: Request, **lookup: str) -> Reservation: ...


def _owner_finds(request: Request, *, reservation_id: str) -> Reservation:
    return reservation_get_for_user(public_id=reservation_id, user=request.user)


def _guest_finds(request: Request, *, reservation_id: str, email: str) -> Reservation:
    return reservation_get_for_guest(public_id=reservation_id, email=email)


@dataclass(frozen=True)
class Access:
    """How a route is reached. `None` keeps the project's default (REST_FRAMEWORK)."""

    name: str
    find: _Finder
    throttle_scope: str
    permission_classes: tuple[type[BasePermission], ...] | None = None
    authentication_classes: tuple[type, ...] | None = None


# Signed in (the default token authentication and IsAuthenticated); someone else's
# reservation is a 404. Every owner route writes: throttled per account.
OWNER = Access(name="Owner", find=_owner_finds, throttle_scope="writes")
# Open, throttled per client address; the reservation is found by id and e-mail.
GUEST = Access(
    name="Guest",
    find=_guest_finds,
    throttle_scope="guest",
    permission_classes=(AllowAny,),
    authentication_classes=(),
)


def with_access(view: type[APIView], *, access: Access):
    """`view` behind `access`, as a view function for urls.py."""
    attributes: dict[str, object] = {
        "access": access,
        "throttle_scope": access.throttle_scope,
        "__doc__": view.__doc__,
    }
    if access.permission_classes is not None:
        attributes["permission_classes"] = list(access.permission_classes)
    if access.authentication_classes is not None:
        attributes["authentication_classes"] = list(access.authentication_classes)
    return type(f"{view.__name__}{access.name}", (view,), attributes).as_view()
