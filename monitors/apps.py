from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "monitors"
    verbose_name = "Monitors"

    def ready(self) -> None:
        from monitors import metrics, reactions

        reactions.register()
        metrics.register()
