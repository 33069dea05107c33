"""What the outbox announces after commit; tasks/ connects the Celery side (tasks/apps.py)."""

from django.dispatch import Signal

# Sent with `email_id` once the transaction that queued the e-mail has committed.
email_queued = Signal()
