"""Receipts: JSON and PDF, by owner, guest and signed link; and the 'ended' e-mail that
carries one, once."""

import io
import math
import re
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pypdf
import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from outbox.models import OutboundEmail
from outbox.services import email_queue
from parking_spots.selectors import holidays_between
from payments import gateway
from payments.emails import SUBJECT as PAYMENT_FAILED_SUBJECT
from payments.models import Payment, PaymentState, Refund, RefundState
from payments.selectors import RECEIPT_LINK
from payments.services.charges import payment_apply_result, payment_charge_reservation
from reservations.emails import SUBJECTS, format_local_time, reservation_email_dedupe_key
from reservations.links import reservation_link_token
from reservations.models import Reservation, ReservationStatus
from reservations.pricing import format_dollars
from reservations.services import reservation_lock
from testing.factories import ParkingSpotFactory, ReservationFactory, UserFactory
from testing.localstripe import CARD_DECLINED_ON_CHARGE, CARD_OK
from tests.payments.conftest import payments_of, recorded_payment_intent, signed_in_as

pytestmark = pytest.mark.django_db
S = ReservationStatus
API = "https://api.example.test"
# ISO 8601 with New York's offset (EST or EDT), never UTC's Z.
NEW_YORK_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?-0[45]:00$")
NY = ZoneInfo("America/New_York")
TWO_HOUR_METER = "2 HR Pas Mon-Sat 0900-1900"
# A Monday and Tuesday that are no meter holidays (the tests below check that they are not).
MONDAY = datetime(2026, 11, 16, tzinfo=NY)


def guest_path(reservation: Reservation, query: str = "") -> str:
    return f"/receipt-unauth/{reservation.public_id}/{reservation.email}/{query}"


