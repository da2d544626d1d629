"""Prometheus metric thresholds.

Two sources:
- exposition (default): scrape the target URL (Prometheus text format) and evaluate
  settings.expression with lib.metric_expression, a subset of PromQL with windows, e.g.
  `sum(increase(http_requests_total{status=~"5.."}[5m])) / sum(increase(http_requests_total[5m]))`
  (the subset and what is refused: lib/metric_expression.py and docs/monitors.md);
- prometheus_api: ask a Prometheus-compatible server, GET {target}/api/v1/query with
  settings.promql, and read the scalar or the single vector sample.

Thresholds: warn_above / down_above (or warn_below / down_below), judged by
monitors.checkers.thresholds; `scale` multiplies the value for display (100 for percent) and
`unit` is appended ("%", "s").

Windows (ranges such as [5m], offsets, the older `increase(x)`): each scrape is kept per
monitor and region (monitors.checkers.sample_history, in Redis) for as long as the
expression's largest range plus offset, so two regions never share or shrink each other's
window. Until the history covers the window the check is ok and says so ("collecting 3 of 10
minutes of history"); the older `increase(x)` says "collecting a baseline for increase()" on
its first scrape. An ad-hoc check (no region: the monitor form's trial run) keeps nothing and
says the expression needs the region's scrapes.

No data (an API query that matches no series, or NaN such as 0/0 with no requests, or an
infinite value such as x / 0) is what settings.no_data says, and the message says so: down, up
or unknown (the region gives no verdict and the check is not counted). Defaults: down for
prometheus_api, up for exposition. A query Prometheus refuses is down with Prometheus' own
error text, and is refused when the monitor is saved (query_problem, called by
monitors.services.monitor_upsert).

"Held for a duration" (error rate above 1% for 5 minutes) is warn_for_seconds /
down_for_seconds, applied by the engine to this check's breaches per region
(monitors.checkers.thresholds.hold), or an alert rule's `for`.
"""

from __future__ import annotations

import json
import math
from copy import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import redis

from lib import metric_expression
from monitors.checkers import http, sample_history, thresholds
from monitors.checkers.base import CheckSession, Result, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor

DEFAULT_MAX_SCRAPE = 8 * 1024 * 1024
# What "no data" (an empty answer, or NaN) makes the check, as Grafana's alert rules let you choose.
# Defaults: a Prometheus query that matches nothing usually means what it measures is gone (down);
# a scraped ratio that is 0/0 means no traffic (up).
NO_DATA_CHOICES = ("down", "up", "unknown")
NO_DATA_DEFAULTS = {"prometheus_api": "down", "exposition": "up"}
# Prometheus answers a bad query with 400 (bad_data), an unexecutable one with 422 or 503, all as JSON with its error text.
API_ERROR_STATUSES = (400, 422, 503)
# Checking a query when a monitor is saved waits at most this long (the save is someone waiting).
VALIDATION_TIMEOUT = 5.0


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
    if settings.get("no_data") is not None and settings["no_data"] not in NO_DATA_CHOICES:
        return {"settings": f"no_data must be down, up or unknown (got {settings['no_data']!r}); left out it is "
                            f"{NO_DATA_DEFAULTS[str(source)]} for source {source}"}
    problem = thresholds.validate(settings, required=True)
    if problem:
        return {"settings": problem}
    return {}


def _fetch_text(monitor: Monitor, session: CheckSession, url: str, *, api: bool = False) -> tuple[Result | None, str, int]:
    probe = copy(monitor)
    probe.target = url
    probe.settings = {**(monitor.settings or {}), "max_body_bytes": int((monitor.settings or {}).get("max_body_bytes", DEFAULT_MAX_SCRAPE))}
    failure, response, body, truncated, elapsed = http.fetch(probe, session, needs_body=True)
    if failure is not None:
        return failure, "", elapsed
    assert response is not None
    if api and response.status_code in API_ERROR_STATUSES:
        error = _api_error(body.decode("utf-8", errors="replace"))
        if error:
            return down(f"Prometheus refused the query: {error}", latency_ms=elapsed, status_code=response.status_code), "", elapsed
    if response.status_code != 200:
        return down(f"HTTP {response.status_code} from {url.split('?')[0]}", latency_ms=elapsed, status_code=response.status_code), "", elapsed
    if truncated:
        return down(f"the scrape is larger than {len(body)} bytes; raise max_body_bytes", latency_ms=elapsed), "", elapsed
    return None, body.decode("utf-8", errors="replace"), elapsed


