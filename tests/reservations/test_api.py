from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from reservations.links import reservation_link_token
from reservations.models import Reservation, ReservationStatus
from testing.factories import ParkingSpotFactory, ReservationFactory, UserFactory
from tests.threads import race

pytestmark = pytest.mark.django_db
S = ReservationStatus
FIELDS = {
    "id",
    "user",
    "email",
    "parking_spot",
    "rate",
    "start_time",
    "end_time",
    "paid",
    "status",
    "amount_cents",
    "stripe_setup_intent_id",
}


def book_auth(client, spot_id, length=60, slash="/"):
    body = {"reservation": {"reservation_length": length}}
    return client.post(f"/reservation-auth/{spot_id}{slash}", body, format="json")


def book_guest(client, spot_id, email="Guest@Example.com", length=60, slash="/"):
    body = {"reservation": {"email": email, "reservation_length": length}}
    return client.post(f"/reservation-unauth/{spot_id}{slash}", body, format="json")


def iso(moment):
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- booking ------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["/", ""])
def test_auth_booking(signed_in, user, spot, slash):
    response = book_auth(signed_in, spot.pk, length=90, slash=slash)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= FIELDS
    assert body["user"] == user.pk
    assert body["email"] == user.email
    assert body["parking_spot"] == spot.pk
    assert body["rate"] == "1.50"  # the first-hour rate of "elsewhere" (unzoned spot)
    assert body["status"] == "pending_payment"
    assert body["paid"] is False
    assert body["amount_cents"] == 0
    assert body["start_time"].endswith("Z") and body["end_time"].endswith("Z")
    reservation = Reservation.objects.get(public_id=body["id"])
    assert reservation.end_time - reservation.start_time == timedelta(minutes=90)


