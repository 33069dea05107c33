"""Account e-mails: the verification and password-reset links (or codes)."""

from django.conf import settings

from outbox.services import email_queue

SUBJECTS = {
    "verify_email": "Confirm your e-mail address",
    "password_reset": "Reset your password",
}


def _frontend_link(path: str, token: str) -> str | None:
    """The single-page app's page for `token`, when FRONTEND_BASE_URL says where it lives.

    Without it the mail carries the token as a code for the client to send to the API, since
    both routes are POSTs (a GET link would be spent by mail scanners that open links).
    """
    base = settings.FRONTEND_BASE_URL.rstrip("/")
    return f"{base}/{path}/{token}" if base else None


def _duration(seconds: int) -> str:
    hours = seconds / 3600
    if hours >= 48:
        return f"{hours / 24:g} days"
    return "1 hour" if hours == 1 else f"{hours:g} hours"


def account_email_queue(*, kind: str, to: str, token: str, valid_for_seconds: int) -> None:
    context = {
        "token": token,
        "link": _frontend_link(kind.replace("_", "-"), token),
        "valid_for": _duration(valid_for_seconds),
    }
    email_queue(
        kind=kind,
        template=f"users/email/{kind}",
        subject=SUBJECTS[kind],
        to=to,
        context=context,
    )
