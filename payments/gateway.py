"""Stripe behind a small interface: the only module that imports `stripe`.

Each function makes the Stripe calls its docstring names, returns plain dataclasses and turns
Stripe's exceptions into `payments.exceptions`, so the rest of the code (and its tests) depend
on this file's contract, not on the library's object model. Keys are never logged.
"""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.exceptions import (
    CardDeclined,
    InvalidWebhook,
    PaymentProviderError,
    PaymentProviderUnavailable,
    UnknownStripeObject,
)
from secure_my_spot.process_role import WEB, process_role

logger = logging.getLogger(__name__)

CURRENCY = "usd"


@dataclass(frozen=True)
class SetupIntentInfo:
    id: str
    status: str
    client_secret: str
    customer_id: str | None
    payment_method_id: str | None
    card_brand: str | None
    card_last4: str | None
    metadata: dict[str, str]

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class ChargeResult:
    payment_intent_id: str
    status: str
    customer_id: str | None
    amount_cents: int
    currency: str
    metadata: dict[str, str]
    failure_code: str | None
    decline_code: str | None
    # The card the PaymentIntent holds (the one charged, once it succeeded).
    payment_method_id: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    # What Stripe.js confirms it with; kept out of repr, so out of logs.
    client_secret: str = field(default="", repr=False)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    object_id: str | None


@lru_cache(maxsize=4)
def _client_for(
    api_key: str, api_base: str, api_version: str, timeout: float, max_network_retries: int
) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        stripe_version=api_version or None,
        max_network_retries=max_network_retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def _client() -> stripe.StripeClient:
    """A client for the current settings (cached per settings, so tests can point it elsewhere).

    Inside a web request someone waits for the answer and gunicorn's timeout must not run
    out: short timeout, one retry. Workers (and commands) keep the patient profile.
    """
    if not settings.STRIPE_SECRET_KEY:
        raise ImproperlyConfigured("STRIPE_SECRET_KEY is not set.")
    if process_role() == WEB:
        timeout, retries = (
            settings.STRIPE_WEB_TIMEOUT_SECONDS,
            settings.STRIPE_WEB_MAX_NETWORK_RETRIES,
        )
    else:
        timeout, retries = settings.STRIPE_TIMEOUT_SECONDS, settings.STRIPE_MAX_NETWORK_RETRIES
    return _client_for(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_API_VERSION,
        timeout,
        retries,
    )


@contextmanager
def _stripe_errors() -> Iterator[None]:
    """Translate Stripe's exceptions; the library already retried what is safe to retry."""
    try:
        yield
    except stripe.CardError as exc:
        error = exc.error
        payment_intent = getattr(error, "payment_intent", None)
        raise CardDeclined(
            exc.user_message or "The card was declined.",
            code=exc.code or "card_declined",
            decline_code=getattr(error, "decline_code", None),
            payment_intent_id=payment_intent.id if payment_intent else None,
        ) from exc
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
        logger.warning("Stripe unavailable: %s (HTTP %s)", type(exc).__name__, exc.http_status)
        raise PaymentProviderUnavailable("The payment provider is unavailable.") from exc
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 404:
            raise _refused(exc) from exc
        logger.warning("Stripe has no such object (HTTP 404 %s)", exc.code)
        raise UnknownStripeObject(exc.user_message or "Stripe has no such object.") from exc
    except stripe.StripeError as exc:
        raise _refused(exc) from exc


def _refused(exc: stripe.StripeError) -> PaymentProviderError:
    logger.error("Stripe refused a request: HTTP %s %s", exc.http_status, exc.code)
    return PaymentProviderError(exc.user_message or "The payment provider refused.")


def customer_create(*, email: str, idempotency_key: str) -> str:
    """POST /v1/customers. Callers store the id: see `services.customer_get_or_create`."""
    with _stripe_errors():
        customer = _client().v1.customers.create(
            params={"email": email}, options={"idempotency_key": idempotency_key}
        )
    return customer.id


def customer_delete(*, customer_id: str) -> None:
    """DELETE /v1/customers/:id: a Customer made by a racing caller that lost."""
    with _stripe_errors():
        _client().v1.customers.delete(customer_id)


def _plain(metadata: stripe.StripeObject | None) -> dict[str, str]:
    return metadata.to_dict() if metadata else {}


def _setup_intent_info(setup_intent: stripe.SetupIntent) -> SetupIntentInfo:
    payment_method = setup_intent.payment_method
    card = getattr(payment_method, "card", None)
    return SetupIntentInfo(
        id=setup_intent.id,
        status=setup_intent.status,
        client_secret=setup_intent.client_secret,
        customer_id=setup_intent.customer,
        payment_method_id=getattr(payment_method, "id", payment_method),
        card_brand=card.brand if card else None,
        card_last4=card.last4 if card else None,
        metadata=_plain(setup_intent.metadata),
    )