@pytest.mark.parametrize("slash", ["/", ""])
def test_guest_booking(api_client, spot, slash):
    response = book_guest(api_client, spot.pk, slash=slash)

    assert response.status_code == 201, response.content
    assert response.json()["user"] is None
    assert response.json()["email"] == "guest@example.com"


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "stored"),
    [
        (0, "198.51.100.1", "203.0.113.7"),  # no proxy trusted: the socket's address
        (1, "198.51.100.1, 198.51.100.2", "198.51.100.2"),  # the one our proxy saw
        (1, "2001:db8::1", "2001:db8::1"),
        (1, "not-an-address", None),
    ],
)
def test_booking_records_the_client_address_as_the_throttles_see_it(
    api_client, signed_in, settings, num_proxies, forwarded_for, stored
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    headers = {"REMOTE_ADDR": "203.0.113.7", "HTTP_X_FORWARDED_FOR": forwarded_for}
    body = {"reservation": {"reservation_length": 30}}

    responses = [
        APIClient().post(
            f"/reservation-unauth/{ParkingSpotFactory().pk}/",
            {"reservation": {"email": "guest@example.com", "reservation_length": 30}},
            format="json",
            **headers,
        ),
        signed_in.post(
            f"/reservation-auth/{ParkingSpotFactory().pk}/", body, format="json", **headers
        ),
    ]

    assert [response.status_code for response in responses] == [201, 201]
    assert [
        Reservation.objects.get(public_id=response.json()["id"]).client_address
        for response in responses
    ] == [stored, stored]


def test_booking_a_held_spot_is_409(api_client, signed_in, spot):
    assert book_guest(api_client, spot.pk).status_code == 201

    response = book_auth(signed_in, spot.pk)

    assert response.status_code == 409
    assert "detail" in response.json()


def test_booking_needs_a_token(api_client, spot):
    assert book_auth(api_client, spot.pk).status_code == 401


def test_booking_unknown_spot_is_404(api_client, signed_in):
    assert book_auth(signed_in, 999999).status_code == 404
    assert book_guest(api_client, 999999999999999999).status_code == 404
    assert book_guest(api_client, 9999999999999999999).status_code == 404


@pytest.mark.parametrize(
    "length", [0, -1, 1441, 10**400, 2.5, "1e3", "sixty", None, True, [], {}, "", " "]
)
def test_bad_lengths_are_400_naming_the_field(signed_in, spot, length):
    response = book_auth(signed_in, spot.pk, length=length)

    assert response.status_code == 400, response.content
    assert "reservation_length" in response.json()
    assert not Reservation.objects.exists()


def test_spot_time_limit_caps_the_length(signed_in, spot):
    # Metered around the clock with a 1-hour limit: any hour the tests run is metered.
    spot.meter_hours = "1HR Pas Mon-Sun 0000-2400"
    spot.save()

    too_long = book_auth(signed_in, spot.pk, length=61)
    assert too_long.status_code == 400
    assert "1-hour limit daily 00:00-24:00" in too_long.json()["reservation_length"][0]
    assert book_auth(signed_in, spot.pk, length=60).status_code == 201


@pytest.mark.parametrize(
    "email", ["not-an-email", "", None, 42, "a@b", "x" * 250 + "@example.com", "a\u0000@x.com"]
)
def test_guest_booking_bad_email(api_client, spot, email):
    response = book_guest(api_client, spot.pk, email=email)

    assert response.status_code == 400
    assert "email" in response.json()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"reservation": {"reservation_length": 10}', "application/json"),
        ("reservation_length=10", "application/x-www-form-urlencoded"),
        ("not json at all", "application/json"),
        (
            '{"reservation": {"reservation_length": 10, "email": "\\ud800@x.com"}}',
            "application/json",
        ),
        (b'{"reservation": {"email": "\xff\xfe@x.com"}}', "application/json"),
        ("[]", "application/json"),
        ('"reservation"', "application/json"),
        ('{"reservation": [1, 2]}', "application/json"),
        ('{"reservation": "60"}', "application/json"),
        ('{"reservation_length": 60, "email": "a@example.com"}', "application/json"),
        ('{"reservation": {"reservation_length": 1e999}}', "application/json"),
        ('{"reservation": {"reservation_length": NaN}}', "application/json"),
    ],
)
@pytest.mark.parametrize("route", ["book-guest", "book-auth", "update-guest", "update-auth"])
def test_malformed_bodies_are_4xx_json(signed_in, user, spot, route, body, content_type):
    reservation = ReservationFactory(status=S.ACTIVE, user=None)
    owned = ReservationFactory(status=S.ACTIVE, user=user)
    method, path = {
        "book-guest": ("POST", f"/reservation-unauth/{spot.pk}/"),
        "book-auth": ("POST", f"/reservation-auth/{spot.pk}/"),
        "update-guest": (
            "PATCH",
            f"/update-reservation-unauth/{reservation.public_id}/guest@example.com",
        ),
        "update-auth": ("PATCH", f"/update-reservation-auth/{owned.public_id}/"),
    }[route]

    response = signed_in.generic(method, path, body, content_type=content_type)

    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    assert not Reservation.objects.filter(spot=spot).exists()
    assert set(Reservation.objects.values_list("status", "end_time")) == {
        (S.ACTIVE, reservation.end_time),
        (S.ACTIVE, owned.end_time),
    }


def test_missing_wrapper_names_it(signed_in, spot):
    response = signed_in.post(
        f"/reservation-auth/{spot.pk}/", {"reservation_length": 5}, format="json"
    )

    assert response.status_code == 400
    assert "reservation" in response.json()


def test_unpaid_reservation_blocks_booking_once_its_email_owner_saw_it(api_client, spot):
    unpaid = ReservationFactory(
        spot=ParkingSpotFactory(), status=S.PAYMENT_FAILED, email="guest@example.com"
    )
    assert book_guest(api_client, spot.pk, email="GUEST@example.com").status_code == 201

    opened = api_client.get(f"/reservation-link/{reservation_link_token(reservation=unpaid)}/")
    assert opened.status_code == 200
    response = book_guest(api_client, ParkingSpotFactory().pk, email="GUEST@example.com")

    assert response.status_code == 409
    assert "cannot book as a guest" in response.json()["detail"]
    assert "unpaid" not in response.json()["detail"]


def test_inactive_spot_is_409(api_client):
    assert book_guest(api_client, ParkingSpotFactory(active=False).pk).status_code == 409


# --- reading ------------------------------------------------------------------------------


