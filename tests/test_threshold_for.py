"""`for` durations: a threshold breach counts only once it has held warn_for_seconds /
down_for_seconds in a region; until then the check is ok and says how long it has held. Checked
against a real local service whose error rate the test sets, with the clock pinned."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from monitors import services
from monitors.checkers import run_check
from monitors.checkers.base import CheckSession
from monitors.models import CheckResult, Monitor, MonitorRegionState, Region
from monitors.services import Checked
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# The guides' error-rate alert: warning at 1% for 5 minutes, critical at 5% for 1 minute.
GUIDE_RULE = {"value_path": "$.errors.rate", "label": "error rate", "scale": 100, "unit": "%",
              "warn_above": 0.01, "down_above": 0.05, "warn_for_seconds": 300, "down_for_seconds": 60}


class Service:
    def __init__(self) -> None:
        self.rate = 0.0
        self.status = 200
        self.server = HTTPServer({"/health": self.health})

    def health(self, handler) -> None:
        respond(handler, self.status, json.dumps({"status": "healthy", "errors": {"rate": self.rate}}).encode(),
                {"Content-Type": "application/json"})


@pytest.fixture
def service():
    instance = Service()
    yield instance
    instance.server.close()


@pytest.fixture
def api(service) -> Monitor:
    return services.monitor_upsert(changes={"name": "api errors", "kind": "health_json", "target": f"{service.server.url}/health",
                                            "settings": GUIDE_RULE, "interval_seconds": 60, "timeout_seconds": 5, "retries": 0,
                                            "recovery_confirmations": 1}, now=T0)


def check_at(item: Monitor, minutes: float, region: str = "default") -> Monitor:
    """Run the check against the service at T0 + minutes and record it, as a worker in `region` does."""
    at = T0 + timedelta(minutes=minutes)
    with time_machine.travel(at, tick=False):
        result = run_check(Monitor.objects.get(pk=item.pk), CheckSession(), at)
        services.record_results(region_name=region, checked=[Checked(item.pk, at, result)], now=at)
    return Monitor.objects.get(pk=item.pk)


def test_an_error_rate_over_one_percent_is_degraded_only_after_five_minutes_and_then_resolves(service, api):
    assert check_at(api, 0).state == "up"
    service.rate = 0.03
    held = [check_at(api, minute) for minute in (1, 2, 3, 4, 5)]
    assert [m.state for m in held] == ["up", "up", "up", "up", "up"]
    assert held[0].last_message == "error rate 3% > 1% for 0s of 5m"
    assert held[3].last_message == "error rate 3% > 1% for 3m of 5m"
    assert CheckResult.objects.filter(monitor_id=api.pk, outcome=CheckResult.Outcome.OK).count() == 6
    fired = check_at(api, 6)
    assert fired.state == "degraded" and fired.last_message == "error rate 3% > 1%"
    service.rate = 0.002
    resolved = check_at(api, 7)
    assert resolved.state == "up" and resolved.last_message == "error rate 0.2%"
    assert MonitorRegionState.objects.get(monitor=api).breach_since is None


def test_a_breach_that_does_not_hold_never_fires(service, api):
    service.rate = 0.03
    for minute in (0, 1, 2, 3):
        check_at(api, minute)
    service.rate = 0.0
    check_at(api, 4)
    service.rate = 0.03
    again = [check_at(api, minute) for minute in (5, 6, 7, 8, 9)]
    assert {m.state for m in again} == {"up"}  # the clock started again at minute 5
    assert again[-1].last_message == "error rate 3% > 1% for 4m of 5m"
    assert check_at(api, 10).state == "degraded"


def test_over_five_percent_is_down_after_one_minute(service, api):
    service.rate = 0.08
    first = check_at(api, 0)
    assert first.state == "up" and first.last_message == "error rate 8% > 5% for 0s of 1m"
    assert check_at(api, 0.5).state == "up"
    down = check_at(api, 1)
    assert down.state == "down" and down.last_message == "error rate 8% > 5%"


def test_a_critical_breach_waiting_for_its_minute_is_a_warning_once_the_warning_has_held(service, api):
    service.rate = 0.03
    for minute in range(6):
        check_at(api, minute)
    service.rate = 0.08
    waiting = check_at(api, 6)
    assert waiting.state == "degraded" and waiting.last_message == "error rate 8% > 5% for 0s of 1m"
    assert check_at(api, 7).state == "down"


def test_a_failure_that_is_not_a_breach_is_not_delayed_and_restarts_the_clock(service, api):
    service.rate = 0.03
    for minute in (0, 1, 2, 3, 4):
        check_at(api, minute)
    service.status = 500
    failed = check_at(api, 5)
    assert failed.state == "down" and failed.last_message.startswith("HTTP 500")
    assert MonitorRegionState.objects.get(monitor=api).breach_since is None
    service.status = 200
    assert check_at(api, 6).last_message == "error rate 3% > 1% for 0s of 5m"


def test_each_region_keeps_its_own_breach_clock(service, api):
    Region.objects.get_or_create(name="eu")
    api.regions.set(Region.objects.filter(name__in=["default", "eu"]))
    service.rate = 0.03
    for minute in (0, 1, 2, 3, 4, 5):
        check_at(api, minute, "default")
    check_at(api, 3, "eu")
    states = {s.region.name: s for s in MonitorRegionState.objects.filter(monitor=api).select_related("region")}
    assert states["default"].verdict == "degraded" and states["default"].breach_since == T0
    assert states["eu"].verdict == "up" and states["eu"].breach_since == T0 + timedelta(minutes=3)
    assert states["eu"].last_message == "error rate 3% > 1% for 0s of 5m"


@pytest.mark.parametrize(("settings", "field"), [
    ({"warn_for_seconds": -5}, "warn_for_seconds"),
    ({"down_for_seconds": 86400}, "down_for_seconds"),
    ({"warn_for_seconds": "5m"}, "warn_for_seconds"),
    ({"down_for_seconds": True}, "down_for_seconds"),
])
@pytest.mark.parametrize("kind", ["health_json", "http", "heartbeat"])
def test_for_durations_are_checked_and_the_error_names_the_field(kind, settings, field):
    from django.core.exceptions import ValidationError

    target = "" if kind == "heartbeat" else "http://127.0.0.1:9/health"
    with pytest.raises(ValidationError) as raised:
        services.monitor_upsert(changes={"name": "bad for", "kind": kind, "target": target, "settings": settings,
                                         "interval_seconds": 60, "timeout_seconds": 5}, now=T0)
    message = " ".join(raised.value.messages)
    assert field in message and "from 0 to below 86400" in message


def test_http_latency_limits_wait_for_their_for_too():
    import time as wall

    def slow(handler) -> None:
        wall.sleep(0.3)  # well past the 50 ms limit on any machine
        respond(handler, 200, b"ok")

    server = HTTPServer({"/slow": slow})
    try:
        item = services.monitor_upsert(changes={"name": "slow page", "kind": "http", "target": f"{server.url}/slow",
                                                "settings": {"latency_warn_ms": 50, "warn_for_seconds": 120},
                                                "interval_seconds": 60, "timeout_seconds": 5, "retries": 0}, now=T0)
        first, second = check_at(item, 0), check_at(item, 1)
        assert (first.state, second.state) == ("up", "up")
        assert second.last_message.startswith("slow: ") and second.last_message.endswith(" ms > 50 ms for 1m of 2m")
        fired = check_at(item, 2)
        assert fired.state == "degraded" and fired.last_message.endswith(" ms > 50 ms")
    finally:
        server.close()
