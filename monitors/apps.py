from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "monitors"
    verbose_name = "Monitors"

    def ready(self) -> None:
        from core import events
        from incidents.services import MAINTENANCE_CHANGED
        from monitors import reactions
        from monitors.services import MONITOR_STATE

        events.register("components", topics=[MONITOR_STATE], handle=reactions.on_state_for_components)
        events.register("maintenance", topics=[MAINTENANCE_CHANGED], handle=reactions.on_maintenance)
        # Live pushes are best effort and cheap to repeat: one attempt, no retries.
        events.register("live", topics=[MONITOR_STATE], handle=reactions.on_state_for_live_pages, max_attempts=1)
