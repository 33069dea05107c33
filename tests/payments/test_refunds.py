"""Refunds by operators: never more than was paid, one Stripe refund per row, webhooks that
only confirm what Stripe says. Against localstripe (with Stripe's cap on refunds added:
testing/stripe_extras.py) through the real `stripe` library."""

import logging
import re
import uuid
from collections import Counter

import pytest
from django.contrib.auth.models import Permission

from payments import gateway
from payments.emails import REFUND_SUBJECT
from payments.models import Payment, PaymentState, Refund, RefundState, StripeWebhookEvent
from payments.selectors import payment_refundable_cents
from payments.services.charges import payment_charge_reservation
from payments.services.refunds import MADE_IN_STRIPE, refund_create, refund_retry
from secure_my_spot.exceptions import ApplicationError, ConflictError, NotFoundError
from testing.factories import UserFactory
from testing.localstripe import CARD_DECLINED_ON_CHARGE, CARD_OK, LocalStripe
from tests.payments.test_concurrency import race
from tests.payments.test_webhooks import deliver, event

pytestmark = pytest.mark.django_db
R = RefundState


def pay(ended_reservation) -> Payment:
    """A succeeded end-of-stay charge of a reservation, at least 3 cents."""
    reservation = ended_reservation(CARD_OK, minutes=45)
    payment_charge_reservation(reservation_id=reservation.pk)
    payment = Payment.objects.select_related("reservation").get(reservation=reservation)
    assert (payment.state, payment.amount_cents >= 3) == (PaymentState.SUCCEEDED, True)
    return payment


@pytest.fixture
def paid(localstripe, ended_reservation):
    return lambda: pay(ended_reservation)


def stripe_refunds(localstripe: LocalStripe, payment: Payment) -> list[dict]:
    """The refunds Stripe really made of the payment."""
    listed = localstripe.request(
        "GET", "/v1/refunds", {"payment_intent": payment.stripe_payment_intent_id, "limit": 100}
    )
    return listed["data"]


def charge_of(localstripe: LocalStripe, payment: Payment) -> str:
    charge = localstripe.request("GET", f"/v1/payment_intents/{payment.stripe_payment_intent_id}")
    return charge["latest_charge"]["id"]


def stripe_calls(caplog) -> Counter:
    """The Stripe API calls made since `caplog` listened to the `stripe` logger (INFO)."""
    return Counter(
        re.search(r"method=(\w+) url=\S*?(/v1/[a-z_]+)", record.getMessage()).groups()
        for record in caplog.records
        if "Request to Stripe api" in record.getMessage()
    )


def refund(payment: Payment, amount_cents: int, reason: str = "Meter was broken") -> Refund:
    return refund_create(
        payment_id=payment.pk, amount_cents=amount_cents, reason=reason, requested_by=None
    )


def test_a_partial_then_a_full_refund_never_exceed_the_payment(localstripe, paid, outbox):
    payment = paid()
    part = payment.amount_cents // 3

    first = refund(payment, part)
    rest = refund(payment, payment.amount_cents - part)
    with pytest.raises(ApplicationError, match=r"\$0\.00 \(0 cents\) is left") as third:
        refund(payment, 1)

    assert third.value.field == "amount_cents"
    assert [(r.state, r.amount_cents) for r in (first, rest)] == [
        (R.SUCCEEDED, part),
        (R.SUCCEEDED, payment.amount_cents - part),
    ]
    assert all(r.stripe_refund_id for r in (first, rest))
    made = stripe_refunds(localstripe, payment)
    assert sum(r["amount"] for r in made) == payment.amount_cents
    assert {r["metadata"]["refund"] for r in made} == {str(first.pk), str(rest.pk)}
    sent = outbox.deliver()
    assert [(m.subject, m.to) for m in sent if m.subject == REFUND_SUBJECT] == [
        (REFUND_SUBJECT, [payment.reservation.email])
    ] * 2


