"""Roles block what they must; failed logins are rate limited, logged and counted."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Group

from core.models import AuditLog
from core.roles import has_role, user_role
from incidents.models import Component
from monitors.models import Monitor

pytestmark = pytest.mark.django_db


def test_the_three_role_groups_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "responder", "admin"}
    viewer = Group.objects.get(name="viewer")
    codenames = set(viewer.permissions.values_list("codename", flat=True))
    assert "view_monitor" in codenames and "change_monitor" not in codenames


def test_role_order(viewer, responder, admin_user):
    assert user_role(viewer) == "viewer" and not has_role(viewer, "responder")
    assert has_role(responder, "viewer") and not has_role(responder, "admin")
    assert has_role(admin_user, "responder")


def test_a_viewer_reads_the_admin_but_cannot_edit(client, viewer):
    component = Component.objects.create(name="API")
    client.force_login(viewer)
    assert client.get(f"/admin/incidents/component/{component.pk}/change/").status_code == 200
    response = client.post(f"/admin/incidents/component/{component.pk}/change/", {"name": "Hacked", "position": 0, "status": "operational"})
    assert response.status_code == 403
    component.refresh_from_db()
    assert component.name == "API"
    assert client.get("/admin/monitors/monitor/add/").status_code == 403


def test_a_responder_cannot_edit_monitors(client, responder):
    client.force_login(responder)
    assert client.get("/admin/monitors/monitor/").status_code == 200
    assert client.get("/admin/monitors/monitor/add/").status_code == 403


def test_an_admin_edit_is_audited(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/incidents/component/add/", {"name": "Checkout", "position": 3, "status": "operational", "is_public": "on"})
    assert response.status_code == 302, response.content[:500]
    entry = AuditLog.objects.get(object_type="incidents.component")
    assert entry.action == "create" and entry.actor == admin_user and entry.source == "admin"
    assert entry.changes["name"] == "Checkout"
    assert entry.ip_address == "127.0.0.1"


def test_staff_pages_need_login_and_a_role(client, django_user_model):
    assert client.get("/dashboard/").status_code == 302
    nobody = django_user_model.objects.create_user(username="no-role", password="a-long-test-password")
    client.force_login(nobody)
    response = client.get("/dashboard/")
    assert response.status_code == 403
    assert b"viewer role" in response.content


def test_the_dashboard_lists_monitors_that_need_attention(client, viewer):
    Monitor.objects.create(name="checkout-api", kind="http", target="http://127.0.0.1:1/", state="down", state_reason="down in default")
    client.force_login(viewer)
    page = client.get("/dashboard/").content.decode()
    assert "checkout-api" in page and "down in default" in page


def test_repeated_failed_logins_are_locked_out_logged_and_counted(client, django_user_model, caplog):
    django_user_model.objects.create_user(username="ops", password="the-right-password-123")
    caplog.set_level(logging.WARNING, logger="vigil.security")
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "ops", "password": "wrong"})
    assert response.status_code in (200, 429)
    locked = client.post("/accounts/login/", {"username": "ops", "password": "the-right-password-123"})
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    assert any("login failed for 'ops'" in r.getMessage() for r in caplog.records)
    assert any("locked out" in r.getMessage() for r in caplog.records)
    metrics = client.get("/metrics").content.decode()
    assert "vigil_login_failures_total" in metrics
    failures = [line for line in metrics.splitlines() if line.startswith("vigil_login_failures_total ")]
    assert failures and float(failures[0].split()[-1]) >= 5


def test_a_correct_login_reaches_the_dashboard(client, viewer):
    response = client.post("/accounts/login/", {"username": "vera-viewer", "password": "a-long-test-password"}, follow=True)
    assert response.redirect_chain[-1][0] == "/dashboard/"
    assert b"Overview" in response.content


def test_pages_send_csp_without_unsafe_inline_and_deny_framing(client, viewer):
    client.force_login(viewer)
    response = client.get("/dashboard/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"


def test_an_absurdly_long_username_is_a_form_error_not_a_500(client):
    response = client.post("/accounts/login/", {"username": "9" * 400, "password": "x" * 20})
    assert response.status_code == 200 and "at most 150 characters" in response.content.decode()
    from core.login import axes_username

    assert len(axes_username(None, {"username": "u" * 400})) == 150  # type: ignore[arg-type]
