from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents and components"

    def ready(self) -> None:
        from incidents.receivers import on_monitor_state_changed
        from monitors.reactions import state_changed

        state_changed.connect(on_monitor_state_changed, dispatch_uid="incidents-on-monitor-state")