def test_stripe_calls_of_one_refund(localstripe, paid, caplog):
    """What a refund costs in Stripe calls, with the three webhooks Stripe sends for it
    (each delivered twice): the numbers the README gives."""
    payment = paid()
    caplog.set_level(logging.INFO, logger="stripe")
    caplog.clear()

    made = refund(payment, 2)
    for _ in range(2):
        deliver(event("refund.created", made.stripe_refund_id))
        deliver(event("refund.updated", made.stripe_refund_id))
        deliver(event("charge.refunded", charge_of(localstripe, payment)))

    assert stripe_calls(caplog) == {
        ("post", "/v1/refunds"): 1,
        # Each refund.* event asks for the refund; charge.refunded lists the refunds.
        ("get", "/v1/refunds"): 6,
        # charge.refunded: the charge's PaymentIntent.
        ("get", "/v1/charges"): 2,
    }


def test_more_than_is_left_is_refused_naming_what_is_left(localstripe, paid):
    payment = paid()

    with pytest.raises(ApplicationError) as refused:
        refund(payment, payment.amount_cents + 1)

    assert f"({payment.amount_cents} cents) is left" in refused.value.message
    assert not Refund.objects.exists()
    assert stripe_refunds(localstripe, payment) == []


@pytest.mark.parametrize(
    ("amount_cents", "reason", "field"),
    [(0, "why", "amount_cents"), (-5, "why", "amount_cents"), (1, "   ", "reason")],
)
def test_a_refund_needs_an_amount_and_a_reason(localstripe, paid, amount_cents, reason, field):
    payment = paid()

    with pytest.raises(ApplicationError) as refused:
        refund(payment, amount_cents, reason)

    assert refused.value.field == field
    assert not Refund.objects.exists()


def test_a_failed_or_missing_payment_is_not_refunded(localstripe, ended_reservation):
    reservation = ended_reservation(CARD_DECLINED_ON_CHARGE)
    payment_charge_reservation(reservation_id=reservation.pk)
    failed = Payment.objects.get(reservation=reservation)
    assert failed.state == PaymentState.FAILED

    with pytest.raises(ConflictError, match="this one is failed"):
        refund(failed, 1)
    with pytest.raises(NotFoundError):
        refund_create(payment_id=failed.pk + 1000, amount_cents=1, reason="x", requested_by=None)
    assert not Refund.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_operators_refunding_at_once_never_exceed_the_payment(localstripe, paid):
    payment = paid()
    share = payment.amount_cents * 2 // 5

    def attempt() -> str:
        try:
            return refund(payment, share).state
        except ApplicationError:
            return "refused"

    outcomes = race(attempt, attempt, attempt)

    assert sorted(outcomes) == ["refused", R.SUCCEEDED, R.SUCCEEDED]
    assert sum(r["amount"] for r in stripe_refunds(localstripe, payment)) == 2 * share
    assert Refund.objects.filter(payment=payment).count() == 2


def test_stripe_down_leaves_a_pending_row_that_retry_completes_with_one_stripe_refund(
    localstripe, paid, settings, outbox
):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    payment = paid()

    with localstripe.stopped():
        pending = refund(payment, 2)
    assert (pending.state, pending.stripe_refund_id) == (R.PENDING, "")
    # Pending counts: what it may yet give back is not offered again.
    assert payment_refundable_cents(payment=payment) == payment.amount_cents - 2

    retried = refund_retry(refund_id=pending.pk)

    assert (retried.state, retried.pk) == (R.SUCCEEDED, pending.pk)
    assert [r["id"] for r in stripe_refunds(localstripe, payment)] == [retried.stripe_refund_id]
    with pytest.raises(ConflictError, match="nothing to retry"):
        refund_retry(refund_id=pending.pk)
    assert len(stripe_refunds(localstripe, payment)) == 1
    assert [m.subject for m in outbox.deliver()].count(REFUND_SUBJECT) == 1


def test_a_retry_finds_the_refund_whose_answer_was_lost(localstripe, paid, settings):
    """Stripe made the refund but the answer never came back: the retry finds it among the
    PaymentIntent's refunds by its metadata instead of refunding again."""
    payment = paid()
    with localstripe.stopped():
        pending = refund(payment, 2)
    made = gateway.refund_create(
        payment_intent_id=payment.stripe_payment_intent_id,
        amount_cents=2,
        metadata={"deployment": settings.DEPLOYMENT_TAG, "refund": str(pending.pk)},
        idempotency_key=uuid.uuid4().hex,
    )

    retried = refund_retry(refund_id=pending.pk)

    assert (retried.state, retried.stripe_refund_id) == (R.SUCCEEDED, made.id)
    assert len(stripe_refunds(localstripe, payment)) == 1


