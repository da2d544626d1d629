"""The metric kind: expressions over a real served exposition, the ops guides' four rules,
and the Prometheus HTTP API mode."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from lib import metric_expression as mx
from monitors.checkers import metric
from monitors.checkers.base import CheckSession
from monitors.models import Monitor
from tests.servers import HTTPServer, respond

NOW = datetime(2026, 11, 20, tzinfo=UTC)

EXPOSITION = """
# TYPE http_requests_total counter
http_requests_total{{status="200",path="/a"}} {ok}
http_requests_total{{status="500",path="/a"}} {errors}
http_requests_total{{status="503",path="/b"}} 0
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{{le="0.5"}} {fast}
http_request_duration_seconds_bucket{{le="1.0"}} {medium}
http_request_duration_seconds_bucket{{le="4.0"}} {slowish}
http_request_duration_seconds_bucket{{le="8.0"}} {slower}
http_request_duration_seconds_bucket{{le="+Inf"}} 100
http_request_duration_seconds_count 100
http_request_duration_seconds_sum 55
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes {rss}
# TYPE machine_memory_bytes gauge
machine_memory_bytes 1000
# TYPE db_pool_in_use gauge
db_pool_in_use{{pool="default"}} {pool}
db_pool_in_use{{pool="replica"}} 2
"""

DEFAULTS = {"ok": 1000, "errors": 0, "fast": 50, "medium": 90, "slowish": 100, "slower": 100, "rss": 500, "pool": 4}


class MetricsTarget:
    def __init__(self) -> None:
        self.values = dict(DEFAULTS)
        self.server = HTTPServer({
            "/metrics": lambda h: respond(h, 200, EXPOSITION.format(**self.values).encode(), {"Content-Type": "text/plain"}),
            "/api/v1/query": self.api,
        })
        self.url = self.server.url
        self.api_value = "0.02"

    def api(self, handler) -> None:
        assert "query=" in handler.path
        if self.api_value == "error":  # what Prometheus answers a query it cannot parse
            body = {"status": "error", "errorType": "bad_data", "error": 'invalid parameter "query": 1:5: parse error: unexpected "("'}
            respond(handler, 400, json.dumps(body).encode())
            return
        result = [] if self.api_value == "empty" else [{"metric": {}, "value": [1.7e9, self.api_value]}]
        respond(handler, 200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode())


@pytest.fixture
def target():
    instance = MetricsTarget()
    yield instance
    instance.server.close()


def run(target, pk: int = 1, now: datetime = NOW, **settings):
    monitor = Monitor(pk=pk, name="m", kind="metric", target=f"{target.url}/metrics", timeout_seconds=3, interval_seconds=60, settings=settings)
    return metric.check(monitor, CheckSession(region="default"), now)


def samples(**values) -> mx.Samples:
    return mx.parse_exposition(EXPOSITION.format(**{**DEFAULTS, **values}))


# --- the expression language, pure -----------------------------------------------------------

def test_selectors_with_label_matchers():
    data = samples(errors=7)
    assert mx.evaluate(mx.parse('http_requests_total{status="500"}'), data) == 7
    assert mx.evaluate(mx.parse('sum(http_requests_total{status=~"5.."})'), data) == 7
    assert mx.evaluate(mx.parse('sum(http_requests_total{status!~"5.."})'), data) == 1000
    assert mx.evaluate(mx.parse('count(http_requests_total{path!="/b"})'), data) == 2
    assert mx.evaluate(mx.parse("(1 + 2) * 3 - 4 / 2"), data) == 7


def test_histogram_quantile_interpolates_like_prometheus():
    data = samples(fast=50, medium=90, slowish=100)
    # rank 95 of 100 lies in (1.0, 4.0] holding 90..100: 1 + 3 * (95-90)/(100-90) = 2.5
    assert mx.evaluate(mx.parse("histogram_quantile(0.95, http_request_duration_seconds_bucket)"), data) == pytest.approx(2.5)
    assert mx.evaluate(mx.parse("histogram_quantile(0.5, http_request_duration_seconds_bucket)"), data) == pytest.approx(0.5)


def test_increase_handles_counter_resets():
    before, after = samples(ok=1000, errors=10), samples(ok=1100, errors=5)  # errors restarted from 0
    assert mx.evaluate(mx.parse('sum(increase(http_requests_total{status="500"}))'), after, before) == 5
    assert mx.evaluate(mx.parse('sum(increase(http_requests_total{status="200"}))'), after, before) == 100


@pytest.mark.parametrize(("text", "message"), [
    ("rate(http_requests_total)", "rate takes a range selector, e.g. rate"),
    ("irate(http_requests_total[5m])", "the function 'irate' is not supported; Vigil evaluates rate, increase"),
    ('http_requests_total{status=500}', "label matchers look like"),
    ("histogram_quantile(2, x_bucket)", "between 0 and 1"),
    ("sum(http_requests_total", "ends too early"),
    ("", "the expression is empty"),
])
def test_bad_expressions_say_what_to_fix(text, message):
    with pytest.raises(mx.ExpressionError, match=message):
        mx.parse(text)


def test_several_series_must_be_aggregated():
    with pytest.raises(mx.ExpressionError, match="matched 3 series; wrap it in sum"):
        mx.evaluate(mx.parse("http_requests_total"), samples())
    with pytest.raises(mx.ExpressionError, match="matched no series"):
        mx.evaluate(mx.parse("no_such_metric"), samples())
    assert math.isnan(mx.evaluate(mx.parse("0 / 0"), samples()))
    assert mx.evaluate(mx.parse("1 / 0"), samples()) == math.inf  # IEEE, as in Prometheus


# --- the four rules from the ops guides, against a served exposition --------------------------

ERROR_RATE = 'sum(increase(http_requests_total{status=~"5.."})) / sum(increase(http_requests_total))'


def test_error_rate_rule(target):
    rule = {"expression": ERROR_RATE, "warn_above": 0.01, "down_above": 0.05, "scale": 100, "unit": "%", "label": "error rate"}
    assert run(target, **rule).message == "collecting a baseline for increase()"
    target.values.update(ok=1990, errors=10)  # +990 ok, +10 errors: 1%
    assert run(target, now=NOW + timedelta(minutes=1), **rule).outcome == "ok"
    target.values.update(ok=2960, errors=40)  # +970, +30: 3%
    result = run(target, now=NOW + timedelta(minutes=2), **rule)
    assert (result.outcome, result.message) == ("degraded", "error rate 3% > 1%")
    target.values.update(ok=3900, errors=100)  # +940, +60: 6%
    result = run(target, now=NOW + timedelta(minutes=3), **rule)
    assert (result.outcome, result.message) == ("down", "error rate 6% > 5%")


@pytest.mark.parametrize(("values", "outcome"), [
    ({"fast": 80, "medium": 99, "slowish": 100}, "ok"),        # p95 ~ 0.97 s
    ({"fast": 50, "medium": 90, "slowish": 100}, "degraded"),  # p95 = 2.5 s
    ({"fast": 10, "medium": 20, "slowish": 30}, "down"),       # p95 = 4 + 4 * 65/70 ~ 7.7 s
])
def test_p95_latency_rule(target, values, outcome):
    target.values.update(values)
    assert run(target, expression="histogram_quantile(0.95, http_request_duration_seconds_bucket)",
               warn_above=1.0, down_above=4.0, unit="s").outcome == outcome


@pytest.mark.parametrize(("rss", "outcome"), [(700, "ok"), (850, "degraded"), (960, "down")])
def test_memory_rule(target, rss, outcome):
    target.values["rss"] = rss
    assert run(target, expression="process_resident_memory_bytes / machine_memory_bytes", warn_above=0.8, down_above=0.95).outcome == outcome


@pytest.mark.parametrize(("pool", "outcome"), [(10, "ok"), (18, "degraded"), (21, "down")])
def test_db_pool_rule(target, pool, outcome):
    target.values["pool"] = pool
    assert run(target, expression='db_pool_in_use{pool="default"}', warn_above=16, down_above=20).outcome == outcome


def test_prometheus_api_mode(target):
    monitor = Monitor(pk=9, name="m", kind="metric", target=target.url, timeout_seconds=3,
                      settings={"source": "prometheus_api", "promql": "sum(rate(errors[5m]))", "warn_above": 0.01, "down_above": 0.05})
    assert metric.check(monitor, CheckSession(), NOW).outcome == "degraded"
    target.api_value = "0.001"
    assert metric.check(monitor, CheckSession(), NOW).outcome == "ok"


def test_an_unreachable_scrape_is_down(free_port):
    monitor = Monitor(pk=3, name="m", kind="metric", target=f"http://127.0.0.1:{free_port}/metrics", timeout_seconds=2,
                      settings={"expression": "up", "down_below": 1})
    result = metric.check(monitor, CheckSession(), NOW)
    assert result.outcome == "down" and "refused" in result.message


def test_metric_settings_are_validated():
    assert "expression:" in metric.validate("http://x/metrics", {"expression": "rate(x)", "warn_above": 1})["settings"]
    assert "at least one threshold" in metric.validate("http://x/metrics", {"expression": "up"})["settings"]
    assert "warn_above (5) must be below down_above (1)" in metric.validate("http://x/metrics", {"expression": "up", "warn_above": 5, "down_above": 1})["settings"]


def api_monitor(target, **settings) -> Monitor:
    return Monitor(pk=9, name="m", kind="metric", target=target.url, timeout_seconds=3,
                   settings={"source": "prometheus_api", "promql": "sum(rate(errors[5m]))", "down_above": 0.05, **settings})


def test_prometheus_error_text_is_the_result(target):
    target.api_value = "error"
    result = metric.check(api_monitor(target), CheckSession(), NOW)
    assert result.outcome == "down" and result.status_code == 400
    assert result.message == 'Prometheus refused the query: bad_data: invalid parameter "query": 1:5: parse error: unexpected "("'
    assert metric.query_problem(api_monitor(target)) == 'bad_data: invalid parameter "query": 1:5: parse error: unexpected "("'
    target.api_value = "0.01"
    assert metric.query_problem(api_monitor(target)) is None


@pytest.mark.parametrize(("choice", "outcome"), [(None, "down"), ("down", "down"), ("up", "ok"), ("unknown", "ok")])
def test_no_data_is_the_monitors_choice_and_says_so(target, choice, outcome):
    target.api_value = "empty"
    result = metric.check(api_monitor(target, **({"no_data": choice} if choice else {})), CheckSession(), NOW)
    assert result.outcome == outcome
    assert result.message == f"value: no data (the query matched no series); no_data: {choice or 'down'}"
    assert (result.details.get("no_data") == "unknown") == (choice == "unknown")


def test_no_data_must_be_one_of_the_choices():
    problem = metric.validate("http://prom:9090", {"source": "prometheus_api", "promql": "up", "down_below": 1, "no_data": "maybe"})
    assert problem == {"settings": "no_data must be down, up or unknown (got 'maybe'); left out it is down for source prometheus_api"}
