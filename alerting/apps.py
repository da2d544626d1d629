from django.apps import AppConfig


class AlertingConfig(AppConfig):
    name = "alerting"
    verbose_name = "Alerting"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerting import reactions
        from core import events
        from monitors.services import MONITOR_STATE

        events.register("alerting", topics=[MONITOR_STATE], handle=reactions.on_monitor_state)
