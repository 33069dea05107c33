"""The signed "manage this reservation" link in guest e-mails, and the route it opens."""

import re
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient

from payments.emails import payment_failed_email_queue
from reservations.emails import reservation_email_queue
from reservations.models import ReservationStatus
from testing.factories import ReservationFactory, UserFactory

pytestmark = pytest.mark.django_db
S = ReservationStatus
API = "https://api.example.com"
FRONTEND = "https://app.example.com"


def links_in(message) -> list[str]:
    return re.findall(r"https?://\S+", message.body)


@pytest.fixture
def api_origin(settings):
    settings.FRONTEND_BASE_URL = ""
    settings.PUBLIC_BASE_URL = API


def test_a_guest_confirmation_links_to_the_api_route_that_returns_the_reservation(
    api_origin, outbox
):
    reservation = ReservationFactory(status=S.ACTIVE, email="guest@example.com", user=None)

    reservation_email_queue(kind="confirmed", reservation=reservation)

    [mail] = outbox.deliver()
    [link] = links_in(mail)
    assert link.startswith(f"{API}/reservation-link/")
    assert "guest" not in link, "the e-mail address stays out of URLs (and access logs)"
    [html] = [body for body, kind in mail.alternatives if kind == "text/html"]
    assert f'href="{link}"' in html
    response = APIClient().get(urlsplit(link).path)
    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["email"]) == (
        reservation.public_id,
        "guest@example.com",
    )
    assert reservation.public_id in mail.body


def test_with_a_frontend_the_link_opens_its_page(settings, outbox):
    settings.FRONTEND_BASE_URL = FRONTEND + "/"
    reservation = ReservationFactory(status=S.ACTIVE, user=None)

    reservation_email_queue(kind="amended", reservation=reservation)

    [link] = links_in(outbox.deliver()[0])
    prefix = f"{FRONTEND}/reservations/manage/"
    assert link.startswith(prefix)
    token = link.removeprefix(prefix)
    assert APIClient().get(f"/reservation-link/{token}").json()["id"] == reservation.public_id


def test_the_payment_failed_email_of_a_guest_carries_the_link(api_origin, outbox):
    reservation = ReservationFactory(status=S.PAYMENT_FAILED, user=None)

    payment_failed_email_queue(reservation=reservation, error_code="card_declined")

    [link] = links_in(outbox.deliver()[0])
    assert APIClient().get(urlsplit(link).path).json()["status"] == S.PAYMENT_FAILED


def test_an_accounts_emails_carry_no_link(api_origin, outbox):
    user = UserFactory()
    reservation = ReservationFactory(status=S.PAYMENT_FAILED, user=user, email=user.email)

    payment_failed_email_queue(reservation=reservation, error_code="card_declined")

    assert links_in(outbox.deliver()[0]) == []


def test_without_a_known_origin_the_email_has_no_link(settings, outbox):
    settings.FRONTEND_BASE_URL = settings.PUBLIC_BASE_URL = ""
    reservation = ReservationFactory(status=S.ACTIVE, user=None)

    reservation_email_queue(kind="amended", reservation=reservation)

    assert links_in(outbox.deliver()[0]) == []
    assert reservation.public_id in outbox.deliver()[0].body
