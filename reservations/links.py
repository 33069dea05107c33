"""The signed "manage this reservation" link of guest e-mails: made and checked here only.

A token is the reservation's public id, a timestamp and a signature over both and the
reservation's e-mail (the salt carries it), so the link works for that pair only, lapses
after RESERVATION_LINK_MAX_AGE_DAYS, and shows no e-mail address to whoever sees the URL.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from reservations.models import Reservation
from secure_my_spot.exceptions import NotFoundError

# A purpose is part of the salt: a token made for one purpose is refused by every other.
MANAGE = "reservations.manage-link"
NOT_FOUND = "This link is not valid (or no longer): use the newest e-mail about the reservation."


def _signer(email: str, purpose: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"{purpose}:{email}")


def reservation_link_token(*, reservation: Reservation, purpose: str = MANAGE) -> str:
    return _signer(reservation.email, purpose).sign(reservation.public_id)


def reservation_link_url(*, reservation: Reservation) -> str:
    """The absolute link for an e-mail: the client's page when FRONTEND_BASE_URL is set
    (it reads the reservation from the route below), else that API route at PUBLIC_BASE_URL;
    empty when neither origin is known, rather than a link that leads nowhere."""
    token = reservation_link_token(reservation=reservation)
    if settings.FRONTEND_BASE_URL:
        return f"{settings.FRONTEND_BASE_URL.rstrip('/')}/reservations/manage/{token}"
    if settings.PUBLIC_BASE_URL:
        path = reverse("reservation-link", kwargs={"token": token})
        return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}/"
    return ""


def reservation_get_by_link_token(*, token: str, purpose: str, guests_only: bool) -> Reservation:
    """The reservation a valid, unexpired token of `purpose` names (a guest's only, when
    `guests_only`); any other token is a 404, so a tampered token and an expired one cannot
    be told apart."""
    public_id = token.partition(":")[0]
    reservations = Reservation.objects.filter(public_id=public_id)
    if guests_only:
        reservations = reservations.filter(user__isnull=True)
    reservation = reservations.first()
    if reservation is None:
        raise NotFoundError(NOT_FOUND)
    try:
        signed = _signer(reservation.email, purpose).unsign(
            token, max_age=timedelta(days=settings.RESERVATION_LINK_MAX_AGE_DAYS)
        )
    except signing.BadSignature as exc:
        raise NotFoundError(NOT_FOUND) from exc
    if signed != reservation.public_id:
        raise NotFoundError(NOT_FOUND)
    return reservation


def reservation_get_by_link(*, token: str) -> Reservation:
    """The guest reservation a manage link names: an account's is reached with its token."""
    return reservation_get_by_link_token(token=token, purpose=MANAGE, guests_only=True)
