"""The Celery app: broker and schedule come from Django settings (CELERY_*)."""

from __future__ import annotations

from celery import Celery

from portal.boot import load_settings_or_exit

# A worker or beat with a bad setting stops here with one line, not a traceback.
load_settings_or_exit()

app = Celery("vigil")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from portal.worker import WorkerHeartbeat  # noqa: E402

app.steps["worker"].add(WorkerHeartbeat)
