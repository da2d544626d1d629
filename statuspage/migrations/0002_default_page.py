"""Every installation starts with a default public page at /status/ showing all public components."""

from django.db import migrations


def create_default_page(apps, schema_editor):
    StatusPage = apps.get_model("statuspage", "StatusPage")
    if not StatusPage.objects.exists():
        StatusPage.objects.create(slug="public", title="Service status", is_default=True, visibility="public")


class Migration(migrations.Migration):
    dependencies = [("statuspage", "0001_initial")]

    operations = [migrations.RunPython(create_default_page, migrations.RunPython.noop)]