def pdf_text(content: bytes) -> str:
    """The PDF's text as pypdf extracts it, lines joined (a long value wraps in its cell)."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def paid_with_payment(**payment_fields) -> tuple[Reservation, Payment]:
    """A paid guest reservation and its succeeded payment, written straight to the tables."""
    reservation = ReservationFactory(
        status=S.PAID,
        spot=ParkingSpotFactory(street="W 42 St", from_street="7 Ave", to_street="8 Ave"),
        card_brand="visa",
        card_last4="4242",
        start_time=timezone.now() - timedelta(hours=2),
    )
    fields = {
        "attempt": 1,
        "amount_cents": reservation.amount_cents,
        "currency": "usd",
        "state": PaymentState.SUCCEEDED,
        "stripe_payment_intent_id": f"pi_test_{reservation.pk}",
        "card_brand": "visa",
        "card_last4": "4242",
    }
    payment = Payment.objects.create(reservation=reservation, **(fields | payment_fields))
    return reservation, payment


def ended_emails(outbox) -> list:
    return [m for m in outbox.deliver() if m.subject == SUBJECTS["ended"]]


def test_a_paid_reservation_has_a_receipt_in_cents_and_new_york_time(
    localstripe, ended_reservation, signed_in, user
):
    reservation = ended_reservation(CARD_OK, user=user)
    payment_charge_reservation(reservation_id=reservation.pk)
    reservation.refresh_from_db()

    response = signed_in.get(f"/receipt-auth/{reservation.public_id}/")

    assert response.status_code == 200, response.content
    receipt = response.json()
    spot = reservation.spot
    assert receipt["spot"] == {
        "meter_number": spot.meter_number,
        "street": spot.street,
        "borough": "Manhattan",
        "from_street": "",
        "to_street": "",
        "side_of_street": "",
    }
    assert receipt["plate"] is None and receipt["state"] is None  # no car named
    assert NEW_YORK_ISO.match(receipt["start_time"]) and NEW_YORK_ISO.match(receipt["end_time"])
    assert datetime.fromisoformat(receipt["start_time"]) == reservation.start_time
    assert datetime.fromisoformat(receipt["end_time"]) == reservation.ended_at
    # The factory's spot is metered around the clock: every started minute is billed, the
    # first hour at "elsewhere"'s 150 cents.
    assert receipt["billed_minutes"] == math.ceil(
        (reservation.ended_at - reservation.start_time) / timedelta(minutes=1)
    )
    assert (receipt["rate_cents"], receipt["amount_cents"]) == (150, reservation.amount_cents)
    assert (receipt["card_brand"], receipt["card_last4"]) == ("visa", "4242")
    assert (receipt["status"], receipt["payment_state"]) == (S.PAID, PaymentState.SUCCEEDED)
    assert receipt["stripe_payment_intent_id"] == recorded_payment_intent(reservation)
    assert (receipt["refunds"], receipt["refunded_cents"]) == ([], 0)
    assert {"no-store", "private"} <= set(response["Cache-Control"].split(", "))


def test_the_pdf_receipt_opens_and_shows_the_meter_amount_card_times_and_payment_intent(
    localstripe, ended_reservation
):
    reservation = ended_reservation(CARD_OK)
    payment_charge_reservation(reservation_id=reservation.pk)
    reservation.refresh_from_db()

    response = APIClient().get(guest_path(reservation, "?format=pdf"))

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'inline; filename="receipt-{reservation.public_id}.pdf"'
    )
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    assert reservation.spot.meter_number in text
    assert format_dollars(reservation.amount_cents) in text
    assert "Visa ending in 4242" in text
    assert format_local_time(reservation.start_time) in text
    assert format_local_time(reservation.ended_at) in text
    assert recorded_payment_intent(reservation) in text


def segment_rows(receipt: dict) -> list[tuple]:
    return [
        (s["start"], s["end"], s["minutes"], s["rate_cents_per_hour"], s["amount_cents"], s["step"])
        for s in receipt["segments"]
    ]


def test_a_stay_past_its_first_hour_is_itemised_at_both_rates_adding_up_to_the_bill(
    localstripe, ended_reservation
):
    reservation = ended_reservation(CARD_OK, minutes=90)
    payment_charge_reservation(reservation_id=reservation.pk)
    reservation.refresh_from_db()

    receipt = APIClient().get(guest_path(reservation)).json()

    segments = receipt["segments"]
    # The factory's spot: metered around the clock at "elsewhere"'s 150 then 250 cents.
    assert [(s["step"], s["rate_cents_per_hour"]) for s in segments] == [
        ("first hour", 150),
        ("later hours", 250),
    ]
    assert all(NEW_YORK_ISO.match(s["start"]) and NEW_YORK_ISO.match(s["end"]) for s in segments)
    assert datetime.fromisoformat(segments[0]["start"]) == reservation.start_time
    assert datetime.fromisoformat(segments[-1]["end"]) == reservation.ended_at
    assert segments[0]["end"] == segments[1]["start"]
    assert (segments[0]["minutes"], segments[0]["amount_cents"]) == (60, 150)
    assert sum(s["minutes"] for s in segments) == receipt["billed_minutes"]
    assert sum(s["amount_cents"] for s in segments) == receipt["amount_cents"] > 150
    assert receipt["minimum_applied"] is False
    assert receipt["amount_cents"] == reservation.amount_cents == recorded_amount(reservation)
    # `rate_cents` stays the first hour's, as before segments were shown.
    assert receipt["rate_cents"] == 150
    text = pdf_text(APIClient().get(guest_path(reservation, "?format=pdf")).content)
    later = format_dollars(segments[1]["amount_cents"])
    assert "60 min at $1.50 per hour (first hour), $1.50" in text
    assert f"min at $2.50 per hour (later hours), {later}" in text


def recorded_amount(reservation: Reservation) -> int:
    [payment] = payments_of(reservation)
    return payment.amount_cents


def ny(day: int, hour: int, minute: int = 0) -> str:
    """The ISO 8601 a receipt shows for `MONDAY` + `day` days at hour:minute."""
    return (MONDAY + timedelta(days=day, hours=hour, minutes=minute)).isoformat()


@pytest.mark.parametrize(
    ("start", "end", "segments", "amount", "explained"),
    [
        # Metered 18:00-19:00 at the first-hour rate, free overnight, metered from 09:00 on
        # at the later rate: only the metered parts are billed, and they add up to the bill.
        (
            (0, 18, 0),
            (1, 9, 30),
            [
                (ny(0, 18), ny(0, 19), 60, 150, 150, "first hour"),
                (ny(1, 9), ny(1, 9, 30), 30, 250, 125, "later hours"),
            ],
            275,
            None,
        ),
        # 1 + 59 first-hour minutes: 2.5 and 147.5 cents, each rounded up for display, where
        # the bill rounds 150 once: the receipt says why its lines come to a cent more.
        (
            (0, 18, 59),
            (1, 9, 59),
            [
                (ny(0, 18, 59), ny(0, 19), 1, 150, 3, "first hour"),
                (ny(1, 9), ny(1, 9, 59), 59, 150, 148, "first hour"),
            ],
            150,
            "Rounding the metered lines come to $1.51, each rounded to the cent; "
            "the amount is rounded once, on the whole stay",
        ),
        # 10 metered minutes come to 25 cents: the minimum charge is the bill, and says so.
        (
            (0, 18, 50),
            (0, 19, 30),
            [(ny(0, 18, 50), ny(0, 19), 10, 150, 25, "first hour")],
            50,
            "Minimum charge the metered time comes to $0.25; a stay costs at least $0.50",
        ),
        # Nothing metered: nothing billed, no segment.
        ((0, 20, 0), (0, 23, 0), [], 0, "Metered none: the stay was outside the meter's hours"),
    ],
)
def test_a_stay_at_a_meter_with_posted_hours_shows_its_metered_segments(
    start, end, segments, amount, explained
):
    assert not holidays_between(start=MONDAY.date(), end=MONDAY.date() + timedelta(days=1))
    start_time = MONDAY + timedelta(days=start[0], hours=start[1], minutes=start[2])
    end_time = MONDAY + timedelta(days=end[0], hours=end[1], minutes=end[2])
    reservation = ReservationFactory(
        status=S.PAID,
        spot=ParkingSpotFactory(meter_hours=TWO_HOUR_METER),
        meter_hours=TWO_HOUR_METER,
        first_hour_cents=150,
        later_hour_cents=250,
        start_time=start_time,
        minutes=(end_time - start_time) // timedelta(minutes=1),
    )

    receipt = APIClient().get(guest_path(reservation)).json()

    assert segment_rows(receipt) == segments
    assert receipt["amount_cents"] == reservation.amount_cents == amount
    assert receipt["billed_minutes"] == sum(row[2] for row in segments)
    assert receipt["minimum_applied"] is (explained or "").startswith("Minimum charge")
    text = pdf_text(APIClient().get(guest_path(reservation, "?format=pdf")).content)
    assert f"Amount {format_dollars(amount)}" in text
    if explained:
        assert explained in text
    else:
        assert "Rounding" not in text and "Minimum charge" not in text


def test_refunds_are_listed_and_only_those_that_succeeded_count_as_refunded():
    reservation, payment = paid_with_payment()
    for cents, state in [
        (100, RefundState.SUCCEEDED),
        (50, RefundState.PENDING),
        (70, RefundState.FAILED),
        (30, RefundState.CANCELED),
    ]:
        Refund.objects.create(
            payment=payment, amount_cents=cents, currency="usd", reason="Meter broken", state=state
        )

    receipt = APIClient().get(guest_path(reservation)).json()

    assert [(r["amount_cents"], r["state"]) for r in receipt["refunds"]] == [
        (100, "succeeded"),
        (50, "pending"),
        (70, "failed"),
        (30, "canceled"),
    ]
    assert all(NEW_YORK_ISO.match(r["created_at"]) for r in receipt["refunds"])
    # A receipt proves money: a pending refund is listed, not counted as given back yet.
    assert receipt["refunded_cents"] == 100
    text = pdf_text(APIClient().get(guest_path(reservation, "?format=pdf")).content)
    assert "$1.00 (succeeded" in text and "$0.50 (pending" in text and "Meter broken" in text
    assert "Refunded $1.00" in text


def test_the_card_is_the_one_that_paid_else_the_reservations():
    # A settlement paid with another card than the one saved at booking.
    settled, _ = paid_with_payment(card_brand="mastercard", card_last4="4444")
    # A payment recorded before payments kept their card.
    older, _ = paid_with_payment(card_brand="", card_last4="")

    assert APIClient().get(guest_path(settled)).json()["card_last4"] == "4444"
    assert APIClient().get(guest_path(older)).json()["card_last4"] == "4242"


def test_text_outside_latin1_or_pdf_syntax_does_not_break_the_pdf():
    reservation, payment = paid_with_payment()
    Refund.objects.create(
        payment=payment,
        amount_cents=100,
        currency="usd",
        reason="\u201cMeter broken\u201d \U0001f697 \u2014 sorry (see ticket) \\ ET",
        state=RefundState.SUCCEEDED,
    )

    response = APIClient().get(guest_path(reservation, "?format=pdf"))

    assert response.status_code == 200
    assert '"Meter broken" ? - sorry (see ticket) \\ ET' in pdf_text(response.content)


def test_a_zero_bill_has_a_receipt_without_a_payment():
    reservation = ReservationFactory(status=S.PAID, rate=Decimal("0.00"), card_last4="")

    receipt = APIClient().get(guest_path(reservation)).json()

    assert (receipt["amount_cents"], receipt["payment_state"]) == (0, None)
    assert (receipt["stripe_payment_intent_id"], receipt["card_last4"]) == (None, "")
    # A free row is metered at 0 cents, and no minimum charge applies to it.
    assert [s["amount_cents"] for s in receipt["segments"]] == [0]
    assert receipt["minimum_applied"] is False


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (S.PENDING_PAYMENT, "once it ends"),
        (S.ACTIVE, "once it ends"),
        (S.CANCELLED, "cancelled"),
    ],
)
def test_a_reservation_without_a_bill_is_409_saying_why(status, why):
    reservation = ReservationFactory(status=status)

    for query in ("", "?format=pdf"):
        response = APIClient().get(guest_path(reservation, query))
        assert response.status_code == 409
        assert why in response.json()["detail"]


@pytest.mark.parametrize("value", ["xml", "PDF", "pdf/"])
def test_an_unknown_format_is_a_400_naming_format(value):
    reservation, _ = paid_with_payment()

    response = APIClient().get(guest_path(reservation, f"?format={value}"))

    assert response.status_code == 400
    assert list(response.json()) == ["format"]


def test_someone_elses_receipt_is_404(signed_in, user):
    other = UserFactory()
    theirs = ReservationFactory(status=S.PAID, user=other, email=other.email)
    guests, _ = paid_with_payment()

    assert signed_in.get(f"/receipt-auth/{theirs.public_id}/").status_code == 404
    assert signed_in.get(f"/receipt-auth/{guests.public_id}/").status_code == 404
    # An account's reservation is not reached by its id and e-mail, only by its token.
    assert APIClient().get(guest_path(theirs)).status_code == 404
    wrong_email = f"/receipt-unauth/{guests.public_id}/someone@example.com/"
    assert APIClient().get(wrong_email).status_code == 404
    assert APIClient().get(f"/receipt-auth/{theirs.public_id}/").status_code == 401
    assert signed_in_as(other).get(f"/receipt-auth/{theirs.public_id}/").status_code == 200


def test_the_signed_link_opens_the_receipt_of_an_account_or_a_guest_without_signing_in():
    user = UserFactory()
    account = ReservationFactory(status=S.PAID, user=user, email=user.email)
    guest, _ = paid_with_payment()

    for reservation in (account, guest):
        token = reservation_link_token(reservation=reservation, purpose=RECEIPT_LINK)
        response = APIClient().get(f"/receipt-link/{token}/")
        assert response.status_code == 200, response.content
        assert response.json()["reservation_id"] == reservation.public_id
        pdf = APIClient().get(f"/receipt-link/{token}/?format=pdf")
        assert pdf["Content-Type"] == "application/pdf"
    guest.refresh_from_db()
    assert guest.email_proven_at is None, "a receipt link reads; it proves nothing"


def test_a_tampered_foreign_or_expired_receipt_link_is_404(settings):
    reservation, _ = paid_with_payment()
    other, _ = paid_with_payment()
    token = reservation_link_token(reservation=reservation, purpose=RECEIPT_LINK)
    public_id, timestamp, signature = token.split(":")
    forged = [
        f"{public_id}:{timestamp}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"{other.public_id}:{timestamp}:{signature}",
        public_id,
        # A manage link is no receipt link, and the other way round: each does one thing.
        reservation_link_token(reservation=reservation),
    ]

    for bad in forged:
        assert APIClient().get(f"/receipt-link/{bad}/").status_code == 404, bad
    assert APIClient().get(f"/reservation-link/{token}/").status_code == 404
    settings.RESERVATION_LINK_MAX_AGE_DAYS = -1
    assert APIClient().get(f"/receipt-link/{token}/").status_code == 404


def test_the_ended_email_carries_the_receipt_and_a_link_to_it_once(
    localstripe, ended_reservation, outbox, settings
):
    settings.PUBLIC_BASE_URL = API
    reservation = ended_reservation(CARD_OK)

    payment_charge_reservation(reservation_id=reservation.pk)
    payment_charge_reservation(reservation_id=reservation.pk)

    [mail] = ended_emails(outbox)
    reservation.refresh_from_db()
    amount = format_dollars(reservation.amount_cents)
    assert f"{amount} was charged to the card ending in 4242" in mail.body
    for line in (
        f"Meter: {reservation.spot.meter_number}",
        f"Start: {format_local_time(reservation.start_time)}",
        f"End: {format_local_time(reservation.ended_at)}",
        f"Stripe PaymentIntent: {recorded_payment_intent(reservation)}",
        "Payment: paid",
    ):
        assert line in mail.body
    # The bill's segment: 30 metered minutes at the first-hour rate.
    assert re.search(
        r"^Metered: .* 3\d min at \$1\.50 per hour \(first hour\), \$", mail.body, re.M
    )
    [receipt_link] = re.findall(rf"{API}/receipt-link/\S+", mail.body)
    assert reservation.email not in receipt_link
    [html] = [body for body, kind in mail.alternatives if kind == "text/html"]
    assert f'href="{receipt_link}"' in html
    link = urlsplit(receipt_link)
    response = APIClient().get(f"{link.path}?{link.query}")
    assert response["Content-Type"] == "application/pdf"
    assert recorded_payment_intent(reservation) in pdf_text(response.content)


def test_the_ended_email_of_a_failed_charge_has_the_receipt_and_points_to_settling(
    localstripe, ended_reservation, outbox, user, settings
):
    settings.PUBLIC_BASE_URL = API
    reservation = ended_reservation(CARD_DECLINED_ON_CHARGE, user=user)

    payment_charge_reservation(reservation_id=reservation.pk)
    payment_charge_reservation(reservation_id=reservation.pk)

    sent = [m for m in outbox.deliver() if m.subject != SUBJECTS["confirmed"]]
    assert sorted(m.subject for m in sent) == sorted([SUBJECTS["ended"], PAYMENT_FAILED_SUBJECT])
    [mail] = [m for m in sent if m.subject == SUBJECTS["ended"]]
    assert "could not charge" in mail.body and "was charged" not in mail.body
    assert "Payment: charge failed, not paid" in mail.body
    assert "Card: Visa ending in 0341" in mail.body
    # An account's e-mail has the receipt link (no e-mail in it) but no manage link.
    assert re.findall(r"https?://\S+", mail.body) == re.findall(
        rf"{API}/receipt-link/\S+", mail.body
    )
    assert len(re.findall(r"https?://\S+", mail.body)) == 1


def test_a_zero_bill_is_mailed_its_receipt_without_calling_stripe(outbox, settings):
    settings.STRIPE_SECRET_KEY = ""
    reservation = ReservationFactory(
        status=S.ENDED,
        rate=Decimal("0.00"),
        start_time=timezone.now() - timedelta(hours=2),
    )

    assert payment_charge_reservation(reservation_id=reservation.pk).status == S.PAID

    [mail] = ended_emails(outbox)
    assert "There is nothing to pay." in mail.body and "Amount: $0.00" in mail.body


def test_the_receipt_and_the_ended_email_show_the_plate(outbox, settings):
    settings.STRIPE_SECRET_KEY = ""
    reservation = ReservationFactory(
        status=S.ENDED,
        rate=Decimal("0.00"),
        plate="ABC1234",
        plate_state="NY",
        start_time=timezone.now() - timedelta(hours=2),
    )
    payment_charge_reservation(reservation_id=reservation.pk)

    receipt = APIClient().get(guest_path(reservation)).json()
    pdf = pdf_text(APIClient().get(guest_path(reservation, "?format=pdf")).content)
    [mail] = ended_emails(outbox)

    assert (receipt["plate"], receipt["state"]) == ("ABC1234", "NY")
    assert "ABC1234 (NY)" in pdf
    assert "Plate: ABC1234 (NY)" in mail.body


def test_an_ended_email_queued_before_the_move_is_not_sent_again(
    localstripe, ended_reservation, outbox
):
    reservation = ended_reservation(CARD_OK)
    # What the code before the move had queued for this reservation, under its key.
    email_queue(
        kind="ended",
        template="payments/email/ended",
        subject=SUBJECTS["ended"],
        to=reservation.email,
        context={"receipt": None},
        dedupe_key=reservation_email_dedupe_key(reservation=reservation, kind="ended"),
    )

    payment_charge_reservation(reservation_id=reservation.pk)

    assert OutboundEmail.objects.filter(kind="ended", to=reservation.email).count() == 1


def test_a_failed_charge_paid_later_mails_no_second_ended_email(
    localstripe, ended_reservation, outbox
):
    reservation = ended_reservation(CARD_DECLINED_ON_CHARGE)
    payment_charge_reservation(reservation_id=reservation.pk)
    [payment] = payments_of(reservation)
    # Stripe reports the PaymentIntent paid after all (the driver settled with their bank).
    succeeded = gateway.ChargeResult(
        payment_intent_id=payment.stripe_payment_intent_id,
        status="succeeded",
        customer_id=reservation.stripe_customer_id,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        metadata={},
        failure_code=None,
        decline_code=None,
    )

    with transaction.atomic():
        paid = payment_apply_result(
            reservation_lock(reservation_id=reservation.pk), payment, succeeded
        )

    assert paid.status == S.PAID
    [mail] = ended_emails(outbox)
    assert "Payment: charge failed, not paid" in mail.body
    receipt = APIClient().get(guest_path(paid)).json()
    assert (receipt["status"], receipt["payment_state"]) == (S.PAID, PaymentState.SUCCEEDED)


def test_a_charge_that_rolls_back_mails_no_receipt(outbox):
    reservation = ReservationFactory(
        status=S.ENDED,
        rate=Decimal("0.00"),
        start_time=timezone.now() - timedelta(hours=2),
    )

    with pytest.raises(RuntimeError), transaction.atomic():
        payment_charge_reservation(reservation_id=reservation.pk)
        raise RuntimeError("rolled back")

    assert OutboundEmail.objects.filter(kind="ended").count() == 0
    assert outbox.deliver() == []
