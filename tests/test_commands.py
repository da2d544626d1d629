"""seed_demo and bootstrap_admin: once, idempotent, with the password shown once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from incidents.models import Component, Incident, Maintenance
from monitors.models import Monitor

pytestmark = pytest.mark.django_db


def run(*args: str, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_seed_demo_loads_once():
    first = run("seed_demo", base_url="http://127.0.0.1:8123")
    assert "Demo data loaded." in first
    assert Component.objects.count() == 3 and Monitor.objects.count() == 5
    assert Monitor.objects.get(name="Vigil self health").target == "http://127.0.0.1:8123/health"
    # Resolved, and its postmortem published (the incident's status says so).
    assert Incident.objects.get().updates.count() == 4 and Incident.objects.get().status == "postmortem"
    assert Incident.objects.get().postmortem.status == "published"
    assert Maintenance.objects.count() == 1
    assert all(m.next_due_at is not None for m in Monitor.objects.all())
    assert "already" in run("seed_demo")
    assert Monitor.objects.count() == 5


def test_the_demo_page_shows_every_public_component_and_no_made_up_history(client):
    from django.utils import timezone

    from statuspage.tasks import rebuild_all

    loaded = timezone.now()
    run("seed_demo", base_url="http://127.0.0.1:8123")
    later = Component.objects.create(name="Search", description="made public after the demo was loaded")
    Component.objects.create(name="Internal queue", is_public=False)
    rebuild_all()
    components = {c["name"] for c in client.get("/api/v2/components.json").json()["components"]}
    assert {"Vigil portal", "Demo API", "Nightly jobs", "Search"} <= components and "Internal queue" not in components
    assert later.name in client.get("/status/").content.decode()
    # No backdated history: no component is older than the demo, no check result was made up,
    # and every day before a component's first check is "no data".
    from monitors.models import CheckResult

    assert not CheckResult.objects.filter(at__lt=loaded).exists()  # the heartbeat's first ping is a real one
    assert not Component.objects.filter(created_at__lt=loaded).exists()
    for component in Component.objects.filter(is_public=True):
        uptime = client.get(f"/api/v2/components/{component.pk}/uptime.json").json()
        assert uptime["major_outage"] == 0 and uptime["partial_outage"] == 0, component.name
    assert Incident.objects.get().title.startswith("Sample incident (demo data)")


def test_bootstrap_admin_prints_a_password_once(client):
    output = run("bootstrap_admin")
    password = output.split("store it now):")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.groups.filter(name="admin").exists()
    response = client.post("/accounts/login/", {"username": "admin", "password": password})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert "exists already" in run("bootstrap_admin")


def test_bootstrap_admin_refuses_a_weak_password(settings):
    settings.VIGIL_ADMIN_PASSWORD = "12345"
    with pytest.raises(CommandError, match="VIGIL_ADMIN_PASSWORD is too weak"):
        run("bootstrap_admin")


def test_seed_demo_loads_nothing_in_production_and_says_how_to_ask_for_it(settings):
    settings.PRODUCTION = True
    out = run("seed_demo")
    assert "No demo data in production" in out and "VIGIL_DEMO=1" in out and "--force" in out
    assert not Monitor.objects.exists() and not Component.objects.exists() and not Incident.objects.exists()


def test_seed_demo_loads_in_production_when_asked(settings):
    settings.PRODUCTION = True
    assert "Demo data loaded." in run("seed_demo", force=True)
    assert Monitor.objects.count() == 5
    Component.objects.all().delete()
    Monitor.objects.all().delete()
    settings.VIGIL_DEMO = True
    assert "Demo data loaded." in run("seed_demo")
    assert Monitor.objects.count() == 5
