from django.apps import AppConfig


class EnforcementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "enforcement"
    verbose_name = "Enforcement"

    def ready(self) -> None:
        from enforcement import schema  # noqa: F401 - registers the OpenAPI extension
