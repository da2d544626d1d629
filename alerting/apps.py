from django.apps import AppConfig


class AlertingConfig(AppConfig):
    name = "alerting"
    verbose_name = "Alerting"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerting.receivers import on_monitor_state_changed
        from monitors.reactions import state_changed

        state_changed.connect(on_monitor_state_changed, dispatch_uid="alerting-on-monitor-state")
