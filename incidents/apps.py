from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents and components"

    def ready(self) -> None:
        from incidents import metrics, reactions

        reactions.register()
        metrics.register()