def test_current_and_past_lists(signed_in, user, spot):
    pending = Reservation.objects.get(public_id=book_auth(signed_in, spot.pk).json()["id"])
    old = ReservationFactory(status=S.PAID, user=user, email=user.email)
    failed = ReservationFactory(status=S.PAYMENT_FAILED, user=user)
    ReservationFactory(status=S.CANCELLED, user=user)
    active = ReservationFactory(status=S.ACTIVE, user=user)
    ReservationFactory(status=S.ACTIVE, email="someone@else.com")

    current = signed_in.get("/reservation-auth/")
    past = signed_in.get("/expired-reservations-auth")

    assert current.status_code == past.status_code == 200
    assert [item["id"] for item in current.json()] == [active.public_id, pending.public_id]
    assert [item["id"] for item in past.json()] == [failed.public_id, old.public_id]
    assert past.json()[1]["paid"] is True and past.json()[1]["amount_cents"] == 450


def test_active_reservation_shows_the_bill_so_far(signed_in, user):
    start = timezone.now() - timedelta(minutes=120)
    ReservationFactory(
        spot=ParkingSpotFactory(), status=S.ACTIVE, user=user, start_time=start, minutes=180
    )

    (item,) = signed_in.get("/reservation-auth/").json()

    assert item["amount_cents"] in (900, 908)  # 120 or 121 started minutes at 4.50/h


def test_lists_need_a_token(api_client):
    assert api_client.get("/reservation-auth/").status_code == 401
    assert api_client.get("/expired-reservations-auth/").status_code == 401


@pytest.mark.parametrize("slash", ["/", ""])
def test_guest_reads_with_any_letter_case(api_client, spot, slash):
    guest = ReservationFactory(spot=spot, status=S.ACTIVE, email="guest@example.com")

    response = api_client.get(f"/reservation-unauth/{guest.public_id}/GUEST@Example.COM{slash}")

    assert response.status_code == 200
    assert response.json()["id"] == guest.public_id


@pytest.mark.parametrize(
    "email",
    ["other@example.com", "guest@example.co", "not-an-email", "%00", "guest@example.com.evil"],
)
def test_guest_wrong_email_is_404(api_client, spot, email):
    guest = ReservationFactory(spot=spot, status=S.ACTIVE, email="guest@example.com")

    paths = [
        f"/reservation-unauth/{guest.public_id}/{email}/",
        f"/update-reservation-unauth/{guest.public_id}/{email}/",
        f"/delete-reservation-unauth/{guest.public_id}/{email}/",
    ]
    assert api_client.get(paths[0]).status_code == 404
    body = {"reservation": {"end_time": None}}
    assert api_client.patch(paths[1], body, format="json").status_code == 404
    assert api_client.delete(paths[2]).status_code == 404
    guest.refresh_from_db()
    assert guest.status == S.ACTIVE


def test_guest_routes_do_not_reach_account_reservations(api_client, user, spot):
    owned = ReservationFactory(spot=spot, status=S.ACTIVE, user=user, email=user.email)

    assert api_client.get(f"/reservation-unauth/{owned.public_id}/{user.email}/").status_code == 404


def test_other_users_reservation_is_404(signed_in, spot):
    theirs = ReservationFactory(spot=spot, status=S.PENDING_PAYMENT, user=UserFactory())

    body = {"reservation": {"end_time": None}}
    assert (
        signed_in.patch(
            f"/update-reservation-auth/{theirs.public_id}/", body, format="json"
        ).status_code
        == 404
    )
    assert signed_in.delete(f"/delete-reservation-auth/{theirs.public_id}/").status_code == 404
    assert (
        signed_in.patch("/update-reservation-auth/999999999/", body, format="json").status_code
        == 404
    )


def test_guest_routes_are_throttled_per_client_address(api_client, spot, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"guest": "3/minute"})
    guest = ReservationFactory(spot=spot, status=S.PENDING_PAYMENT)
    path = f"{guest.public_id}/guest@example.com/"

    codes = [
        api_client.get(f"/reservation-unauth/{path}").status_code,
        book_guest(api_client, ParkingSpotFactory().pk).status_code,
        api_client.delete(f"/delete-reservation-unauth/{path}").status_code,
        api_client.get(f"/reservation-unauth/{path}").status_code,
    ]

    assert codes == [200, 201, 204, 429]
    other = api_client.get(f"/reservation-unauth/{path}", REMOTE_ADDR="10.9.8.7")
    assert other.status_code == 200


