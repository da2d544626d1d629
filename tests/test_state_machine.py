"""The monitor state machine: confirmations, recovery, quorum; and through the service,
every transition is a StateChange row (property test over random result sequences)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitors import services
from monitors import state as machine
from monitors.checkers.base import Result
from monitors.models import Monitor, MonitorRegionState, Region, StateChange

POLICY = machine.Policy(retries=2, recovery_confirmations=2)


def fold(outcomes: list[str], policy: machine.Policy = POLICY) -> list[str]:
    counters = machine.RegionCounters()
    verdicts = []
    for outcome in outcomes:
        counters = machine.apply_result(counters, outcome, policy)
        verdicts.append(counters.verdict)
    return verdicts


def test_one_failed_probe_changes_nothing():
    assert fold(["ok", "down", "ok"]) == ["up", "up", "up"]


def test_the_configured_number_of_failures_makes_it_down():
    assert fold(["ok", "down", "down", "down"]) == ["up", "up", "up", "down"]


def test_recovery_needs_the_configured_successes():
    assert fold(["down"] * 3 + ["ok", "ok"]) == ["unknown", "unknown", "down", "down", "up"]


def test_a_failure_during_recovery_restarts_the_count():
    assert fold(["down"] * 3 + ["ok", "down", "ok", "ok"])[-3:] == ["down", "down", "up"]


def test_slow_responses_confirmed_make_it_degraded():
    assert fold(["ok", "degraded", "degraded", "degraded", "ok", "ok"]) == ["up", "up", "up", "degraded", "degraded", "up"]


def test_quorum_of_regions():
    assert machine.combine({"eu": "down", "us": "up"}, machine.Policy())[0] == "degraded"
    assert machine.combine({"eu": "down", "us": "down"}, machine.Policy())[0] == "down"
    assert machine.combine({"eu": "down", "us": "up", "ap": "down"}, machine.Policy())[0] == "down"
    assert machine.combine({"eu": "down", "us": "up", "ap": "up"}, machine.Policy(quorum=1))[0] == "down"
    _state, reason = machine.combine({"eu": "down", "us": "up"}, machine.Policy())
    assert reason == "down in eu only (1 of 2 regions, quorum 2)"


@given(st.lists(st.sampled_from(["ok", "degraded", "down"]), max_size=60), st.integers(0, 4), st.integers(1, 4))
def test_down_only_after_threshold_failures_in_a_row(outcomes, retries, recovery):
    policy = machine.Policy(retries=retries, recovery_confirmations=recovery)
    verdicts = fold(outcomes, policy)
    for index, verdict in enumerate(verdicts):
        if verdict == "down":
            # Either the last retries+1 results were down, or it was down before and has not recovered.
            streak = outcomes[max(0, index - retries): index + 1]
            confirmed = len(streak) == retries + 1 and all(o == "down" for o in streak)
            assert confirmed or (index > 0 and verdicts[index - 1] == "down")
        if verdict == "up" and index > 0 and verdicts[index - 1] in ("down", "degraded"):
            assert all(o == "ok" for o in outcomes[index - recovery + 1: index + 1])


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["eu", "us"]), st.sampled_from(["ok", "degraded", "down"])), min_size=1, max_size=30))
def test_the_service_never_skips_a_state_change(sequence):
    eu, _ = Region.objects.get_or_create(name="eu")
    us, _ = Region.objects.get_or_create(name="us")
    monitor = Monitor.objects.create(name=f"m-{len(sequence)}-{datetime.now().timestamp()}", kind="tcp", target="127.0.0.1:1",
                                     retries=1, recovery_confirmations=2, interval_seconds=60, timeout_seconds=5)
    monitor.regions.set([eu, us])
    start = datetime(2026, 11, 1, tzinfo=UTC)
    observed = [monitor.state]
    for step, (region, outcome) in enumerate(sequence):
        at = start + timedelta(seconds=10 * step)
        services.record_results(region_name=region, checked=[services.Checked(monitor.pk, at, Result(outcome))], now=at)
        monitor.refresh_from_db()
        observed.append(monitor.state)
    transitions = [(a, b) for a, b in itertools.pairwise(observed) if a != b]
    rows = list(StateChange.objects.filter(monitor=monitor).order_by("at", "pk").values_list("old_state", "new_state"))
    assert rows == transitions
    for old, new in rows:
        assert old != new


@pytest.mark.django_db
def test_a_redelivered_batch_is_neither_stored_nor_applied_twice():
    monitor = Monitor.objects.create(name="api", kind="tcp", target="127.0.0.1:1", retries=0, interval_seconds=60, timeout_seconds=5)
    at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    batch = [services.Checked(monitor.pk, at, Result("down", message="refused"))]
    services.record_results(region_name="default", checked=batch, now=at)
    services.record_results(region_name="default", checked=batch, now=at + timedelta(seconds=1))
    from monitors.models import CheckResult

    assert CheckResult.objects.filter(monitor=monitor).count() == 1
    assert MonitorRegionState.objects.get(monitor=monitor).consecutive_down == 1
    assert StateChange.objects.filter(monitor=monitor).count() == 1


@pytest.mark.django_db
def test_an_unconfirmed_failure_is_retried_sooner_than_the_interval():
    monitor = Monitor.objects.create(name="api", kind="tcp", target="127.0.0.1:1", retries=2, retry_interval_seconds=15,
                                     interval_seconds=300, timeout_seconds=5)
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    monitor.next_due_at = now + timedelta(seconds=300)
    monitor.save()
    services.record_results(region_name="default", checked=[services.Checked(monitor.pk, now, Result("down"))], now=now)
    monitor.refresh_from_db()
    assert monitor.next_due_at == now + timedelta(seconds=15)
    assert monitor.state == "unknown"


@pytest.mark.django_db
def test_flapping_is_marked_after_many_changes_in_an_hour():
    monitor = Monitor.objects.create(name="flappy", kind="tcp", target="127.0.0.1:1", retries=0, recovery_confirmations=1,
                                     interval_seconds=60, timeout_seconds=5, settings={"flap_threshold": 4})
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    for step in range(6):
        at = now + timedelta(minutes=step)
        services.record_results(region_name="default", checked=[services.Checked(monitor.pk, at, Result("down" if step % 2 else "ok"))], now=at)
    monitor.refresh_from_db()
    assert monitor.is_flapping
    assert StateChange.objects.filter(monitor=monitor, is_flapping=True).exists()
