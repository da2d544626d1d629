from django.apps import AppConfig


class SLOConfig(AppConfig):
    name = "slo"
    verbose_name = "Service level objectives"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from slo import metrics, reactions

        reactions.register()
        metrics.register()
