"""Plates on stays (issue 17): given at booking or later, changed only until the stay starts."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from outbox.models import OutboundEmail
from reservations.models import Reservation
from reservations.models import ReservationStatus as S
from reservations.services import reservation_activate
from testing.factories import ReservationFactory, UserFactory
from tests.reservations.test_ahead import hours, iso
from users.models import Vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roomy_caps(settings):
    settings.HOLDS_MAX_PER_ADDRESS = settings.HOLDS_MAX_PER_EMAIL = 100
    settings.HOLDS_MAX_PER_ACCOUNT = settings.RESERVATIONS_AHEAD_MAX = 100


@pytest.fixture
def account():
    user = UserFactory(email_verified_at=timezone.now())
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client


def guest_book(spot, **car):
    body = {"email": "guest@example.com", "reservation_length": 60, **car}
    return APIClient().post(f"/reservation-unauth/{spot.pk}/", {"reservation": body}, format="json")


def account_book(client, spot, **car):
    body = {"reservation_length": 60, **car}
    return client.post(f"/reservation-auth/{spot.pk}/", {"reservation": body}, format="json")


def guest_patch(reservation, **body):
    path = f"/update-reservation-unauth/{reservation.public_id}/{reservation.email}/"
    return APIClient().patch(path, {"reservation": body}, format="json")


def stored(response) -> Reservation:
    return Reservation.objects.get(public_id=response.json()["id"])


# --- booking -------------------------------------------------------------------------------


def test_a_guest_booking_records_the_plate_as_an_agent_reads_it(spot):
    response = guest_book(spot, plate=" abc-1234 ", state="ny")

    assert response.status_code == 201, response.content
    assert (response.json()["plate"], response.json()["state"]) == ("ABC1234", "NY")
    reservation = stored(response)
    assert (reservation.plate, reservation.plate_state) == ("ABC1234", "NY")


def test_a_booking_without_a_plate_still_works_and_says_null(spot):
    response = guest_book(spot)

    assert response.status_code == 201, response.content
    assert (response.json()["plate"], response.json()["state"]) == (None, None)
    assert stored(response).plate == ""


@pytest.mark.parametrize(
    ("car", "field"),
    [
        ({"plate": "ABC1234"}, "state"),
        ({"state": "NY"}, "plate"),
        ({"plate": "AB&1234", "state": "NY"}, "plate"),
        ({"plate": "ABC1234", "state": "New York"}, "state"),
        ({"plate": "", "state": "NY"}, "plate"),
        ({"plate": "A" * 40, "state": "NY"}, "plate"),
        ({"plate": ["ABC"], "state": "NY"}, "plate"),
        ({"plate": None, "state": "NY"}, "plate"),
    ],
)
def test_a_bad_car_is_a_400_naming_the_field_and_books_nothing(spot, car, field):
    response = guest_book(spot, **car)

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Reservation.objects.exists()


def test_an_accounts_new_plate_joins_its_vehicles(account, spot):
    response = account_book(account, spot, plate="xyz 987", state="nj")

    assert response.status_code == 201, response.content
    assert list(Vehicle.objects.filter(user=account.user).values_list("plate", "plate_state")) == [
        ("XYZ987", "NJ")
    ]


def test_a_full_account_still_books_without_saving_the_plate(account, spot, settings):
    settings.VEHICLES_PER_ACCOUNT = 1
    Vehicle.objects.create(user=account.user, plate="OLD1", plate_state="NY")

    response = account_book(account, spot, plate="NEW2", state="NY")

    assert response.status_code == 201, response.content
    assert response.json()["plate"] == "NEW2"
    assert Vehicle.objects.filter(user=account.user).count() == 1


def test_an_account_books_for_one_of_its_vehicles_by_id(account, spot):
    vehicle = Vehicle.objects.create(user=account.user, plate="CAR1", plate_state="CT")

    response = account_book(account, spot, vehicle=vehicle.public_id)

    assert response.status_code == 201, response.content
    assert (response.json()["plate"], response.json()["state"]) == ("CAR1", "CT")


def test_someone_elses_vehicle_id_is_a_400_like_an_unknown_one(account, spot):
    theirs = Vehicle.objects.create(user=UserFactory(), plate="THEIRS", plate_state="NY")

    for vehicle in (theirs.public_id, "no-such-vehicle"):
        response = account_book(account, spot, vehicle=vehicle)
        assert response.status_code == 400, response.content
        assert "vehicle" in response.json()
    assert not Reservation.objects.exists()


def test_a_vehicle_and_a_plate_together_are_a_400(account, spot):
    vehicle = Vehicle.objects.create(user=account.user, plate="CAR1", plate_state="CT")

    response = account_book(account, spot, vehicle=vehicle.public_id, plate="X1", state="NY")

    assert response.status_code == 400 and "vehicle" in response.json()


# --- changing it -----------------------------------------------------------------------------


def test_the_plate_changes_until_the_stay_starts_and_the_person_is_told(spot, outbox):
    response = guest_book(spot, plate="ABC1234", state="NY", start_time=iso(hours(3)))
    reservation = reservation_activate(reservation_id=stored(response).pk, card_last4="4242")
    outbox.deliver()

    changed = guest_patch(reservation, plate="def 567", state="pa")

    assert changed.status_code == 200, changed.content
    assert (changed.json()["plate"], changed.json()["state"]) == ("DEF567", "PA")
    mail = outbox.deliver()[-1]
    assert mail.subject == "The plate on your parking reservation has changed"
    assert "DEF567 (PA)" in mail.body


def test_after_the_start_the_plate_is_fixed_and_the_409_says_why(spot):
    reservation = ReservationFactory(spot=spot, plate="ABC1234", plate_state="NY")

    response = guest_patch(reservation, plate="OTHER1", state="NY")

    assert response.status_code == 409, response.content
    assert "until the stay starts" in response.json()["plate"][0]
    reservation.refresh_from_db()
    assert reservation.plate == "ABC1234"


def test_a_stay_booked_without_a_plate_gets_one_after_it_started(spot):
    reservation = ReservationFactory(spot=spot)

    response = guest_patch(reservation, plate="LATE1", state="NY")

    assert response.status_code == 200, response.content
    assert response.json()["plate"] == "LATE1"


def test_the_same_plate_again_changes_and_mails_nothing(spot, outbox):
    reservation = ReservationFactory(spot=spot, plate="ABC1234", plate_state="NY")
    updated_at = reservation.updated_at

    response = guest_patch(reservation, plate="abc-1234", state="NY")

    assert response.status_code == 200
    reservation.refresh_from_db()
    assert reservation.updated_at == updated_at
    assert not OutboundEmail.objects.filter(kind="plate").exists()


@pytest.mark.parametrize("status", [S.ENDED, S.PAID, S.CANCELLED])
def test_a_finished_stay_keeps_its_plate(spot, status):
    reservation = ReservationFactory(
        spot=spot, status=status, start_time=timezone.now() - timedelta(hours=3)
    )

    response = guest_patch(reservation, plate="LATE1", state="NY")

    assert response.status_code == 409 and "plate" in response.json()


def test_the_plate_and_the_end_change_in_one_patch(spot):
    reservation = ReservationFactory(spot=spot)
    end = (reservation.end_time + timedelta(minutes=30)).replace(microsecond=0)

    response = guest_patch(reservation, plate="BOTH1", state="NY", end_time=iso(end))

    assert response.status_code == 200, response.content
    assert response.json()["plate"] == "BOTH1"
    reservation.refresh_from_db()
    assert reservation.end_time == end


def test_a_patch_naming_nothing_is_still_a_400_on_end_time(spot):
    reservation = ReservationFactory(spot=spot)

    response = guest_patch(reservation)

    assert response.status_code == 400 and "end_time" in response.json()


def test_a_guest_cannot_name_a_vehicle(spot):
    vehicle = Vehicle.objects.create(user=UserFactory(), plate="CAR1", plate_state="CT")
    reservation = ReservationFactory(spot=spot)

    response = guest_patch(reservation, vehicle=vehicle.public_id)

    assert response.status_code == 400 and "vehicle" in response.json()
    reservation.refresh_from_db()
    assert reservation.plate == ""


def test_another_account_cannot_touch_the_plate(account, spot):
    reservation = ReservationFactory(spot=spot, user=UserFactory(), plate="MINE1", plate_state="NY")

    response = account.patch(
        f"/update-reservation-auth/{reservation.public_id}/",
        {"reservation": {"plate": "THEIRS", "state": "NY"}},
        format="json",
    )

    assert response.status_code == 404
    reservation.refresh_from_db()
    assert reservation.plate == "MINE1"


# --- what the e-mails say ----------------------------------------------------------------------


def test_the_confirmation_shows_the_plate_or_asks_for_it(spot, outbox):
    with_plate = guest_book(spot, plate="ABC1234", state="NY", start_time=iso(hours(2)))
    without = guest_book(spot, start_time=iso(hours(5)))
    for response in (with_plate, without):
        reservation_activate(reservation_id=stored(response).pk, card_last4="4242")

    mails = outbox.deliver()
    [shown] = [mail for mail in mails if with_plate.json()["id"] in mail.body]
    [asked] = [mail for mail in mails if without.json()["id"] in mail.body]

    assert "Plate: ABC1234 (NY)" in shown.body and "Add your car's plate" not in shown.body
    assert "Plate: not given yet" in asked.body and "Add your car's plate" in asked.body