def setup_intent_create(
    *, customer_id: str, metadata: dict[str, str], idempotency_key: str
) -> SetupIntentInfo:
    """POST /v1/setup_intents: a card saved for charging later, without the customer present."""
    with _stripe_errors():
        setup_intent = _client().v1.setup_intents.create(
            params={
                "customer": customer_id,
                "usage": "off_session",
                "payment_method_types": ["card"],
                "metadata": metadata,
            },
            options={"idempotency_key": idempotency_key},
        )
    return _setup_intent_info(setup_intent)


def setup_intent_retrieve(*, setup_intent_id: str) -> SetupIntentInfo:
    """GET /v1/setup_intents/:id with the PaymentMethod expanded: one call gives the card."""
    with _stripe_errors():
        setup_intent = _client().v1.setup_intents.retrieve(
            setup_intent_id, params={"expand": ["payment_method"]}
        )
    return _setup_intent_info(setup_intent)


def _charge_result(payment_intent: stripe.PaymentIntent) -> ChargeResult:
    """From a PaymentIntent whose `payment_method` is expanded (or an id, or none)."""
    error = payment_intent.last_payment_error
    payment_method = payment_intent.payment_method
    card = getattr(payment_method, "card", None)
    return ChargeResult(
        payment_intent_id=payment_intent.id,
        status=payment_intent.status,
        customer_id=payment_intent.customer,
        amount_cents=payment_intent.amount,
        currency=payment_intent.currency,
        metadata=_plain(payment_intent.metadata),
        failure_code=getattr(error, "code", None),
        decline_code=getattr(error, "decline_code", None),
        payment_method_id=getattr(payment_method, "id", payment_method),
        card_brand=card.brand if card else None,
        card_last4=card.last4 if card else None,
        client_secret=payment_intent.client_secret or "",
    )


def payment_intent_charge_off_session(
    *,
    customer_id: str,
    payment_method_id: str,
    amount_cents: int,
    metadata: dict[str, str],
    idempotency_key: str,
) -> ChargeResult:
    """POST /v1/payment_intents with `off_session=True, confirm=True`: one call charges.

    Stripe answers a card that needs the customer present with a 402 `authentication_required`;
    a PaymentIntent left in `requires_action` (what localstripe does) means the same.
    """
    with _stripe_errors():
        payment_intent = _client().v1.payment_intents.create(
            params={
                "amount": amount_cents,
                "currency": CURRENCY,
                "customer": customer_id,
                "payment_method": payment_method_id,
                "off_session": True,
                "confirm": True,
                "metadata": metadata,
                "expand": ["payment_method"],
            },
            options={"idempotency_key": idempotency_key},
        )
    if payment_intent.status == "requires_action":
        raise CardDeclined(
            "The card needs the customer to authenticate the payment.",
            code="authentication_required",
            payment_intent_id=payment_intent.id,
        )
    return _charge_result(payment_intent)


def payment_intent_retrieve(*, payment_intent_id: str) -> ChargeResult:
    """GET /v1/payment_intents/:id with the PaymentMethod expanded: the truth behind a webhook
    or an uncertain charge, and the card it was paid with, in one call."""
    with _stripe_errors():
        payment_intent = _client().v1.payment_intents.retrieve(
            payment_intent_id, params={"expand": ["payment_method"]}
        )
    return _charge_result(payment_intent)