# --- changing the end -----------------------------------------------------------------------


def patch_end(client, reservation, end_time, guest_email=None):
    body = {"reservation": {"end_time": end_time}}
    if guest_email is None:
        return client.patch(
            f"/update-reservation-auth/{reservation.public_id}/", body, format="json"
        )
    path = f"/update-reservation-unauth/{reservation.public_id}/{guest_email}"
    return client.patch(path, body, format="json")


def test_extend_with_a_javascript_timestamp(
    signed_in, user, spot, outbox, django_capture_on_commit_callbacks
):
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE, user=user, email=user.email)
    new_end = (reservation.end_time + timedelta(minutes=30)).replace(microsecond=0)
    js = new_end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    with django_capture_on_commit_callbacks(execute=True):
        response = patch_end(signed_in, reservation, js)

    assert response.status_code == 200, response.content
    assert response.json()["end_time"] == iso(new_end)
    assert response.json()["status"] == "active"
    assert len(outbox.deliver()) == 1 and outbox.deliver()[0].to == [user.email]


def test_extend_with_another_offset(api_client, spot):
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE)
    new_end = (reservation.end_time + timedelta(minutes=10)).replace(microsecond=0)
    with_offset = new_end.astimezone(timezone.get_fixed_timezone(-300)).isoformat()

    response = patch_end(api_client, reservation, with_offset, guest_email="guest@example.com")

    assert response.status_code == 200
    assert response.json()["end_time"] == iso(new_end)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("end_time", [None, "past", "now"])
def test_ending_now(api_client, spot, end_time, outbox, enqueued):
    """Committed for real, as in production: the ending runs when the PATCH commits."""
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE, card_last4="4242")
    value = {
        None: None,
        "past": iso(timezone.now() - timedelta(minutes=1)),
        "now": iso(timezone.now()),
    }[end_time]

    response = patch_end(api_client, reservation, value, guest_email="Guest@example.com")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ended"
    assert body["amount_cents"] == 50
    assert body["ended_at"] == body["end_time"]
    assert outbox.deliver() == []  # sent by the workers once the card is charged
    assert enqueued.drain() == [("tasks.reservation_finish", [reservation.pk])]
    assert book_guest(APIClient(), spot.pk, email="next@example.com").status_code == 201


def test_extension_overlapping_a_later_reservation_is_409(api_client, spot):
    first = ReservationFactory(spot=spot, status=S.ACTIVE, minutes=30)
    ReservationFactory(
        spot=spot, status=S.PENDING_PAYMENT, start_time=first.end_time, email="b@x.com"
    )

    response = patch_end(
        api_client, first, iso(first.end_time + timedelta(minutes=5)), "guest@example.com"
    )

    assert response.status_code == 409


@pytest.mark.parametrize(
    ("end_time", "field"),
    [
        ("2026-11-29T15:04:05", "end_time"),  # no offset
        ("tomorrow", "end_time"),
        ("2026-13-45T99:00:00Z", "end_time"),
        ("9999-12-31T23:59:59-12:00", "end_time"),
        ("0001-01-01T00:00:00+01:00", "end_time"),
        (12345, "end_time"),
        ([], "end_time"),
        ("x" * 10000, "end_time"),
    ],
)
def test_bad_end_times_are_400(api_client, spot, end_time, field):
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE)

    response = patch_end(api_client, reservation, end_time, guest_email="guest@example.com")

    assert response.status_code == 400, response.content
    assert field in response.json()


def test_end_before_start_and_past_maximum_are_400(api_client, spot):
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE)

    before = patch_end(
        api_client,
        reservation,
        iso(reservation.start_time - timedelta(seconds=1)),
        "guest@example.com",
    )
    too_long = patch_end(
        api_client,
        reservation,
        iso(reservation.start_time + timedelta(minutes=1441)),
        "guest@example.com",
    )

    assert before.status_code == too_long.status_code == 400
    assert "end_time" in before.json() and "end_time" in too_long.json()


