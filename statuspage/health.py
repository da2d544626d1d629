"""Status pages in /health and /metrics: a document the last rebuild could not build.

Registered from the app's ready() (core.health and core.metrics cannot import statuspage).
The page keeps serving that document's last good copy, so this is *degraded*: visitors see
an older feed, and a person should look at the error named here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connections
from prometheus_client.core import GaugeMetricFamily

from core import health, metrics
from statuspage.snapshot import failing_documents


def check_documents() -> dict[str, Any]:
    try:
        failing = failing_documents()
    except Exception as exc:  # noqa: BLE001 - the database check reports the database
        return {"status": health.DEGRADED, "error": f"could not read the status page snapshots: {type(exc).__name__}"}
    finally:
        connections["default"].close()  # /health runs each check in a thread of its own
    if not failing:
        return {"status": health.HEALTHY}
    names = "; ".join(f"page '{slug}': {', '.join(sorted(documents))}" for slug, documents in sorted(failing.items()))
    return {
        "status": health.DEGRADED,
        "error": f"status page documents not rebuilt (their last good copy is served): {names}"[:1000],
        "failing": {slug: {name: failure.get("error", "") for name, failure in documents.items()} for slug, documents in failing.items()},
    }


def document_gauges() -> Iterator[GaugeMetricFamily]:
    gauge = GaugeMetricFamily("vigil_status_page_failed_documents",
                              "Documents of a status page its last rebuild could not build (the last good copy is served)", labels=["page"])
    for slug, documents in sorted(failing_documents().items()):
        gauge.add_metric([slug], len(documents))
    yield gauge


def register() -> None:
    health.register_check("status_pages", check_documents)
    metrics.register_gauges(document_gauges)
