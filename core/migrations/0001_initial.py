# AuditLog moved here from portal (the project package). The table keeps its name
# (portal_auditlog): this migration only moves the model in Django's state; on a fresh
# database portal.0001 creates the table first.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("portal", "0002_role_groups"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="AuditLog",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("actor_name", models.CharField(blank=True, help_text="Kept when the user is deleted.", max_length=150)),
                        ("action", models.CharField(max_length=40)),
                        ("object_type", models.CharField(max_length=100)),
                        ("object_id", models.CharField(blank=True, max_length=64)),
                        ("object_repr", models.CharField(blank=True, max_length=200)),
                        ("changes", models.JSONField(blank=True, default=dict)),
                        ("source", models.CharField(choices=[("admin", "Admin"), ("api", "Api"), ("console", "Console"), ("command", "Command"), ("system", "System")], default="system", max_length=10)),
                        ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                        ("request_id", models.CharField(blank=True, max_length=128)),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "portal_auditlog",
                        "ordering": ["-at", "-id"],
                        "indexes": [models.Index(fields=["object_type", "object_id", "-at"], name="audit_object_idx")],
                    },
                ),
            ],
        ),
    ]
