"""Every e-mail the service sends: a plain-text body with an HTML alternative."""

from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def send_templated(
    *, template: str, subject: str, to: str, context: dict, reply_to: str | None = None
) -> None:
    """Render `template`.txt and `template`.html with `context` and send them as one mail."""
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        to=[to],
        reply_to=[reply_to] if reply_to else None,
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    message.send()
