from django.apps import AppConfig


class StatusPageConfig(AppConfig):
    name = "statuspage"
    verbose_name = "Status pages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import events
        from statuspage import reactions

        events.register("statuspage", topics=reactions.TOPICS, handle=reactions.on_event)