def test_a_refund_stripe_refuses_fails_and_releases_its_amount(localstripe, paid):
    """Someone refunded the whole charge in Stripe's dashboard, and its webhook has not come
    yet: Stripe refuses the operator's refund, which fails and counts no more."""
    payment = paid()
    localstripe.request("POST", "/v1/refunds", {"payment_intent": payment.stripe_payment_intent_id})

    refused = refund(payment, 1)

    assert (refused.state, refused.stripe_refund_id) == (R.FAILED, "")
    assert "already been refunded" in refused.failure_reason
    assert payment_refundable_cents(payment=payment) == payment.amount_cents

    assert deliver(event("charge.refunded", charge_of(localstripe, payment))).status_code == 200
    recorded = Refund.objects.get(payment=payment, state=R.SUCCEEDED)
    assert (recorded.reason, recorded.amount_cents) == (MADE_IN_STRIPE, payment.amount_cents)
    assert payment_refundable_cents(payment=payment) == 0


def test_a_replayed_refund_webhook_changes_nothing(localstripe, paid, outbox):
    payment = paid()
    made = refund(payment, 2)
    before = Refund.objects.get(pk=made.pk)
    charge_id = charge_of(localstripe, payment)

    responses = [
        deliver(event("refund.created", made.stripe_refund_id)),
        deliver(event("refund.updated", made.stripe_refund_id, status="failed")),
        deliver(event("charge.refunded", charge_id)),
        deliver(event("charge.refunded", charge_id)),
    ]

    assert [r.status_code for r in responses] == [200] * 4
    assert list(Refund.objects.values_list("pk", "state", "updated_at")) == [
        (before.pk, R.SUCCEEDED, before.updated_at)
    ]
    assert set(StripeWebhookEvent.objects.values_list("outcome", flat=True)) == {""}
    assert [m.subject for m in outbox.deliver()].count(REFUND_SUBJECT) == 1


def test_a_refund_made_in_stripe_is_recorded_and_mailed_once(localstripe, paid, outbox):
    payment = paid()
    made = localstripe.request(
        "POST", "/v1/refunds", {"payment_intent": payment.stripe_payment_intent_id, "amount": 2}
    )

    for _ in range(2):
        assert deliver(event("refund.created", made["id"])).status_code == 200

    recorded = Refund.objects.get(payment=payment)
    assert (recorded.stripe_refund_id, recorded.state, recorded.amount_cents) == (
        made["id"],
        R.SUCCEEDED,
        2,
    )
    assert (recorded.reason, recorded.requested_by) == (MADE_IN_STRIPE, None)
    assert [m.subject for m in outbox.deliver()].count(REFUND_SUBJECT) == 1
    with pytest.raises(ApplicationError, match=f"{payment.amount_cents - 2} cents"):
        refund(payment, payment.amount_cents)


def test_an_untrusted_refund_changes_nothing(localstripe, paid, customer_id, saved_card):
    payment = paid()
    other_deployment = localstripe.request(
        "POST",
        "/v1/refunds",
        {
            "payment_intent": payment.stripe_payment_intent_id,
            "amount": 1,
            "metadata": {"deployment": "someone-else"},
        },
    )
    card = saved_card(CARD_OK)
    unrecorded = gateway.payment_intent_charge_off_session(
        customer_id=customer_id,
        payment_method_id=card.payment_method_id,
        amount_cents=500,
        metadata={},
        idempotency_key=uuid.uuid4().hex,
    )
    unknown_payment = localstripe.request(
        "POST", "/v1/refunds", {"payment_intent": unrecorded.payment_intent_id}
    )

    responses = [
        deliver(event("refund.created", other_deployment["id"])),
        deliver(event("refund.created", unknown_payment["id"])),
        deliver(event("refund.updated", "re_made_up")),
    ]

    assert [r.status_code for r in responses] == [200] * 3
    assert not Refund.objects.exists()
    outcomes = sorted(StripeWebhookEvent.objects.values_list("outcome", flat=True))
    assert all(outcome.startswith("Not applied") for outcome in outcomes)
    assert any("another deployment" in outcome for outcome in outcomes)


