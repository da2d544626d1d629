from django.apps import AppConfig


class StatusPageConfig(AppConfig):
    name = "statuspage"
    verbose_name = "Status pages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from statuspage import health, reactions

        reactions.register()
        health.register()
