"""Domain errors that services raise; the API's one exception handler (secure_my_spot.api)
maps each to its `status_code`."""


class ApplicationError(Exception):
    """A request that is well-formed but cannot be honoured; `status_code` says why."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConflictError(ApplicationError):
    """The resource is not in a state that allows the change (spot taken, wrong status)."""

    status_code = 409


class NotFoundError(ApplicationError):
    status_code = 404


class DependencyError(Exception):
    """A service this one depends on (the payment provider) failed the request.

    The client is told `status_code` and `public_message` only: the exception's own message
    may carry the dependency's words, which are for the logs.
    """

    status_code = 502
    public_message = "A service this one depends on failed."
    # Seconds a client should wait before trying again, sent as Retry-After when set.
    retry_after: int | None = None
