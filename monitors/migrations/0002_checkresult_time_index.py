from django.db import migrations

# Retention (monitors.rollups.prune_raw) and rollups scan CheckResult by time across
# all monitors. On PostgreSQL a BRIN index serves that for a few bytes per thousand
# rows, which keeps the row within its size budget; SQLite gets a plain index.


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX checkresult_at_brin ON monitors_checkresult USING brin (at)")
    else:
        schema_editor.execute("CREATE INDEX checkresult_at_idx ON monitors_checkresult (at)")


def drop_index(apps, schema_editor):
    name = "checkresult_at_brin" if schema_editor.connection.vendor == "postgresql" else "checkresult_at_idx"
    schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def create_default_region(apps, schema_editor):
    apps.get_model("monitors", "Region").objects.get_or_create(name="default", defaults={"label": "Default"})


class Migration(migrations.Migration):
    dependencies = [("monitors", "0001_initial")]
    operations = [
        migrations.RunPython(create_index, drop_index),
        migrations.RunPython(create_default_region, migrations.RunPython.noop),
    ]
