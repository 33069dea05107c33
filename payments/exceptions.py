"""What can go wrong with a payment, in the project's own terms: callers never see `stripe`."""

from secure_my_spot.exceptions import ApplicationError, ConflictError, DependencyError


class PaymentError(Exception):
    """Base of every payment failure."""


class CardDeclined(PaymentError):
    """The bank or Stripe said no (`card_declined`, `authentication_required`, ...).

    Final for this card: retrying the same charge gives the same answer.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        decline_code: str | None = None,
        payment_intent_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id


class PaymentProviderUnavailable(PaymentError, DependencyError):
    """Stripe could not be reached or answered 5xx / 429: retry later, nothing was decided."""

    status_code = 503
    public_message = "The payment provider cannot be reached; try again shortly."
    retry_after = 5


class PaymentProviderError(PaymentError, DependencyError):
    """Stripe refused the request itself (bad parameters, key): a bug or misconfiguration."""

    status_code = 502
    public_message = "The payment provider refused the request."


class UnknownStripeObject(PaymentProviderError):
    """Stripe answered 404: it holds no such object (made up, deleted, another account's).

    Final, like any refusal; a webhook about one is acknowledged rather than retried forever.
    """


class InvalidWebhook(PaymentError, ApplicationError):
    """A webhook whose signature does not verify or whose body is not a Stripe event: a 400
    that says which."""


class UntrustedStripeObject(ConflictError):
    """A Stripe object that is not what it claims to settle: another deployment's, another
    customer's, another amount. Logged and ignored; as an answer to a client, a 409."""
