"""The client address comes from the TCP peer; forwarded headers count only from trusted proxies.

A client that sends its own X-Forwarded-For must not escape the login lockout, the
subscribe rate limit or the audit log's record of where a change came from.
"""

from __future__ import annotations

import re

import pytest
import requests
from django.test import RequestFactory, override_settings

from api.tokens import token_issue
from core.client_address import client_address
from core.env import ConfigError, Env
from core.models import AuditLog
from incidents.models import Component
from tests.processes import start_procfile_web

pytestmark = pytest.mark.django_db(transaction=True)


def _login(session: requests.Session, url: str, password: str, forwarded_for: str) -> requests.Response:
    page = session.get(f"{url}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    return session.post(f"{url}/accounts/login/", timeout=10, allow_redirects=False,
                        data={"username": "ops", "password": password, "csrfmiddlewaretoken": token.group(1)},
                        headers={"X-Forwarded-For": forwarded_for, "Referer": f"{url}/accounts/login/"})


def test_a_spoofed_forwarded_for_does_not_escape_the_login_lockout(tmp_path, django_user_model):
    django_user_model.objects.create_user(username="ops", password="the-right-password-123")
    web, url = start_procfile_web(tmp_path)
    try:
        session = requests.Session()
        for attempt in range(5):
            _login(session, url, "wrong", forwarded_for=f"198.51.100.{attempt + 1}")
        locked = _login(session, url, "the-right-password-123", forwarded_for="198.51.100.99")
    finally:
        web.stop()
    assert locked.status_code == 429, locked.text[:500]
    assert "Too many failed sign-in attempts" in locked.text


def test_a_spoofed_forwarded_for_is_not_written_to_the_audit_log(tmp_path, admin_user):
    _token, clear = token_issue(user=admin_user, name="audit test", scope="write")
    web, url = start_procfile_web(tmp_path)
    try:
        created = requests.post(f"{url}/api/v1/components", json={"name": "Checkout"}, timeout=10,
                                headers={"Authorization": f"Bearer {clear}", "X-Forwarded-For": "203.0.113.66"})
    finally:
        web.stop()
    assert created.status_code == 201, created.text[:500]
    entry = AuditLog.objects.get(object_type="incidents.component", action="create")
    assert entry.ip_address == "127.0.0.1"


@override_settings(VIGIL_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_a_trusted_proxy_reports_the_client_it_forwarded(client, admin_user):
    _token, clear = token_issue(user=admin_user, name="audit test", scope="write")
    created = client.post("/api/v1/components", {"name": "Checkout"}, content_type="application/json",
                          HTTP_AUTHORIZATION=f"Bearer {clear}", REMOTE_ADDR="10.0.0.2",
                          HTTP_X_FORWARDED_FOR="192.0.2.200, 203.0.113.7, 10.0.0.9")
    assert created.status_code == 201, created.content
    entry = AuditLog.objects.get(object_type="incidents.component", action="create")
    assert entry.ip_address == "203.0.113.7"  # the first hop left of the trusted ones; 192.0.2.200 is the client's own claim
    assert Component.objects.filter(name="Checkout").exists()


@override_settings(VIGIL_TRUSTED_PROXIES=["10.0.0.2"])
def test_the_lockout_follows_the_forwarded_client_behind_a_trusted_proxy(client, django_user_model):
    django_user_model.objects.create_user(username="ops", password="the-right-password-123")
    for _ in range(5):
        client.post("/accounts/login/", {"username": "ops", "password": "wrong"}, REMOTE_ADDR="10.0.0.2",
                    HTTP_X_FORWARDED_FOR="203.0.113.7")
    locked = client.post("/accounts/login/", {"username": "ops", "password": "the-right-password-123"},
                         REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert locked.status_code == 429
    other_client = client.post("/accounts/login/", {"username": "ops", "password": "the-right-password-123"},
                               REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert other_client.status_code == 302  # another visitor behind the same proxy is not locked out


@pytest.mark.parametrize(("trusted", "meta", "expected"), [
    ([], {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, "192.0.2.1"),
    ([], {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_REAL_IP": "1.2.3.4", "HTTP_FORWARDED": "for=1.2.3.4"}, "192.0.2.1"),
    (["10.0.0.0/8"], {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, "192.0.2.1"),
    (["10.0.0.0/8"], {"REMOTE_ADDR": "10.1.1.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, "1.2.3.4"),
    (["10.0.0.0/8"], {"REMOTE_ADDR": "10.1.1.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 10.2.2.2"}, "1.2.3.4"),
    (["10.0.0.0/8"], {"REMOTE_ADDR": "10.1.1.1", "HTTP_X_FORWARDED_FOR": "not-an-ip, 10.2.2.2"}, "10.2.2.2"),
    (["10.0.0.0/8"], {"REMOTE_ADDR": "10.1.1.1", "HTTP_X_REAL_IP": "1.2.3.4"}, "1.2.3.4"),
    (["10.0.0.0/8"], {"REMOTE_ADDR": "10.1.1.1", "HTTP_FORWARDED": 'for=1.2.3.4;proto=https, for="[2001:db8::1]:443"'},
     "2001:db8::1"),
    (["::1"], {"REMOTE_ADDR": "::1", "HTTP_X_FORWARDED_FOR": "203.0.113.7:5123"}, "203.0.113.7"),
    (["10.0.0.0/8"], {"REMOTE_ADDR": "10.1.1.1"}, "10.1.1.1"),
])
def test_client_address_walks_forwarded_headers_only_past_trusted_proxies(trusted, meta, expected):
    request = RequestFactory().get("/", **meta)
    with override_settings(VIGIL_TRUSTED_PROXIES=trusted):
        assert client_address(request) == expected


def test_a_malformed_trusted_proxy_stops_start_up_with_a_readable_error():
    with pytest.raises(ConfigError, match="VIGIL_TRUSTED_PROXIES: 'nginx' is not an IP address or network"):
        Env({"VIGIL_TRUSTED_PROXIES": "10.0.0.1, nginx"}).networks("VIGIL_TRUSTED_PROXIES")
    assert Env({"VIGIL_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16"}).networks("VIGIL_TRUSTED_PROXIES") == [
        "10.0.0.1", "192.168.0.0/16"]


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"), SECURE_SSL_REDIRECT=True,
                   SECURE_REDIRECT_EXEMPT=[], VIGIL_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_x_forwarded_proto_counts_only_from_a_trusted_proxy(client, caplog):
    """With SECURE_PROXY_SSL_HEADER set (production), a client reaching the app directly must not
    make itself 'secure' by saying so: Django would skip the HTTPS redirect and treat it as HTTPS."""
    spoofed = client.get("/status/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="203.0.113.9")
    assert spoofed.status_code == 301 and spoofed["Location"].startswith("https://")
    proxied = client.get("/status/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="10.1.2.3")
    assert proxied.status_code != 301
    # A proxy on this host that nobody listed: ignored, and the log says which setting to change.
    with caplog.at_level("WARNING", logger="vigil.security"):
        local = client.get("/status/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="127.0.0.1")
    assert local.status_code == 301
    assert "VIGIL_TRUSTED_PROXIES=127.0.0.1" in caplog.text
