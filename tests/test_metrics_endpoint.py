"""/metrics: closed in production until a token or an allow list is set; methods no client can inflate."""

from __future__ import annotations

import random
import re
import string

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(settings):  # type: ignore[no-untyped-def]
    settings.PRODUCTION = True
    settings.VIGIL_METRICS_TOKEN = ""
    settings.VIGIL_METRICS_ALLOW = []
    return settings


def test_in_production_metrics_are_closed_until_a_token_or_an_allow_list_is_set(client, production):
    response = client.get("/metrics")
    assert response.status_code == 403
    text = response.content.decode()
    assert "VIGIL_METRICS_TOKEN" in text and "VIGIL_METRICS_ALLOW" in text
    assert "vigil_http_requests_total" not in text


def test_in_development_metrics_stay_open(client, settings):
    settings.PRODUCTION, settings.VIGIL_METRICS_TOKEN, settings.VIGIL_METRICS_ALLOW = False, "", []
    response = client.get("/metrics")
    assert response.status_code == 200 and "vigil_http_requests_total" in response.content.decode()


def test_a_bearer_token_opens_metrics_in_production(client, production):
    production.VIGIL_METRICS_TOKEN = "scrape-me-0123456789"
    refused = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert refused.status_code == 401 and "Authorization: Bearer" in refused.content.decode()
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-0123456789").status_code == 200


def test_the_token_can_come_from_a_file(tmp_path):
    from core.env import Env

    secret = tmp_path / "metrics_token"
    secret.write_text("from-a-file\n")
    assert Env({"VIGIL_METRICS_TOKEN_FILE": str(secret)}).str("VIGIL_METRICS_TOKEN") == "from-a-file"


def test_an_allow_list_admits_only_its_networks(client, production):
    production.VIGIL_METRICS_ALLOW = ["10.1.0.0/16", "::1"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert refused.status_code == 403
    assert "203.0.113.9" in refused.content.decode() and "VIGIL_METRICS_ALLOW" in refused.content.decode()


def test_with_both_set_a_scraper_needs_the_address_and_the_token(client, production):
    production.VIGIL_METRICS_ALLOW = ["10.1.0.0/16"]
    production.VIGIL_METRICS_TOKEN = "scrape-me-0123456789"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-me-0123456789").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer scrape-me-0123456789").status_code == 200


def test_fifty_invented_methods_add_one_other_series_not_fifty(client, settings):
    settings.PRODUCTION, settings.VIGIL_METRICS_TOKEN, settings.VIGIL_METRICS_ALLOW = False, "", []
    methods = {"X" + "".join(random.choices(string.ascii_uppercase, k=12)) for _ in range(50)}
    for method in methods:
        assert client.generic(method, "/health").status_code == 405
    body = client.get("/metrics").content.decode()
    series = re.findall(r'^vigil_http_requests_total\{([^}]*)\}', body, flags=re.MULTILINE)
    health = [labels for labels in series if 'view="health"' in labels and 'status="405"' in labels]
    assert not any(method in body for method in methods)
    assert health == [labels for labels in health if 'method="other"' in labels] and len(health) == 1


def test_the_allow_list_sees_the_client_a_trusted_proxy_forwards(client, production):
    production.VIGIL_METRICS_ALLOW = ["10.1.0.0/16"]
    production.VIGIL_TRUSTED_PROXIES = ["192.0.2.10"]
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
