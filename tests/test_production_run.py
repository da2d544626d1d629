"""`VIGIL_ENV=production make run` on a fresh data directory: what it prepares before starting the
processes (the Makefile's `prepare`) leaves staff pages answering and loads no demo monitors."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

from tests.processes import ROOT

pytestmark = pytest.mark.slow

STAFF_PAGES = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from monitors.models import Monitor

client = Client(raise_request_exception=False)
client.force_login(get_user_model().objects.get(username="admin"))
for path in ("/", "/ops/", "/monitors/", "/admin/"):
    print(path, client.get(path, secure=True, follow=True).status_code)
print("monitors", Monitor.objects.count())
"""


def production_env(data_dir: str) -> dict[str, str]:
    """A first start in production: nothing of the test run's data directory or settings."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("VIGIL_", "DJANGO_", "PROMETHEUS_", "DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"))}
    env.update(VIGIL_ENV="production", DJANGO_SETTINGS_MODULE="portal.settings", VIGIL_DATA_DIR=data_dir,
               DATABASE_URL=f"sqlite:///{data_dir}/vigil.sqlite3", REDIS_URL=settings.REDIS_URL,
               SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="testserver",
               VIGIL_ADMIN_PASSWORD=secrets.token_urlsafe(20))
    return env


def test_a_production_run_collects_static_files_so_staff_pages_answer(tmp_path):
    env = production_env(str(tmp_path / "data"))
    # -o: the virtualenv is installed already; do not reinstall it for this test.
    prepared = subprocess.run(["make", "-o", ".venv/.installed", "prepare"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
    assert prepared.returncode == 0, prepared.stdout[-3000:] + prepared.stderr[-3000:]
    assert "No demo data in production" in prepared.stdout

    pages = subprocess.run([sys.executable, "-c", STAFF_PAGES], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert pages.returncode == 0, pages.stderr[-3000:]
    answers = dict(line.split(" ", 1) for line in pages.stdout.strip().splitlines())
    assert answers == {"/": "200", "/ops/": "200", "/monitors/": "200", "/admin/": "200", "monitors": "0"}, pages.stderr[-3000:]
