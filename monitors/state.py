"""The monitor state machine, pure: no database, no clock.

A region's verdict moves on confirmed evidence only: `retries + 1` failures in a
row make it down (or degraded), and `recovery_confirmations` successes in a row
bring it back. The monitor's state combines its regions' verdicts with a quorum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

OK, DEGRADED, DOWN = "ok", "degraded", "down"
UNKNOWN, UP = "unknown", "up"


@dataclass(frozen=True)
class Policy:
    retries: int = 2
    recovery_confirmations: int = 2
    quorum: int = 0  # 0: a majority of the monitor's regions

    @property
    def failure_threshold(self) -> int:
        return self.retries + 1


@dataclass(frozen=True)
class RegionCounters:
    verdict: str = UNKNOWN
    down_streak: int = 0  # results that were down, in a row
    bad_streak: int = 0  # results that were degraded or down, in a row
    ok_streak: int = 0  # results that were ok, in a row
    not_down_streak: int = 0  # results that were ok or degraded, in a row


def apply_result(counters: RegionCounters, outcome: str, policy: Policy) -> RegionCounters:
    """Fold one result of one region into its counters and verdict."""
    if outcome == OK:
        counters = replace(counters, down_streak=0, bad_streak=0, ok_streak=counters.ok_streak + 1,
                           not_down_streak=counters.not_down_streak + 1)
    elif outcome == DEGRADED:
        counters = replace(counters, down_streak=0, bad_streak=counters.bad_streak + 1, ok_streak=0,
                           not_down_streak=counters.not_down_streak + 1)
    elif outcome == DOWN:
        counters = replace(counters, down_streak=counters.down_streak + 1, bad_streak=counters.bad_streak + 1,
                           ok_streak=0, not_down_streak=0)
    else:
        raise ValueError(f"outcome must be ok, degraded or down, not {outcome!r}")
    return replace(counters, verdict=_verdict(counters, outcome, policy))


def _verdict(counters: RegionCounters, outcome: str, policy: Policy) -> str:
    previous = counters.verdict
    if counters.down_streak >= policy.failure_threshold:
        return DOWN
    if previous == DOWN and counters.not_down_streak < policy.recovery_confirmations:
        return DOWN
    if counters.bad_streak >= policy.failure_threshold:
        return DEGRADED
    if previous in (DOWN, DEGRADED):
        return UP if counters.ok_streak >= policy.recovery_confirmations else DEGRADED
    if outcome == OK:
        return UP
    return previous  # a failure not yet confirmed changes nothing


def combine(verdicts: Mapping[str, str], policy: Policy) -> tuple[str, str]:
    """The monitor's state from its regions' verdicts, with a one-line reason."""
    if not verdicts:
        return UNKNOWN, "no region has reported"
    total = len(verdicts)
    needed = min(policy.quorum or total // 2 + 1, total)
    down = sorted(name for name, verdict in verdicts.items() if verdict == DOWN)
    degraded = sorted(name for name, verdict in verdicts.items() if verdict == DEGRADED)
    if len(down) >= needed:
        return DOWN, f"down in {', '.join(down)} ({len(down)} of {total} regions, quorum {needed})"
    if down:
        return DEGRADED, f"down in {', '.join(down)} only ({len(down)} of {total} regions, quorum {needed})"
    if degraded:
        return DEGRADED, f"degraded in {', '.join(degraded)}"
    if all(verdict == UNKNOWN for verdict in verdicts.values()):
        return UNKNOWN, "waiting for the first confirmed result"
    return UP, "all regions up"