# --- The admin ---


def test_an_operator_refunds_from_the_admin(localstripe, paid, client, outbox):
    payment = paid()
    operator = UserFactory(is_staff=True)
    operator.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="payments",
            codename__in=["view_payment", "view_refund", "add_refund"],
        )
    )
    client.force_login(operator)
    form_url = f"/admin/payments/payment/{payment.pk}/refund/"

    listing = client.get("/admin/payments/payment/", secure=True)
    form = client.get(form_url, secure=True)
    too_much = client.post(
        form_url,
        {"amount_dollars": f"{payment.amount_cents / 100 + 1:.2f}", "reason": "Broken meter"},
        secure=True,
    )
    done = client.post(form_url, {"amount_dollars": "0.02", "reason": "Broken meter"}, secure=True)

    assert listing.status_code == 200
    assert form_url.encode() in listing.content
    assert form.status_code == 200
    assert b"Amount (US dollars)" in form.content
    crumbs = form.content.decode().split('class="breadcrumbs"')[1].split("</div>")[0]
    assert f'href="/admin/payments/payment/{payment.pk}/change/"' in crumbs
    assert 'href="/admin/payments/payment/"' in crumbs and "Refund" in crumbs
    assert too_much.status_code == 200
    assert b"left to refund" in too_much.content
    assert done.status_code == 302
    assert done["Location"].endswith(f"/admin/payments/refund/?payment__id__exact={payment.pk}")
    made = Refund.objects.get()
    assert (made.amount_cents, made.state, made.reason, made.requested_by) == (
        2,
        R.SUCCEEDED,
        "Broken meter",
        operator,
    )
    refunds = client.get(done["Location"], secure=True)
    assert refunds.status_code == 200
    assert made.stripe_refund_id.encode() in refunds.content
    assert [m.to for m in outbox.deliver() if m.subject == REFUND_SUBJECT] == [
        [payment.reservation.email]
    ]


def test_refunding_takes_the_refund_permission(localstripe, paid, client):
    payment = paid()
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="payments", codename__in=["view_payment", "view_refund"]
        )
    )
    client.force_login(viewer)
    form_url = f"/admin/payments/payment/{payment.pk}/refund/"

    listing = client.get("/admin/payments/payment/", secure=True)
    form = client.get(form_url, secure=True)
    posted = client.post(form_url, {"amount_dollars": "0.02", "reason": "x"}, secure=True)
    action = client.post(
        "/admin/payments/payment/",
        {"action": "refund", "_selected_action": [payment.pk]},
        secure=True,
    )

    assert listing.status_code == 200
    assert b'value="refund"' not in listing.content
    assert (form.status_code, posted.status_code) == (403, 403)
    # An action the operator may not take is no choice: the list again, nothing done.
    assert action.status_code == 200
    assert not Refund.objects.exists()
    assert stripe_refunds(localstripe, payment) == []


def test_the_admin_action_leads_to_the_form_and_retries_a_pending_refund(
    localstripe, paid, admin_client, settings
):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    payment = paid()

    action = admin_client.post(
        "/admin/payments/payment/",
        {"action": "refund", "_selected_action": [payment.pk]},
        secure=True,
    )
    assert action.status_code == 302
    assert action["Location"] == f"/admin/payments/payment/{payment.pk}/refund/"
    with localstripe.stopped():
        down = admin_client.post(
            action["Location"], {"amount_dollars": "0.03", "reason": "Broken meter"}, secure=True
        )
    pending = Refund.objects.get()
    assert (down.status_code, pending.state, pending.amount_cents) == (302, R.PENDING, 3)

    retried = admin_client.post(
        "/admin/payments/refund/",
        {"action": "retry", "_selected_action": [pending.pk]},
        secure=True,
        follow=True,
    )

    assert retried.status_code == 200
    assert b"succeeded" in retried.content
    assert Refund.objects.get().state == R.SUCCEEDED
    assert len(stripe_refunds(localstripe, payment)) == 1
    assert admin_client.get("/admin/payments/refund/add/", secure=True).status_code == 403
