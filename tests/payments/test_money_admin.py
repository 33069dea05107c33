"""Operators' money views in the admin: billed reservations by payment state, daily totals."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from payments.models import (
    Dispute,
    Payment,
    PaymentKind,
    PaymentState,
    Refund,
    RefundState,
)
from payments.selectors import BillState, money_daily_totals
from reservations.models import Reservation
from testing.factories import ReservationFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
BILLS = "/admin/payments/reservationbill/"
TOTALS = "/admin/payments/reservationbill/totals/"


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def payment(
    reservation: Reservation,
    state: str,
    *,
    attempt: int = 1,
    amount: int | None = None,
    at: datetime | None = None,
) -> Payment:
    """A payment row as the services leave it; `at` is when it reached its state."""
    row = Payment.objects.create(
        reservation=reservation,
        attempt=attempt,
        kind=PaymentKind.CHARGE if attempt == 1 else PaymentKind.SETTLEMENT,
        amount_cents=reservation.amount_cents if amount is None else amount,
        currency="usd",
        state=state,
    )
    if at is not None:
        Payment.objects.filter(pk=row.pk).update(updated_at=at)
    return row


def refund(paid: Payment, cents: int, state: str = RefundState.SUCCEEDED, *, at=None) -> Refund:
    row = Refund.objects.create(
        payment=paid, amount_cents=cents, currency="usd", reason="meter broken", state=state
    )
    if at is not None:
        Refund.objects.filter(pk=row.pk).update(updated_at=at)
    return row


def dispute(paid: Payment, *, closed: bool = False, at: datetime | None = None) -> Dispute:
    row = Dispute.objects.create(
        payment=paid,
        stripe_dispute_id=f"dp_{paid.pk}_{Dispute.objects.count()}",
        amount_cents=paid.amount_cents,
        currency="usd",
        status="lost" if closed else "needs_response",
        closed_at=ny(2026, 3, 1) if closed else None,
    )
    if at is not None:
        Dispute.objects.filter(pk=row.pk).update(created_at=at)
    return row


def paid_bill(**kwargs) -> tuple[Reservation, Payment]:
    reservation = ReservationFactory(status="paid", **kwargs)
    return reservation, payment(reservation, PaymentState.SUCCEEDED)


def staff_client(*permissions: str) -> Client:
    user = UserFactory(is_staff=True)
    for codename in permissions:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="payments", codename=codename)
        )
    client = Client()
    client.force_login(user)
    return client


def listed(client: Client, query: str = "") -> set[int]:
    response = client.get(f"{BILLS}?{query}")
    assert response.status_code == 200
    return {bill.pk for bill in response.context["cl"].result_list}


def test_each_bill_is_filed_under_its_payment_state(admin_client):
    not_tried = ReservationFactory(status="ended")
    zero_bill = ReservationFactory(status="paid", amount_cents=0)
    pending = ReservationFactory(status="ended")
    payment(pending, PaymentState.PENDING)
    settling = ReservationFactory(status="payment_failed")
    payment(settling, PaymentState.FAILED)
    payment(settling, PaymentState.PENDING, attempt=2)
    declined = ReservationFactory(status="payment_failed")
    payment(declined, PaymentState.FAILED)
    payment(declined, PaymentState.FAILED, attempt=2)
    paid, _ = paid_bill()
    settled = ReservationFactory(status="paid")
    payment(settled, PaymentState.FAILED)
    payment(settled, PaymentState.SUCCEEDED, attempt=2)
    refund_not_done, charge = paid_bill()
    refund(charge, 100, RefundState.PENDING)
    refund(charge, 100, RefundState.FAILED)
    part, charge = paid_bill()
    refund(charge, 100)
    refund(charge, 350, RefundState.PENDING)  # Not given back yet: still in part.
    full, charge = paid_bill()
    refund(charge, 200)
    refund(charge, charge.amount_cents - 200)
    disputed_open, charge = paid_bill()
    refund(charge, 100)
    dispute(charge)
    disputed_closed, charge = paid_bill()
    dispute(charge, closed=True)
    active = ReservationFactory(status="active")
    expected = {
        BillState.UNBILLED: {not_tried.pk, zero_bill.pk},
        BillState.CHARGE_PENDING: {pending.pk, settling.pk},
        BillState.FAILED: {declined.pk},
        BillState.SUCCEEDED: {paid.pk, settled.pk, refund_not_done.pk},
        BillState.REFUNDED_IN_PART: {part.pk},
        BillState.REFUNDED_IN_FULL: {full.pk},
        BillState.DISPUTED: {disputed_open.pk, disputed_closed.pk},
    }

    for state, bills in expected.items():
        assert listed(admin_client, f"payment_state={state}") == bills, state
    everything = set().union(*expected.values())
    assert listed(admin_client) == everything
    assert active.pk not in everything
    assert listed(admin_client, "payment_state=nonsense") == everything


def test_a_row_shows_billed_paid_refunded_dispute_and_state(admin_client):
    reservation, charge = paid_bill(minutes=60)  # 60 minutes at $4.50.
    refund(charge, 125)
    dispute(charge)

    response = admin_client.get(BILLS)

    row = response.context["cl"].result_list[0]
    assert (row.paid_cents, row.refunded_cents, row.open_dispute) == (450, 125, True)
    content = response.content.decode()
    for shown in ("$4.50", "$1.25", "disputed", reservation.public_id, "icon-yes.svg"):
        assert shown in content


def test_the_list_costs_the_same_queries_for_one_bill_or_many(
    admin_client, django_assert_max_num_queries
):
    def page_queries() -> int:
        with django_assert_max_num_queries(8) as queries:
            assert admin_client.get(BILLS).status_code == 200
        return len(queries)

    _, charge = paid_bill()
    refund(charge, 100)
    one = page_queries()
    for _ in range(4):
        _, charge = paid_bill()
        refund(charge, 100)
        dispute(charge)
        declined = ReservationFactory(status="payment_failed")
        payment(declined, PaymentState.FAILED)
        ReservationFactory(status="ended")

    assert page_queries() == one


def test_the_date_hierarchy_cuts_days_in_new_york(admin_client):
    # 22:30 in New York on March 9 is already March 10 in UTC.
    late = ReservationFactory(
        status="ended", start_time=ny(2026, 3, 9, 21, 30), end_time=ny(2026, 3, 9, 22, 30)
    )

    assert listed(admin_client, "end_time__year=2026&end_time__month=3&end_time__day=9") == {
        late.pk
    }
    assert listed(admin_client, "end_time__year=2026&end_time__month=3&end_time__day=10") == set()


def test_totals_cut_days_at_new_york_midnight(admin_client):
    # 23:30 New York on March 5 and 00:30 on March 6 are both March 6 in UTC.
    before_midnight = ReservationFactory(status="paid")
    late = payment(before_midnight, PaymentState.SUCCEEDED, amount=450, at=ny(2026, 3, 5, 23, 30))
    after_midnight = ReservationFactory(status="paid")
    early = payment(after_midnight, PaymentState.SUCCEEDED, amount=700, at=ny(2026, 3, 6, 0, 30))
    refund(late, 100, at=ny(2026, 3, 5, 23, 59))
    refund(late, 50, RefundState.PENDING, at=ny(2026, 3, 5, 23, 59))
    declined = ReservationFactory(status="payment_failed")
    payment(declined, PaymentState.FAILED, amount=325, at=ny(2026, 3, 5, 22, 0))
    # A second failure of the same bill does not count the reservation again.
    payment(declined, PaymentState.FAILED, attempt=2, amount=325, at=ny(2026, 3, 6, 10, 0))
    dispute(early, at=ny(2026, 3, 6, 0, 10))
    # Outside the range, either side.
    payment(ReservationFactory(status="paid"), PaymentState.SUCCEEDED, at=ny(2026, 3, 4, 23, 59))
    payment(ReservationFactory(status="paid"), PaymentState.SUCCEEDED, at=ny(2026, 3, 7, 0, 0))

    response = admin_client.get(TOTALS, {"start": "2026-03-05", "end": "2026-03-06"})

    assert response.status_code == 200
    assert response.context["days"] == [
        (date(2026, 3, 5), ["$4.50", "1", "$1.00", "1", "$3.25", "1", "$0.00", "0"]),
        (date(2026, 3, 6), ["$7.00", "1", "$0.00", "0", "$0.00", "0", "$7.00", "1"]),
    ]
    assert response.context["total"] == ["$11.50", "2", "$1.00", "1", "$3.25", "1", "$7.00", "1"]
    assert "Thu 2026-03-05" in response.content.decode()
    assert [
        day.charged_cents
        for day in money_daily_totals(start=date(2026, 3, 6), end=date(2026, 3, 6))
    ] == [700]


def test_totals_follow_daylight_saving_time():
    # Clocks went forward on March 8, 2026: 23:30 EDT that evening is 03:30 UTC on March 9.
    paid_bill_at = ReservationFactory(status="paid")
    payment(paid_bill_at, PaymentState.SUCCEEDED, amount=900, at=ny(2026, 3, 8, 23, 30))

    days = money_daily_totals(start=date(2026, 3, 7), end=date(2026, 3, 9))

    assert [(day.day, day.charged_cents) for day in days] == [
        (date(2026, 3, 7), 0),
        (date(2026, 3, 8), 900),
        (date(2026, 3, 9), 0),
    ]


def test_totals_default_to_the_last_30_days(admin_client):
    response = admin_client.get(TOTALS)

    days = [day for day, _ in response.context["days"]]
    assert len(days) == 30
    assert days[-1] == datetime.now(NEW_YORK).date()


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-02-30", "end": "2026-03-01"},
        {"start": "yesterday", "end": "2026-03-01"},
        {"start": "2026-03-05", "end": "2026-03-04"},
        {"start": "2025-01-01", "end": "2026-01-02"},  # 367 days.
        {"start": "0001-01-01", "end": "0001-01-02"},
        {"start": "9999-12-30", "end": "9999-12-31"},
        {"start": "", "end": "2026-03-01"},
        {"start": "2026-03-01\x00", "end": "2026-03-02"},
    ],
)
def test_bad_dates_are_a_form_error_not_a_500(admin_client, query):
    response = admin_client.get(TOTALS, query)

    assert response.status_code == 200
    assert response.context["form"].errors
    assert response.context["days"] == []
    assert b"errorlist" in response.content


def test_a_full_leap_year_is_allowed(admin_client):
    response = admin_client.get(TOTALS, {"start": "2024-01-01", "end": "2024-12-31"})

    assert not response.context["form"].errors
    assert len(response.context["days"]) == 366


def test_totals_cost_four_queries_whatever_the_range(admin_client, django_assert_max_num_queries):
    _, charge = paid_bill()
    refund(charge, 100)
    dispute(charge)
    # Session, user, then one query per kind: charged, refunded, failed, disputed.
    with django_assert_max_num_queries(6):
        response = admin_client.get(TOTALS, {"start": "2025-06-01", "end": "2026-05-31"})
    assert len(response.context["days"]) == 365


def test_only_staff_with_the_payments_permission_see_totals():
    anonymous = Client().get(TOTALS)
    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]

    driver = UserFactory()
    driver.user_permissions.add(Permission.objects.get(codename="view_payment"))
    not_staff = Client()
    not_staff.force_login(driver)
    refused = not_staff.get(TOTALS)
    assert refused.status_code == 302
    assert "/login/" in refused["Location"]

    assert staff_client().get(TOTALS).status_code == 403
    assert staff_client("view_reservationbill").get(TOTALS).status_code == 403
    assert staff_client("view_payment").get(TOTALS).status_code == 200


def test_the_list_links_to_totals_for_those_who_may_see_them():
    link = TOTALS.encode()

    with_totals = staff_client("view_reservationbill", "view_payment").get(BILLS)
    without = staff_client("view_reservationbill").get(BILLS)

    assert with_totals.status_code == without.status_code == 200
    assert link in with_totals.content
    assert link not in without.content


def test_the_list_is_read_only(admin_client):
    reservation, _ = paid_bill()

    assert listed(admin_client, f"q={reservation.public_id}") == {reservation.pk}
    page = admin_client.get(f"{BILLS}{reservation.pk}/change/")
    assert page.status_code == 200
    assert b'type="submit"' not in page.content.split(b'id="content-main"')[1]
    assert admin_client.get(f"{BILLS}add/").status_code == 403
    deleted = admin_client.post(f"{BILLS}{reservation.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403
    changed = admin_client.post(f"{BILLS}{reservation.pk}/change/", {"email": "x@example.com"})
    assert changed.status_code == 403
    reservation.refresh_from_db()
    assert reservation.email == "guest@example.com"
