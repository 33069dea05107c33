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
        self._metrics_register()

    @staticmethod
    def _metrics_register() -> None:
        """The workers' backlog, read when /metrics is scraped."""
        from secure_my_spot.metrics import scrape_time_add
        from tasks.selectors import due_work_lag_seconds, task_queue_depth

        scrape_time_add(
            name="due_work_lag_seconds",
            documentation="Age of the oldest due reservation work not claimed by the beat.",
            read=due_work_lag_seconds,
        )
        scrape_time_add(
            name="task_queue_messages",
            documentation="Messages waiting in the Celery queue (RabbitMQ).",
            read=task_queue_depth,
        )