def _value_from_exposition(monitor: Monitor, text: str, session: CheckSession, now: datetime) -> tuple[float | None, str]:
    """The expression's value, or (None, why) while its window is still being collected."""
    settings = monitor.settings or {}
    node = metric_expression.parse(str(settings["expression"]))
    samples = metric_expression.parse_exposition(text)
    at = int(now.timestamp() * 1000)
    window = metric_expression.history_window_ms(node)
    previous = metric_expression.needs_previous(node)
    if not window and not previous:
        return metric_expression.evaluate_at(node, [metric_expression.Scrape(at, samples)], at), ""
    interval = max(1, int(monitor.interval_seconds or 60)) * 1000
    keep = max(metric_expression.history_keep_ms(node), 3 * interval if previous else 0) + 2 * interval
    scrape = metric_expression.Scrape(at, sample_history.relevant(node, samples, scrapes=keep // interval + 1))
    if session.region is None:
        needs = f"{_minutes(window)} minutes of scrapes" if window else "the previous scrape"
        return None, f"the scrape works; the expression needs {needs}, which only the checks from a region keep (a trial run keeps none)"
    history = sample_history.record(monitor, session.region, node, scrape, keep)
    if previous and len(history) < 2:
        return None, "collecting a baseline for increase()"
    oldest = history[0].at
    # Scrape times jitter: a history a tenth of an interval short of the window is covered (Prometheus
    # extrapolates to the window's edge across that gap too).
    covered = at - oldest >= window - interval // 10
    if not covered and len(history) >= sample_history.MAX_SCRAPES:
        raise sample_history.HistoryTooLarge(f"the window needs more than the {sample_history.MAX_SCRAPES} scrapes Vigil keeps "
                                             "at this interval: shorten the range or lengthen the interval")
    if not covered:
        return None, f"collecting {_minutes(at - oldest, down=True)} of {_minutes(window)} minutes of history for the expression's window"
    return metric_expression.evaluate_at(node, history, at), ""


def _minutes(ms: int, *, down: bool = False) -> str:
    minutes = ms / 60_000
    if float(minutes).is_integer():
        return str(int(minutes))
    return str(math.floor(minutes)) if down and minutes >= 1 else f"{minutes:.1f}"


def _api_error(text: str) -> str:
    """Prometheus' own words for a failed query ("bad_data: 1:5: parse error: ..."), or "" when the body is not its error document."""
    try:
        document = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(document, dict) or document.get("status") != "error":
        return ""
    kind, error = str(document.get("errorType") or "").strip(), str(document.get("error") or "unknown error").strip()
    return f"{kind}: {error}"[:250] if kind else error[:250]


def _value_from_api(text: str) -> float | None:
    """The query's one value; None when it matched no series (no data)."""
    try:
        document = json.loads(text)
        if document.get("status") != "success":
            raise metric_expression.ExpressionError(f"Prometheus refused the query: {_api_error(text) or 'unknown error'}")
        data = document["data"]
        if data["resultType"] == "scalar":
            return float(data["result"][1])
        results = data["result"]
        if not results:
            return None
        if len(results) != 1:
            raise metric_expression.ExpressionError(f"the query returned {len(results)} series; aggregate it to one (sum, max ...)")
        return float(results[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        if isinstance(exc, metric_expression.ExpressionError):
            raise
        raise metric_expression.ExpressionError(f"the answer is not a Prometheus query result ({type(exc).__name__})") from None


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    settings = monitor.settings or {}
    api = settings.get("source") == "prometheus_api"
    url = monitor.target
    if api:
        url = f"{monitor.target.rstrip('/')}/api/v1/query?{urlencode({'query': settings.get('promql', '')})}"
    failure, text, elapsed = _fetch_text(monitor, session, url, api=api)
    if failure is not None:
        return failure
    try:
        if api:
            value: float | None = _value_from_api(text)
            note = "" if value is not None else "the query matched no series"
        else:
            value, note = _value_from_exposition(monitor, text, session, now)
            if value is None:
                return ok(note, latency_ms=elapsed)  # a window still filling, not missing data
    except (metric_expression.ExpressionError, sample_history.HistoryTooLarge) as exc:
        return down(str(exc), latency_ms=elapsed)
    except redis.RedisError as exc:
        # Vigil's own Redis, not the target, failed: this region gives no verdict rather than a false down.
        result = ok(f"the metric window could not be read from Redis ({type(exc).__name__}); no verdict", latency_ms=elapsed)
        result.details["no_data"] = "unknown"
        return result
    if value is None or math.isnan(value):
        return no_data(settings, note or "the value is NaN (e.g. 0/0: no requests)", latency_ms=elapsed)
    if math.isinf(value):
        return no_data(settings, "the value is infinite (a division by zero, e.g. no errors in the earlier window)", latency_ms=elapsed)
    return thresholds.judged(value, settings, latency_ms=elapsed)


def no_data(settings: dict[str, Any], why: str, *, latency_ms: int | None = None) -> Result:
    """The monitor's choice for no data (settings.no_data: down, up or unknown), saying so."""
    source = str(settings.get("source", "exposition"))
    choice = str(settings.get("no_data") or NO_DATA_DEFAULTS.get(source, "down"))
    label = str(settings.get("label", "value"))
    message = f"{label}: no data ({why}); no_data: {choice}"
    if choice == "down":
        return down(message, latency_ms=latency_ms)
    result = ok(message, latency_ms=latency_ms)
    if choice == "unknown":
        result.details["no_data"] = "unknown"  # recorded as no verdict: the region's state becomes unknown (services._apply)
    return result


def query_problem(monitor: Monitor, session: CheckSession | None = None) -> str | None:
    """Prometheus' own error text when it refuses the monitor's query, asked at save time; None
    when it accepts it, or when it cannot be asked now (the checks will say why)."""
    settings = monitor.settings or {}
    if settings.get("source") != "prometheus_api" or not str(settings.get("promql", "")).strip():
        return None
    probe = copy(monitor)
    probe.timeout_seconds = min(float(monitor.timeout_seconds or VALIDATION_TIMEOUT), VALIDATION_TIMEOUT)
    url = f"{monitor.target.rstrip('/')}/api/v1/query?{urlencode({'query': settings['promql']})}"
    failure, _text, _elapsed = _fetch_text(probe, session or CheckSession(), url, api=True)
    if failure is not None and failure.message.startswith("Prometheus refused the query: "):
        return failure.message.removeprefix("Prometheus refused the query: ")
    return None
