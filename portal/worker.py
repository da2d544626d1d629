"""Worker heartbeat: each worker writes a short-lived key that /health counts."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from celery import bootsteps

from core.redis_client import WORKER_KEY_PREFIX, eviction_problem, get_redis

log = logging.getLogger("vigil.worker")
HEARTBEAT_SECONDS = 10
HEARTBEAT_TTL = 30


class WorkerHeartbeat(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        self.timer_ref: Any = None

    def _key(self, worker: Any) -> str:
        return f"{WORKER_KEY_PREFIX}{worker.hostname}"

    def beat(self, worker: Any) -> None:
        try:
            payload = {"pid": os.getpid(), "queues": sorted(q.name for q in worker.app.amqp.queues.consume_from.values())}
            get_redis().set(self._key(worker), json.dumps(payload), ex=HEARTBEAT_TTL)
        except Exception as exc:  # noqa: BLE001 - Redis down; the next beat retries
            log.warning("worker heartbeat failed: %s", exc)

    def start(self, worker: Any) -> None:
        try:
            problem = eviction_problem()
        except Exception:  # noqa: BLE001 - Redis down: the heartbeat says so
            problem = None
        if problem:
            log.error("WARNING: %s", problem)
        self.beat(worker)
        self.timer_ref = worker.timer.call_repeatedly(HEARTBEAT_SECONDS, self.beat, (worker,), priority=10)

    def stop(self, worker: Any) -> None:
        if self.timer_ref is not None:
            self.timer_ref.cancel()
        try:
            get_redis().delete(self._key(worker))
        except Exception:  # noqa: BLE001
            pass
