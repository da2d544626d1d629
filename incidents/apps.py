from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents and components"

    def ready(self) -> None:
        from core import events
        from incidents import reactions
        from incidents.services import COMPONENT_STATUS

        events.register("auto-incidents", topics=[COMPONENT_STATUS], handle=reactions.on_component_status)
