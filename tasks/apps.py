from django.apps import AppConfig


class TasksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tasks"

    def ready(self) -> None:
        """The services below announce work by signal after commit; this layer, the only
        one that knows Celery, turns each into its task."""
        from outbox.signals import email_queued
        from reservations.signals import reservation_ended
        from tasks.tasks import email_send_enqueue, reservation_finish_enqueue

        email_queued.connect(email_send_enqueue, dispatch_uid="tasks.email_send_enqueue")
        reservation_ended.connect(
            reservation_finish_enqueue, dispatch_uid="tasks.reservation_finish_enqueue"
        )
