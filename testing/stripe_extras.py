"""localstripe with the parts of Stripe's API it lacks and the payments app uses: disputes,
and the cap on refunds. `LocalStripe` (testing/localstripe.py) starts this instead of the
`localstripe` script: `serve()` takes the same arguments.

What is added, and how it differs from Stripe:

- `GET /v1/disputes/:id`: a Dispute as Stripe shows it (id, status, amount, currency,
  reason, charge, payment_intent, evidence_details.due_by, is_charge_refundable).
- `POST /_test/disputes` (`charge`, optional `amount` and `reason`) opens one against a
  charge, as the card holder's bank would, and `POST /_test/disputes/:id/resolve`
  (`status`: won or lost) closes it as the bank's decision would. Neither is Stripe's: in
  Stripe's test mode a dispute opens when test card 4000000000000259 is charged, and closes
  won or lost when evidence with the text `winning_evidence` or `losing_evidence` is
  submitted.
- `POST /v1/refunds` refuses more than what is left of the charge (a 400, as Stripe does);
  localstripe alone refunds any amount.

Disputes live in localstripe's store, so they survive `LocalStripe.stopped()` like the rest.
The store is kept in the file that `STATE_FILE_VARIABLE` names (localstripe alone always uses
/tmp/localstripe.pickle, which concurrent test runs would overwrite under each other).
No webhook is sent: tests post the signed events themselves.
"""

import os
import pickle
from collections.abc import Awaitable, Callable

from localstripe.errors import UserError
from localstripe.resources import (
    Charge,
    PaymentIntent,
    Refund,
    Store,
    StripeObject,
    extra_apis,
    store,
    try_convert_to_int,
)

from testing.localstripe import STATE_FILE_VARIABLE

# Stripe gives the merchant about a week to answer (the bank's deadline, less Stripe's time).
EVIDENCE_SECONDS = 7 * 24 * 3600
DISPUTE_REASONS = frozenset(
    {"fraudulent", "duplicate", "product_not_received", "general", "unrecognized"}
)
CLOSED = frozenset({"won", "lost"})


class Dispute(StripeObject):
    object = "dispute"
    _id_prefix = "dp_"

    def __init__(self, charge=None, amount=None, reason="fraudulent", **kwargs):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        if not (isinstance(charge, str) and charge.startswith("ch_")):
            raise UserError(400, "Expected a charge")
        charge_obj = Charge._api_retrieve(charge)
        amount = charge_obj.amount if amount is None else try_convert_to_int(amount)
        if not (isinstance(amount, int) and 0 < amount <= charge_obj.amount):
            raise UserError(400, "Bad amount")
        if reason not in DISPUTE_REASONS:
            raise UserError(400, "Bad reason")
        if not charge_obj.paid:
            raise UserError(400, "Only a paid charge can be disputed")

        # All exceptions must be raised before this point.
        super().__init__()

        self.charge = charge
        self.payment_intent = charge_obj.payment_intent
        self.amount = amount
        self.currency = charge_obj.currency
        self.reason = reason
        self.status = "needs_response"
        self.metadata = {}
        self.is_charge_refundable = False
        self.evidence_details = {
            "due_by": self.created + EVIDENCE_SECONDS,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        }

    @classmethod
    def _api_resolve(cls, id, status=None, **kwargs):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        if status not in CLOSED:
            raise UserError(400, "Expected status won or lost")
        obj = cls._api_retrieve(id)
        if obj.status in CLOSED:
            raise UserError(400, "This dispute is already closed")
        obj.status = status
        return obj


_refund_init = Refund.__init__


def _refund_init_capped(self, charge=None, payment_intent=None, amount=None, **kwargs):
    """Stripe's rule localstripe lacks: refunds of a charge never exceed its amount."""
    charge_id = charge
    if isinstance(payment_intent, str):
        latest = PaymentIntent._api_retrieve(payment_intent).latest_charge
        charge_id = latest.id if latest else None
    if isinstance(charge_id, str):
        charge_obj = Charge._api_retrieve(charge_id)
        left = charge_obj.amount - charge_obj.amount_refunded
        asked = charge_obj.amount if amount is None else try_convert_to_int(amount)
        if left <= 0:
            raise UserError(
                400,
                f"Charge {charge_id} has already been refunded.",
                {"code": "charge_already_refunded"},
            )
        if isinstance(asked, int) and asked > left:
            raise UserError(
                400,
                f"Refund amount ({asked}) is greater than unrefunded amount on charge ({left})",
            )
    _refund_init(self, charge=charge, payment_intent=payment_intent, amount=amount, **kwargs)


def _store_in(path: str) -> Callable[[object], Awaitable[None]]:
    """Load the store from `path`; returns what writes it there, for the server's shutdown.

    localstripe pickles its whole store after every write, which makes a write's cost grow
    with what it holds (a charge takes 100 ms once it holds a thousand): a bench that charges
    thousands would measure that. Written once, when the server stops (SIGTERM, which
    `LocalStripe.stop()` sends), it is there for the next start all the same.
    """

    def load(store: Store) -> None:
        if os.path.exists(path):
            with open(path, "rb") as saved:
                store.clear()
                store.update(pickle.load(saved))  # noqa: S301 - our own server's file

    async def dump(_app: object) -> None:
        with open(path, "wb") as saved:
            pickle.dump(dict(store), saved, protocol=pickle.HIGHEST_PROTOCOL)

    Store.try_load_from_disk, Store.dump_to_disk = load, lambda _store: None
    return dump


def serve() -> None:
    """Register the additions, then start localstripe's server (its routes are built when
    `localstripe.server` is imported, from `extra_apis` and its resource classes)."""
    path = os.environ.get(STATE_FILE_VARIABLE)
    dump = _store_in(path) if path else None
    Refund.__init__ = _refund_init_capped
    extra_apis.extend(
        (
            ("GET", "/v1/disputes/{id}", Dispute._api_retrieve),
            ("POST", "/_test/disputes", Dispute._api_create),
            ("POST", "/_test/disputes/{id}/resolve", Dispute._api_resolve),
        )
    )
    # Imported here, not at the top: importing it builds the routes, so after registering.
    from localstripe.server import app, start

    if dump is not None:
        app.on_shutdown.append(dump)
    start()
