from django.apps import AppConfig


class TasksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tasks"

    def ready(self) -> None:
        """The services below announce queued work by signal; this layer sends it to Celery."""
        from outbox.services import email_queued
        from tasks.tasks import email_send_enqueue

        email_queued.connect(email_send_enqueue, dispatch_uid="tasks.email_send_enqueue")
