from reservations import views
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
        views.ReservationDetailGuestApi.as_view(),
        name="reservation-detail-guest",
    ),
    route(
        f"reservation-auth/{SPOT}", views.ReservationCreateApi.as_view(), name="reservation-create"
    ),
    route(
        f"reservation-unauth/{SPOT}",
        views.ReservationCreateGuestApi.as_view(),
        name="reservation-create-guest",
    ),
    route(
        f"update-reservation-auth/{RESERVATION}",
        views.ReservationUpdateApi.as_view(),
        name="reservation-update",
    ),
    route(
        f"update-reservation-unauth/{RESERVATION}/{EMAIL}",
        views.ReservationUpdateGuestApi.as_view(),
        name="reservation-update-guest",
    ),
    route(
        f"delete-reservation-auth/{RESERVATION}",
        views.ReservationDeleteApi.as_view(),
        name="reservation-delete",
    ),
    route(
        f"delete-reservation-unauth/{RESERVATION}/{EMAIL}",
        views.ReservationDeleteGuestApi.as_view(),
        name="reservation-delete-guest",
    ),
    route(
        f"reservation-link/{LINK}",
        views.ReservationLinkApi.as_view(),
        name="reservation-link",
    ),
]
