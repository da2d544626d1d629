"""The guides' daily, weekly and monthly checks as the default checklists (docs/incidents.md)."""

from django.db import migrations

DEFAULTS = [
    ("Daily checks", "daily", ["Review uptime: 100% or near", "Check error rate: below 0.5%", "Verify backups completed within the last 24 hours"]),
    ("Weekly checks", "weekly", ["Review performance trends", "Check capacity utilization", "Identify slow endpoints", "Plan optimizations"]),
    ("Monthly checks", "monthly", ["Full health audit", "Review all metrics", "Capacity planning", "Update runbooks if needed"]),
]


def seed(apps, schema_editor):
    OpsChecklist = apps.get_model("incidents", "OpsChecklist")
    OpsChecklistItem = apps.get_model("incidents", "OpsChecklistItem")
    for position, (name, cadence, items) in enumerate(DEFAULTS):
        checklist, created = OpsChecklist.objects.get_or_create(name=name, defaults={"cadence": cadence, "position": position})
        if created:
            OpsChecklistItem.objects.bulk_create([OpsChecklistItem(checklist=checklist, text=text, position=i) for i, text in enumerate(items)])


class Migration(migrations.Migration):
    dependencies = [("incidents", "0009_h19_ops_checklists")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
