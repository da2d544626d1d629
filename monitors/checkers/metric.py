"""Prometheus metric thresholds.

Two sources:
- exposition (default): scrape the target URL (Prometheus text format) and evaluate
  settings.expression with lib.metric_expression, e.g.
  `sum(increase(http_requests_total{status=~"5.."})) / sum(increase(http_requests_total))`;
- prometheus_api: ask a Prometheus-compatible server, GET {target}/api/v1/query with
  settings.promql, and read the scalar or the single vector sample.

Thresholds: warn_above / down_above (or warn_below / down_below); `scale` multiplies the
value for display (100 for percent) and `unit` is appended ("%", "s"). increase() compares
with the previous scrape, kept in the cache for three intervals; the first scrape only
records a baseline (ok, "collecting a baseline"). NaN (e.g. 0/0: no requests) is "no data",
which is ok.

"Held for a duration" (error rate above 5% for 5 minutes) comes from the engine's
confirmations (retries at the retry interval) and from alert rules, not from this check.
"""

from __future__ import annotations

import json
import math
from copy import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core.cache import cache

from lib import metric_expression
from monitors.checkers import http
from monitors.checkers.base import CheckSession, Result, degraded, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor

DEFAULT_MAX_SCRAPE = 8 * 1024 * 1024
THRESHOLDS = ("warn_above", "down_above", "warn_below", "down_below")


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    if not target.startswith(("http://", "https://")):
        return {"target": f"{target!r} is not an http:// or https:// URL"}
    source = settings.get("source", "exposition")
    if source not in ("exposition", "prometheus_api"):
        return {"settings": "source must be exposition or prometheus_api"}
    if source == "exposition":
        try:
            metric_expression.parse(str(settings.get("expression", "")))
        except metric_expression.ExpressionError as exc:
            return {"settings": f"expression: {exc}"}
    elif not str(settings.get("promql", "")).strip():
        return {"settings": "promql: write the query to send, e.g. sum(rate(http_requests_total[5m]))"}
    for name in (*THRESHOLDS, "scale"):
        value = settings.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return {"settings": f"{name} must be a number, got {value!r}"}
    if not any(settings.get(name) is not None for name in THRESHOLDS):
        return {"settings": "set at least one threshold: warn_above, down_above, warn_below or down_below"}
    for warn, crit, above in (("warn_above", "down_above", True), ("warn_below", "down_below", False)):
        if settings.get(warn) is not None and settings.get(crit) is not None:
            if (settings[warn] >= settings[crit]) if above else (settings[warn] <= settings[crit]):
                relation = "below" if above else "above"
                return {"settings": f"{warn} ({settings[warn]}) must be {relation} {crit} ({settings[crit]})"}
    return {}


def _fetch_text(monitor: Monitor, session: CheckSession, url: str) -> tuple[Result | None, str, int]:
    probe = copy(monitor)
    probe.target = url
    probe.settings = {**(monitor.settings or {}), "max_body_bytes": int((monitor.settings or {}).get("max_body_bytes", DEFAULT_MAX_SCRAPE))}
    failure, response, body, truncated, elapsed = http.fetch(probe, session, needs_body=True)
    if failure is not None:
        return failure, "", elapsed
    assert response is not None
    if response.status_code != 200:
        return down(f"HTTP {response.status_code} from {url.split('?')[0]}", latency_ms=elapsed, status_code=response.status_code), "", elapsed
    if truncated:
        return down(f"the scrape is larger than {len(body)} bytes; raise max_body_bytes", latency_ms=elapsed), "", elapsed
    return None, body.decode("utf-8", errors="replace"), elapsed


def _value_from_exposition(monitor: Monitor, text: str) -> tuple[float | None, str]:
    settings = monitor.settings or {}
    node = metric_expression.parse(str(settings["expression"]))
    samples = metric_expression.parse_exposition(text)
    previous = None
    if metric_expression.needs_previous(node):
        key = f"metric-previous:{monitor.pk}"
        previous = cache.get(key)
        cache.set(key, samples, timeout=max(60, monitor.interval_seconds * 3))
        if previous is None:
            return None, "collecting a baseline for increase()"
    return metric_expression.evaluate(node, samples, previous), ""


def _value_from_api(text: str) -> float:
    try:
        document = json.loads(text)
        data = document["data"]
        if document.get("status") != "success":
            raise metric_expression.ExpressionError(f"the query failed: {document.get('error', 'unknown error')}")
        if data["resultType"] == "scalar":
            return float(data["result"][1])
        results = data["result"]
        if len(results) != 1:
            raise metric_expression.ExpressionError(f"the query returned {len(results)} series; aggregate it to one (sum, max ...)")
        return float(results[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        if isinstance(exc, metric_expression.ExpressionError):
            raise
        raise metric_expression.ExpressionError(f"the answer is not a Prometheus query result ({type(exc).__name__})") from None


def judge(value: float, settings: dict[str, Any]) -> tuple[str, str]:
    """(outcome, message) for a value against the thresholds."""
    scale = float(settings.get("scale", 1))
    unit = str(settings.get("unit", ""))
    label = str(settings.get("label", "value"))

    def show(number: float) -> str:
        return f"{number * scale:.4g}{unit}"

    if math.isnan(value):
        return "ok", f"{label}: no data"
    for name, outcome, above in (("down_above", "down", True), ("down_below", "down", False),
                                 ("warn_above", "degraded", True), ("warn_below", "degraded", False)):
        limit = settings.get(name)
        if limit is not None and ((value > limit) if above else (value < limit)):
            return outcome, f"{label} {show(value)} {'>' if above else '<'} {show(limit)}"
    return "ok", f"{label} {show(value)}"


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    settings = monitor.settings or {}
    api = settings.get("source") == "prometheus_api"
    url = monitor.target
    if api:
        url = f"{monitor.target.rstrip('/')}/api/v1/query?{urlencode({'query': settings.get('promql', '')})}"
    failure, text, elapsed = _fetch_text(monitor, session, url)
    if failure is not None:
        return failure
    try:
        if api:
            value: float | None = _value_from_api(text)
            note = ""
        else:
            value, note = _value_from_exposition(monitor, text)
    except metric_expression.ExpressionError as exc:
        return down(str(exc), latency_ms=elapsed)
    if value is None:
        return ok(note, latency_ms=elapsed)
    outcome, message = judge(value, settings)
    result = {"ok": ok, "degraded": degraded, "down": down}[outcome](message, latency_ms=elapsed)
    result.details["value"] = value
    return result