def webhook_event_construct(*, payload: bytes, signature: str) -> WebhookEvent:
    """Verify the Stripe-Signature header (HMAC-SHA256, 5 minutes' tolerance); no API call."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise ImproperlyConfigured("STRIPE_WEBHOOK_SECRET is not set.")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET, stripe.Webhook.DEFAULT_TOLERANCE
        )
        # Parsed here, not by `construct_event`, which fails on signed JSON that is no object.
        raw = json.loads(payload)
    except stripe.SignatureVerificationError as exc:
        raise InvalidWebhook("The Stripe-Signature header does not match the body.") from exc
    except ValueError as exc:
        raise InvalidWebhook("The body is not a Stripe event.") from exc
    if not isinstance(raw, dict):
        raise InvalidWebhook("The body is not a Stripe event.")
    data = raw.get("data")
    data_object = data.get("object") if isinstance(data, dict) else None
    # Every event carries an object; not every object has an id (a balance has none).
    object_id = data_object.get("id") if isinstance(data_object, dict) else False
    if not (_is_id(raw.get("id")) and _is_id(raw.get("type"), 100)) or not (
        object_id is None or _is_id(object_id)
    ):
        raise InvalidWebhook("The body is not a Stripe event.")
    return WebhookEvent(id=raw["id"], type=raw["type"], object_id=object_id)


def _is_id(value: object, max_length: int = 255) -> bool:
    """Signed is not well-formed: what gets stored or looked up must fit its column."""
    return isinstance(value, str) and 0 < len(value) <= max_length


def payment_intent_create_on_session(
    *,
    customer_id: str,
    payment_method_id: str,
    amount_cents: int,
    metadata: dict[str, str],
    idempotency_key: str,
) -> ChargeResult:
    """POST /v1/payment_intents, unconfirmed: the customer confirms it with Stripe.js, present
    to authenticate, with `payment_method_id` (the saved card; empty for none) or a new card.
    """
    params: dict = {
        "amount": amount_cents,
        "currency": CURRENCY,
        "customer": customer_id,
        "payment_method_types": ["card"],
        "metadata": metadata,
        "expand": ["payment_method"],
    }
    if payment_method_id:
        params["payment_method"] = payment_method_id
    with _stripe_errors():
        payment_intent = _client().v1.payment_intents.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
    return _charge_result(payment_intent)


def payment_intent_cancel(*, payment_intent_id: str) -> ChargeResult:
    """POST /v1/payment_intents/:id/cancel: one made by a racing caller that lost, whose client
    secret never left. Stripe refuses (PaymentProviderError) one that succeeded or is canceled.
    """
    with _stripe_errors():
        payment_intent = _client().v1.payment_intents.cancel(payment_intent_id)
    return _charge_result(payment_intent)


@dataclass(frozen=True)
class RefundInfo:
    id: str
    # pending, requires_action, succeeded, failed or canceled.
    status: str
    amount_cents: int
    currency: str
    charge_id: str | None
    payment_intent_id: str | None
    metadata: dict[str, str]
    failure_reason: str | None


@dataclass(frozen=True)
class DisputeInfo:
    id: str
    # warning_needs_response, needs_response, under_review, won, lost, warning_closed...
    status: str
    amount_cents: int
    currency: str
    reason: str
    charge_id: str | None
    payment_intent_id: str | None
    evidence_due_by: datetime | None


def _id_of(value: object) -> str | None:
    """An id field, whether Stripe sent the id or (expanded) the object."""
    return getattr(value, "id", value) if value else None


def _refund_info(refund: stripe.Refund) -> RefundInfo:
    return RefundInfo(
        id=refund.id,
        status=refund.status,
        amount_cents=refund.amount,
        currency=refund.currency,
        charge_id=_id_of(getattr(refund, "charge", None)),
        payment_intent_id=_id_of(getattr(refund, "payment_intent", None)),
        metadata=_plain(refund.metadata),
        failure_reason=getattr(refund, "failure_reason", None),
    )


def refund_create(
    *, payment_intent_id: str, amount_cents: int, metadata: dict[str, str], idempotency_key: str
) -> RefundInfo:
    """POST /v1/refunds: give back part or all of a PaymentIntent's charge.

    Stripe's own `reason` takes only its three codes, so the operator's words go in metadata.
    """
    with _stripe_errors():
        refund = _client().v1.refunds.create(
            params={
                "payment_intent": payment_intent_id,
                "amount": amount_cents,
                "metadata": metadata,
            },
            options={"idempotency_key": idempotency_key},
        )
    return _refund_info(refund)


def refund_retrieve(*, refund_id: str) -> RefundInfo:
    """GET /v1/refunds/:id: the truth behind a refund webhook."""
    with _stripe_errors():
        refund = _client().v1.refunds.retrieve(refund_id)
    return _refund_info(refund)


def refunds_list(*, payment_intent_id: str) -> list[RefundInfo]:
    """GET /v1/refunds?payment_intent=...: every refund of it, one call per 100."""
    with _stripe_errors():
        page = _client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100})
        return [_refund_info(refund) for refund in page.auto_paging_iter()]


def charge_payment_intent_id(*, charge_id: str) -> str | None:
    """GET /v1/charges/:id: the PaymentIntent a charge belongs to (None for a bare charge)."""
    with _stripe_errors():
        charge = _client().v1.charges.retrieve(charge_id)
    return _id_of(getattr(charge, "payment_intent", None))


def dispute_retrieve(*, dispute_id: str) -> DisputeInfo:
    """GET /v1/disputes/:id: the truth behind a dispute webhook."""
    with _stripe_errors():
        dispute = _client().v1.disputes.retrieve(dispute_id)
    evidence_details = getattr(dispute, "evidence_details", None)
    due_by = getattr(evidence_details, "due_by", None) if evidence_details else None
    return DisputeInfo(
        id=dispute.id,
        status=dispute.status,
        amount_cents=dispute.amount,
        currency=dispute.currency,
        reason=getattr(dispute, "reason", None) or "",
        charge_id=_id_of(getattr(dispute, "charge", None)),
        payment_intent_id=_id_of(getattr(dispute, "payment_intent", None)),
        evidence_due_by=datetime.fromtimestamp(due_by, UTC) if due_by else None,
    )
