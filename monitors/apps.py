from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "monitors"
    verbose_name = "Monitors"

    def ready(self) -> None:
        from monitors import gauges, reactions

        reactions.register()
        gauges.register()
