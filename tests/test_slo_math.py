"""SLO maths checked against a reference written independently here, over random
histories (hypothesis): SLI, budget, burn rates and time to exhaustion agree to 1e-9,
whether counted per minute or from hourly/daily rollups."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib import slo

OBJECTIVES = st.sampled_from([99.0, 99.5, 99.9, 99.95, 99.99])


def reference(minutes: list[bool | None], objective: float) -> dict[str, float]:
    """Plain Python over raw 1-minute results: True good, False bad, None excluded (maintenance)."""
    valid = [m for m in minutes if m is not None]
    good = sum(1 for m in valid if m)
    ratio = good / len(valid) if valid else 1.0
    allowed = (100 - objective) / 100
    window = len(minutes)
    total_budget = allowed * window
    spent = (1 - ratio) * window
    return {"sli": ratio, "total": total_budget, "spent": spent, "remaining": total_budget - spent,
            "burn": (1 - ratio) / allowed}


def rollup(minutes: list[bool | None], size: int) -> list[slo.Counts]:
    chunks = [minutes[i:i + size] for i in range(0, len(minutes), size)]
    return [slo.Counts(sum(1 for m in chunk if m), sum(1 for m in chunk if m is not None)) for chunk in chunks]


HISTORY = st.lists(st.sampled_from([True] * 30 + [False, None]), min_size=60, max_size=3000)


@settings(max_examples=200, deadline=None)
@given(history=HISTORY, objective=OBJECTIVES, size=st.sampled_from([60, 1440]))
def test_budget_from_rollups_equals_the_reference(history, objective, size):
    expected = reference(history, objective)
    counts = slo.total(rollup(history, size))
    result = slo.budget(counts, objective=objective, window_minutes=len(history))
    assert result.sli == pytest.approx(expected["sli"], abs=1e-9)
    assert result.total_minutes == pytest.approx(expected["total"], abs=1e-9)
    assert result.spent_minutes == pytest.approx(expected["spent"], abs=1e-9)
    assert result.remaining_minutes == pytest.approx(expected["remaining"], abs=1e-9)
    assert slo.burn_rate(counts, objective=objective) == pytest.approx(expected["burn"], abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(history=HISTORY, objective=OBJECTIVES, recent=st.integers(min_value=5, max_value=60))
def test_time_to_exhaustion_matches_spending_the_rest_at_the_recent_burn(history, objective, recent):
    expected = reference(history, objective)
    counts = slo.total(rollup(history, 60))
    result = slo.budget(counts, objective=objective, window_minutes=len(history))
    burn = slo.burn_rate(slo.total(rollup(history[-recent:], 60)), objective=objective)
    minutes = slo.minutes_to_exhaustion(result, burn)
    if expected["remaining"] <= 0:
        assert minutes == 0.0
    elif burn == 0:
        assert minutes is None
    else:
        # Spending `minutes` of real time at `burn` uses exactly the remaining budget.
        allowed = (100 - objective) / 100
        assert minutes * burn * allowed == pytest.approx(expected["remaining"], rel=1e-9)


def test_the_textbook_budgets():
    month = 30 * 24 * 60
    assert slo.budget_minutes(99.95, month) == pytest.approx(21.6)
    assert slo.budget_minutes(99.9, month) == pytest.approx(43.2)
    with pytest.raises(ValueError, match="between 0 and 100"):
        slo.budget_minutes(100, month)


def test_one_blip_in_an_hour_does_not_page_but_a_fast_burn_does():
    blip = {60: slo.Counts(59, 60), 5: slo.Counts(4, 5), 360: slo.Counts(359, 360), 30: slo.Counts(29, 30)}
    assert slo.burn_rate(blip[60], objective=99.9) > 14.4  # the raw maths would page ...
    assert slo.firing_burn_rules(blip, objective=99.9) == []  # ... the guard (3 failed checks at least) does not
    fast = {60: slo.Counts(1800, 2000), 5: slo.Counts(150, 170), 360: slo.Counts(11800, 12000), 30: slo.Counts(900, 1000)}
    rules = slo.firing_burn_rules(fast, objective=99.9)
    assert [r.severity for r in rules] == ["critical", "critical"] and rules[0].name == "burn > 14.4x over 1h and 5m"
    slow = {4320: slo.Counts(99_800, 99_900), 360: slo.Counts(11_986, 12_000), 60: slo.Counts(1999, 2000), 5: slo.Counts(170, 170)}
    assert [r.name for r in slo.firing_burn_rules(slow, objective=99.9)] == ["burn > 1x over 3d and 6h"]


def test_calendar_months_follow_the_time_zone_and_dst():
    berlin = ZoneInfo("Europe/Berlin")
    start, end = slo.calendar_month(datetime(2026, 3, 15, 12, tzinfo=UTC), berlin)
    assert (start.isoformat(), end.isoformat()) == ("2026-03-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00")
    assert slo.minutes_between(start, end) == 31 * 24 * 60 - 60  # the spring-forward hour
    # 23:30 UTC on Jan 31 is already February in Berlin.
    start, _end = slo.calendar_month(datetime(2026, 1, 31, 23, 30, tzinfo=UTC), berlin)
    assert start.month == 2
    assert slo.month_of(2026, 12, berlin)[1] == datetime(2027, 1, 1, tzinfo=berlin)
    assert slo.rolling_window(datetime(2026, 3, 15, tzinfo=UTC), 28)[0] == datetime(2026, 2, 15, tzinfo=UTC)
    assert slo.minutes_between(*slo.rolling_window(datetime(2026, 3, 15, tzinfo=UTC), 30)) == 30 * 24 * 60


def test_status_reads_the_budget():
    healthy = slo.budget(slo.Counts(100_000, 100_000), objective=99.9, window_minutes=43_200)
    assert slo.status(healthy, exhaustion_minutes=None, minutes_left_in_window=10_000) == "healthy"
    burning = slo.budget(slo.Counts(99_950, 100_000), objective=99.9, window_minutes=43_200)
    assert slo.status(burning, exhaustion_minutes=60, minutes_left_in_window=10_000) == "at risk"
    gone = slo.budget(slo.Counts(99_000, 100_000), objective=99.9, window_minutes=43_200)
    assert gone.remaining_minutes < 0 and slo.status(gone, exhaustion_minutes=0, minutes_left_in_window=1) == "exhausted"
