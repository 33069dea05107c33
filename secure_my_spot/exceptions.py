"""Domain errors that services raise and the API maps to HTTP statuses."""


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