def test_pending_reservation_end_can_move_without_an_email(
    api_client, spot, outbox, django_capture_on_commit_callbacks
):
    reservation = ReservationFactory(spot=spot, status=S.PENDING_PAYMENT, minutes=30)
    new_end = (reservation.end_time + timedelta(minutes=15)).replace(microsecond=0)

    with django_capture_on_commit_callbacks(execute=True):
        response = patch_end(api_client, reservation, iso(new_end), "guest@example.com")

    assert response.status_code == 200
    assert response.json()["end_time"] == iso(new_end)
    assert response.json()["status"] == "pending_payment"
    assert outbox.deliver() == []


@pytest.mark.django_db(transaction=True)
def test_twenty_clients_racing_through_the_api_get_one_201(spot):
    codes = race(
        20, lambda n: book_guest(APIClient(), spot.pk, email=f"racer{n}@example.com").status_code
    )

    assert sorted(codes) == [201] + [409] * 19


def test_missing_end_time_is_400(signed_in, user, spot):
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE, user=user)

    response = signed_in.patch(
        f"/update-reservation-auth/{reservation.public_id}", {"reservation": {}}, format="json"
    )

    assert response.status_code == 400
    assert "end_time" in response.json()


@pytest.mark.parametrize(
    "status", [S.ENDED, S.PAID, S.PAYMENT_FAILED, S.CANCELLED, S.PENDING_PAYMENT]
)
def test_ending_a_reservation_that_is_not_active_is_409(api_client, spot, status):
    reservation = ReservationFactory(spot=spot, status=status)

    assert patch_end(api_client, reservation, None, "guest@example.com").status_code == 409


def test_update_needs_a_token(api_client, spot):
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE)
    assert patch_end(api_client, reservation, None).status_code == 401


# --- deleting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["/", ""])
def test_delete_cancels_a_pending_reservation(signed_in, user, spot, slash):
    reservation = Reservation.objects.get(public_id=book_auth(signed_in, spot.pk).json()["id"])

    response = signed_in.delete(f"/delete-reservation-auth/{reservation.public_id}{slash}")

    assert response.status_code == 204
    reservation.refresh_from_db()
    assert reservation.status == S.CANCELLED and reservation.amount_cents == 0
    assert book_auth(signed_in, spot.pk).status_code == 201  # free at once


def test_guest_delete(api_client, spot):
    reservation = Reservation.objects.get(public_id=book_guest(api_client, spot.pk).json()["id"])

    response = api_client.delete(
        f"/delete-reservation-unauth/{reservation.public_id}/GUEST@example.com"
    )

    assert response.status_code == 204
    reservation.refresh_from_db()
    assert reservation.status == S.CANCELLED


def test_delete_active_is_409(api_client, spot):
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE)

    response = api_client.delete(
        f"/delete-reservation-unauth/{reservation.public_id}/guest@example.com/"
    )

    assert response.status_code == 409
    reservation.refresh_from_db()
    assert reservation.status == S.ACTIVE


def test_delete_needs_a_token(api_client, spot):
    reservation = ReservationFactory(spot=spot, status=S.PENDING_PAYMENT)
    assert (
        api_client.delete(f"/delete-reservation-auth/{reservation.public_id}/").status_code == 401
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/reservation-auth/"),
        ("delete", "/expired-reservations-auth/"),
        ("get", "/update-reservation-auth/1/"),
        ("put", "/delete-reservation-unauth/1/a@b.com/"),
        ("patch", "/reservation-unauth/1/"),
    ],
)
def test_wrong_method_is_405(signed_in, method, path):
    response = getattr(signed_in, method)(path)
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_down_does_not_fail_a_committed_change(api_client, spot, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    reservation = ReservationFactory(spot=spot, status=S.ACTIVE)
    later = reservation.end_time + timedelta(minutes=15)

    response = patch_end(api_client, reservation, iso(later), "guest@example.com")

    assert response.status_code == 200
    reservation.refresh_from_db()
    assert reservation.end_time == later
