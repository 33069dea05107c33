from reservations import views
from reservations.access import GUEST, OWNER, with_access
from secure_my_spot.api import route

# At most 18 digits: any id the bigint columns can hold, and no overflow reaches the database.
ID = "[0-9]{1,18}"
# A reservation's public id (22 URL-safe characters today); bounded, so nothing long is looked up.
PUBLIC_ID = "[A-Za-z0-9_-]{1,64}"
RESERVATION = rf"(?P<reservation_id>{PUBLIC_ID})"
SPOT = rf"(?P<parking_spot_id>{ID})"
EMAIL = r"(?P<email>[^/]+)"
# A manage link's token: public id, timestamp and signature, joined by colons.
LINK = r"(?P<token>[A-Za-z0-9_:-]{1,200})"

urlpatterns = [
    route("reservation-auth", views.ReservationListCurrentApi.as_view(), name="reservation-list"),
    route(
        "expired-reservations-auth",
        views.ReservationListPastApi.as_view(),
        name="reservation-list-past",
    ),
    route(
        f"reservation-unauth/{RESERVATION}/{EMAIL}",
        with_access(views.ReservationDetailApi, access=GUEST),
        name="reservation-detail-guest",
    ),
    route(
        f"reservation-auth/{SPOT}",
        with_access(views.ReservationCreateApi, access=OWNER),
        name="reservation-create",
    ),
    route(
        f"reservation-unauth/{SPOT}",
        with_access(views.ReservationCreateGuestApi, access=GUEST),
        name="reservation-create-guest",
    ),
    route(
        f"update-reservation-auth/{RESERVATION}",
        with_access(views.ReservationUpdateApi, access=OWNER),
        name="reservation-update",
    ),
    route(
        f"update-reservation-unauth/{RESERVATION}/{EMAIL}",
        with_access(views.ReservationUpdateApi, access=GUEST),
        name="reservation-update-guest",
    ),
    route(
        f"delete-reservation-auth/{RESERVATION}",
        with_access(views.ReservationDeleteApi, access=OWNER),
        name="reservation-delete",
    ),
    route(
        f"delete-reservation-unauth/{RESERVATION}/{EMAIL}",
        with_access(views.ReservationDeleteApi, access=GUEST),
        name="reservation-delete-guest",
    ),
    route(f"quote/{SPOT}", views.SpotQuoteApi.as_view(), name="spot-quote"),
    route(
        f"quote-reservation-auth/{RESERVATION}",
        with_access(views.ReservationQuoteApi, access=OWNER),
        name="reservation-quote",
    ),
    route(
        f"quote-reservation-unauth/{RESERVATION}/{EMAIL}",
        with_access(views.ReservationQuoteApi, access=GUEST),
        name="reservation-quote-guest",
    ),
    route(
        f"reservation-link/{LINK}",
        views.ReservationLinkApi.as_view(),
        name="reservation-link",
    ),
]
