# AuditLog now belongs to core (core.0001 took it over with the same table); the
# project package keeps no models.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("portal", "0002_role_groups"), ("core", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[migrations.DeleteModel(name="AuditLog")]),
    ]
