"""A Celery process (worker or beat) for bench/scale.py with the network layer stubbed.

`python -m bench.scale_process <celery arguments>` runs `celery <celery arguments>` after two
changes made in this process only, never in Vigil's code paths:

- the "http" entry of the checker registry answers at once without a socket (StubHTTP): ok
  with 1 ms and status 200, except one monitor in FLAP_EVERY, which is down during every
  other FLAP_SECONDS period, so state changes, events and their reactions keep happening;
- with BENCH_LAG_FILE set (beat), every claim of the real dispatcher appends the lag of each
  claimed slot (wall clock at the claim minus the slot) to that file. Measuring, not
  changing: the same claim_due runs and its answer is returned untouched.

Everything else is the real system: beat's VigilScheduler tick calling
monitors.services.dispatch_due, Celery over Redis, monitors.tasks.check_batch, record_results,
events and their consumers, the periodic tasks, PostgreSQL.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import Any

FLAP_EVERY = 100
FLAP_SECONDS = 120


class StubHTTP:
    """The checker interface (monitors.checkers.base.Checker) with an instant answer."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def check(self, monitor: Any, session: Any, now: datetime) -> Any:
        from monitors.checkers.base import down, ok

        if monitor.pk % FLAP_EVERY == 0 and int(now.timestamp()) // FLAP_SECONDS % 2:
            return down("HTTP 503 Service Unavailable (stub network)", latency_ms=1, status_code=503)
        return ok("HTTP 200 (stub network)", latency_ms=1, status_code=200)

    async def check_async(self, monitor: Any, session: Any, now: datetime) -> Any:
        """The worker runs a batch's HTTP checks on its session's loop (monitors.checkers.ASYNC_KINDS, decided
        from the real checker at import): without this every stubbed check raised AttributeError, was
        logged with its traceback and stored as down."""
        return self.check(monitor, session, now)

    def validate(self, target: str, settings: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = self.real.validate(target, settings)
        return errors


def install() -> None:
    from monitors import checkers, services

    checkers.REGISTRY["http"] = StubHTTP(checkers.REGISTRY["http"])  # type: ignore[assignment]
    lag_file = os.environ.get("BENCH_LAG_FILE")
    if not lag_file:
        return
    original = services.claim_due

    def measured_claim(*, now: datetime, limit: int = services.CLAIM_LIMIT) -> list[tuple[int, datetime, list[str]]]:
        claimed = original(now=now, limit=limit)
        wall = datetime.now(UTC)
        if claimed:
            with open(lag_file, "a") as out:
                out.write("".join(f"{wall.timestamp():.3f} {(wall - slot).total_seconds():.4f}\n" for _, slot, _ in claimed))
        return claimed

    services.claim_due = measured_claim  # type: ignore[assignment]


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    install()
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *sys.argv[1:]]
    celery_main()


if __name__ == "__main__":
    main()
