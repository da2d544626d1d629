"""The PromQL subset's windows, pure: range selectors, rate/increase/delta, *_over_time, offset,
grouping and histogram_quantile, checked by hand, by properties (hypothesis), and against the
real Prometheus evaluator (`promtool test rules`) on generated series."""

from __future__ import annotations

import math
import random
import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib import metric_expression as mx

MINUTE = 60_000


def history(series: dict[str, list[float | None]], step_ms: int = MINUTE) -> list[mx.Scrape]:
    """Scrapes every step from t=0: series 'name{a="1"}' -> values (None: absent from that scrape)."""
    length = max(len(values) for values in series.values())
    scrapes = []
    for index in range(length):
        samples: mx.Samples = {}
        for text, values in series.items():
            if index < len(values) and values[index] is not None:
                name, labels = _split(text)
                samples[(name, labels)] = float(values[index])  # type: ignore[arg-type]
        scrapes.append(mx.Scrape(index * step_ms, samples))
    return scrapes


def _split(text: str) -> tuple[str, mx.Labels]:
    name, _, rest = text.partition("{")
    labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', rest)))
    return name, labels


def value(expression: str, scrapes: list[mx.Scrape], at: int | None = None) -> float:
    return mx.evaluate_at(mx.parse(expression), scrapes, scrapes[-1].at if at is None else at)


# --- by hand ---------------------------------------------------------------------------------

def test_increase_over_a_window_covering_its_samples_is_their_difference():
    scrapes = history({"c": [100, 110, 130, 160, 200, 250, 260]})
    assert value("increase(c[5m])", scrapes) == 150  # 260 - 110, samples at both ends of [1m, 6m]
    assert value("rate(c[5m])", scrapes) == pytest.approx(150 / 300)
    assert value("increase(c[5m] offset 1m)", scrapes) == 150  # [0m, 5m]: 250 - 100


def test_increase_extrapolates_to_the_window_edges_as_prometheus_does():
    # samples at 2m..6m in a [1m, 6m] window: 1 minute short of the start, within 110% of the spacing
    scrapes = history({"c": [None, None, 1000, 1010, 1020, 1030, 1040]})
    assert value("increase(c[5m])", scrapes) == pytest.approx(40 * 300 / 240)
    # a series that starts in the window is extrapolated by half a spacing only: 2 samples, 1m apart, [0m, 6m]
    scrapes = history({"c": [None, None, None, None, None, 1000, 1010]})
    assert value("increase(c[6m])", scrapes) == pytest.approx(10 * 90 / 60)


def test_a_counter_reset_adds_the_value_before_it():
    scrapes = history({"c": [10, 20, 30, 5, 15, 25]})
    assert value("increase(c[5m])", scrapes) == 45  # +10 +10 +5 (restart from 0) +10 +10


def test_a_counter_is_not_extrapolated_below_zero():
    # 3 -> 13 over 1m, the window reaches 4m further back: the zero point is 18 s before the first sample
    scrapes = history({"c": [None, None, None, None, 3, 13]})
    assert value("increase(c[5m])", scrapes) == pytest.approx(10 * (60 + 18 + 0) / 60)
    # delta (a gauge) has no such floor and extrapolates half a spacing
    assert value("delta(c[5m])", scrapes) == pytest.approx(10 * 90 / 60)


def test_over_time_functions_read_every_sample_of_the_window():
    scrapes = history({"g": [9, 1, 4, 8, 2, 6]})
    assert value("avg_over_time(g[2m])", scrapes) == pytest.approx((8 + 2 + 6) / 3)
    assert value("max_over_time(g[4m])", scrapes) == 8
    assert value("min_over_time(g[4m])", scrapes) == 1
    assert value("sum_over_time(g[5m])", scrapes) == 30
    assert value("max_over_time(g[1m] offset 3m)", scrapes) == 4  # [1m, 2m]: 1, 4


def test_offset_on_an_instant_selector_reads_the_scrape_then():
    scrapes = history({"g": [1, 2, 3, 4, 5, 6]})
    assert value("g offset 2m", scrapes) == 4
    assert value("g - g offset 5m", scrapes) == 5
    with pytest.raises(mx.ExpressionError, match="matched no series"):
        value("g offset 6m", scrapes)  # nothing that old


def test_the_spike_rule_compares_a_window_with_the_one_before():
    errors = [0, 10, 20, 30, 40, 50, 60, 80, 100, 120, 140, 160]  # 10 a minute, then 20 a minute
    scrapes = history({'errors_total{route="/a"}': errors})
    ratio = value("sum(increase(errors_total[5m])) / sum(increase(errors_total[5m] offset 5m))", scrapes)
    assert ratio == pytest.approx(100 / 50)


def test_grouping_by_and_without():
    scrapes = history({'r{route="/a",code="200"}': [0, 60], 'r{route="/a",code="500"}': [0, 6],
                       'r{route="/b",code="200"}': [0, 120]})
    by_route = mx.evaluate_series(mx.parse("sum by (route) (increase(r[1m]))"), scrapes, MINUTE)
    assert by_route == {(("route", "/a"),): 66, (("route", "/b"),): 120}
    assert value("max(sum without (code) (increase(r[1m])))", scrapes) == 120
    assert value('sum(increase(r{code="500"}[1m])) by (code)', scrapes) == 6  # the grouping after the parenthesis
    # series matched on labels: the worst route's error ratio
    ratio = 'max(sum by (route) (increase(r{code="500"}[1m])) / sum by (route) (increase(r[1m])))'
    assert value(ratio, scrapes) == pytest.approx(6 / 66)


def test_histogram_quantile_over_a_window_groups_by_the_labels_but_le():
    before = {'h_bucket{le="0.1",path="/a"}': 100, 'h_bucket{le="1",path="/a"}': 100, 'h_bucket{le="+Inf",path="/a"}': 100,
              'h_bucket{le="0.1",path="/b"}': 0, 'h_bucket{le="1",path="/b"}': 0, 'h_bucket{le="+Inf",path="/b"}': 0}
    after = {'h_bucket{le="0.1",path="/a"}': 150, 'h_bucket{le="1",path="/a"}': 200, 'h_bucket{le="+Inf",path="/a"}': 200,
             'h_bucket{le="0.1",path="/b"}': 0, 'h_bucket{le="1",path="/b"}': 10, 'h_bucket{le="+Inf",path="/b"}': 20}
    scrapes = history({name: [before[name], after[name]] for name in before})
    # the window alone: /a got 50 fast and 50 medium requests, /b 10 medium and 10 beyond 1 s
    assert value("histogram_quantile(0.5, sum by (le) (increase(h_bucket[1m])))", scrapes) == pytest.approx(0.1 + 0.9 * (60 - 50) / 60)
    per_path = mx.evaluate_series(mx.parse("histogram_quantile(0.95, increase(h_bucket[1m]))"), scrapes, MINUTE)
    assert per_path == {(("path", "/a"),): pytest.approx(0.1 + 0.9 * 45 / 50), (("path", "/b"),): 1.0}  # /b's rank is in +Inf
    # the older form sums every series by le, since the target started
    assert value("histogram_quantile(0.5, h_bucket)", scrapes) == pytest.approx(0.1 * 110 / 150)


def test_not_enough_samples_is_no_series():
    scrapes = history({"c": [None, None, 5]})
    with pytest.raises(mx.ExpressionError, match="matched no series"):
        value("increase(c[5m])", scrapes)
    assert value("sum(increase(c[5m]))", scrapes) == 0  # Vigil's older answer for an empty sum
    assert math.isnan(value("max(increase(c[5m]))", scrapes))  # and for an empty max: no data
    with pytest.raises(mx.ExpressionError, match="matched no series"):
        value("sum by (job) (increase(c[5m]))", scrapes)  # grouped, nothing is nothing, as in Prometheus


def test_the_window_the_expression_needs():
    assert mx.history_window_ms(mx.parse("sum(increase(x[5m])) / sum(increase(x[5m] offset 5m))")) == 10 * MINUTE
    assert mx.history_window_ms(mx.parse("histogram_quantile(0.95, sum by (le) (rate(b[2m])))")) == 2 * MINUTE
    assert mx.history_window_ms(mx.parse("x offset 3m")) == 3 * MINUTE
    assert mx.history_keep_ms(mx.parse("x offset 3m")) == 8 * MINUTE  # and Prometheus' 5 min lookback behind it
    assert mx.history_window_ms(mx.parse("sum(increase(x))")) == 0 and mx.needs_previous(mx.parse("sum(increase(x))"))


@pytest.mark.parametrize(("text", "message"), [
    ("irate(x[5m])", "the function 'irate' is not supported; Vigil evaluates rate, increase, delta, avg_over_time"),
    ("quantile_over_time(0.9, x[5m])", "the function 'quantile_over_time' is not supported"),
    ("rate(x[5m]) > 0.05", "comparisons (>) are the thresholds' job in Vigil"),
    ("x and y", "the set operator 'and' is not supported"),
    ("x / on(a) y", "vector matching modifiers (on) are not supported"),
    ("rate(x[5m:1m])", "subqueries (x[5m:1m]) are not supported"),
    ("x @ 1700000000", "the @ modifier is not supported"),
    ("x[5m]", "the expression is a range (x[5m]); wrap it in a function"),
    ("x[5m] * 2", "a range (x[5m]) cannot be used in arithmetic"),
    ("rate(x)", "rate takes a range selector, e.g. rate(http_requests_total[5m])"),
    ("sum(x[5m])", "sum(...) aggregates series"),
    ("histogram_quantile(0.9, b_bucket[5m])", "histogram_quantile needs the buckets as series, not a range"),
    ("increase(x offset 5m)", "write increase(x[5m] offset 5m)"),
    ("x % 2", "the operator '%' is not supported"),
    ("topk(3, x)", "the function 'topk' is not supported"),
    ("rate(x[7h])", "Vigil keeps at most 6h of scrapes"),
    ("x[5]", "a range looks like [5m]"),
    ("rate(x[5m]) offset", "offset takes a duration such as 5m"),
    ('{job="api"}', "write the metric name before the braces"),
])
def test_what_is_refused_is_named_with_what_is_supported(text, message):
    with pytest.raises(mx.ExpressionError) as refused:
        mx.parse(text)
    assert message in str(refused.value)


# --- properties --------------------------------------------------------------------------------

counter_steps = st.lists(st.integers(min_value=0, max_value=1000), min_size=2, max_size=30)


@settings(max_examples=150, deadline=None)
@given(counter_steps, st.integers(min_value=1, max_value=20))
def test_increase_of_a_fully_covered_window_is_the_sum_of_the_steps(steps, window_minutes):
    counter, values = 0.0, [0.0]
    for step in steps:
        counter += step
        values.append(counter)
    window = min(window_minutes, len(values) - 1)
    scrapes = history({"c": values})
    assert value(f"increase(c[{window}m])", scrapes) == pytest.approx(sum(steps[-window:]))


@settings(max_examples=150, deadline=None)
@given(counter_steps, st.integers(min_value=0, max_value=28), st.integers(min_value=1001, max_value=10_000))
def test_a_restart_does_not_change_the_increase(steps, restart_after, base):
    """A counter that restarts from zero mid-window counts the same increase as one that did not
    (the base is above any step, so the restart is always a visible drop, as Prometheus needs)."""
    restart_after = min(restart_after, len(steps) - 1)
    steady, restarted = [float(base)], [float(base)]
    for index, step in enumerate(steps):
        steady.append(steady[-1] + step)
        restarted.append(float(step) if index == restart_after else restarted[-1] + step)
    window = len(steps)
    assert value(f"increase(c[{window}m])", history({"c": restarted})) == pytest.approx(value(f"increase(c[{window}m])", history({"c": steady})))
    assert value(f"increase(c[{window}m])", history({"c": steady})) == pytest.approx(sum(steps))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=50), min_size=3, max_size=12), st.floats(min_value=0.01, max_value=0.99))
def test_a_quantile_lies_in_the_bucket_holding_its_rank(counts, q):
    bounds = [0.05 * (2 ** i) for i in range(len(counts) - 1)] + [math.inf]
    cumulative = [sum(counts[: i + 1]) for i in range(len(counts))]
    buckets = {(("le", "+Inf" if math.isinf(b) else repr(b)),): float(c) for b, c in zip(bounds, cumulative, strict=True)}
    result = mx._histogram_quantile(q, buckets)[()]
    if cumulative[-1] == 0:
        assert math.isnan(result)
        return
    rank = q * cumulative[-1]
    index = next(i for i, c in enumerate(cumulative) if c >= rank)
    if math.isinf(bounds[index]):
        assert result == bounds[-2]
    else:
        assert (bounds[index - 1] if index else 0.0) <= result <= bounds[index]


# --- against Prometheus itself ------------------------------------------------------------------

PROMTOOL = shutil.which("promtool")


def _promtool_values(series: dict[str, list[float | None]], step_s: int) -> str:
    lines = []
    for text, values in series.items():
        shown = " ".join("_" if v is None else repr(float(v)) for v in values)
        lines.append(f"      - series: '{text}'\n        values: '{shown}'")
    return "\n".join(lines)


def _random_case(rng: random.Random) -> tuple[dict[str, list[float | None]], int, str]:
    step_s = rng.choice([15, 30, 60])
    length = rng.randint(4, 30)
    counter, values = float(rng.randint(0, 500)), []
    for _ in range(length):
        if rng.random() < 0.08:
            counter = float(rng.randint(0, 20))  # a restart
        else:
            counter += rng.randint(0, 40)
        values.append(None if rng.random() < 0.1 else counter)
    values[-1] = counter  # the newest scrape has the series
    gauge = [float(rng.randint(0, 100)) for _ in range(length)]  # promtool's series notation misreads negative numbers
    series = {'c{job="a"}': values, 'g{job="a"}': gauge}
    span_s = (length - 1) * step_s
    window = rng.choice([s for s in (30, 60, 120, 180, 300, 600) if s <= span_s] or [step_s])
    offset = rng.choice([0, 0, step_s, 2 * step_s])
    offset = offset if offset + window <= span_s else 0
    suffix = f"[{window}s]" + (f" offset {offset}s" if offset else "")
    function = rng.choice(["rate(c", "increase(c", "delta(g", "avg_over_time(g", "max_over_time(g", "min_over_time(g", "sum_over_time(g",
                           "instant"])
    if function == "instant":  # an instant selector with an offset, against the newest value
        return series, step_s, f"g - g offset {rng.randint(1, min(10, length - 1)) * step_s}s"
    return series, step_s, f"{function}{suffix})"


def _promql_labels(labels: mx.Labels) -> str:
    return "{" + ",".join(f'{name}="{value}"' for name, value in labels) + "}"


def _histogram_case(rng: random.Random) -> tuple[dict[str, list[float | None]], int, str]:
    """Latency buckets of two paths, a window and a spike-style ratio with an offset."""
    step_s = rng.choice([15, 30, 60])
    length = rng.randint(12, 30)
    bounds = ["0.1", "0.5", "1", "4", "+Inf"]
    series: dict[str, list[float | None]] = {}
    for path in ("/a", "/b"):
        cumulative = [float(rng.randint(0, 100))] * len(bounds)
        rows = []
        for _ in range(length):
            steps = [rng.randint(0, 30) for _ in bounds]
            running = 0
            for index, step in enumerate(steps):
                running += step
                cumulative[index] += running
            rows.append(list(cumulative))
        for index, bound in enumerate(bounds):
            series[f'h_bucket{{le="{bound}",path="{path}"}}'] = [row[index] + 1 for row in rows]
    series['c{job="a"}'] = [float(10 * i + rng.randint(0, 9) + 1) for i in range(length)]
    window = step_s * rng.randint(2, (length - 1) // 2)
    if rng.random() < 0.5:
        q = rng.choice([0.5, 0.9, 0.95, 0.99])
        return series, step_s, f"histogram_quantile({q}, sum by (le) (increase(h_bucket[{window}s])))"
    return series, step_s, f"sum(increase(c[{window}s])) / sum(increase(c[{window}s] offset {window}s))"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) is not installed")
def test_the_windows_agree_with_prometheus(tmp_path):
    rng = random.Random(18)
    cases, expected = [], []
    for index in range(80):
        series, step_s, expression = (_random_case if index < 60 else _histogram_case)(rng)
        scrapes = history(series, step_s * 1000)
        at = scrapes[-1].at
        vector = mx.evaluate_series(mx.parse(expression), scrapes, at)
        assert isinstance(vector, dict)
        samples = "\n".join(f"          - labels: '{_promql_labels(labels)}'\n            value: {number!r}"
                            for labels, number in vector.items())
        cases.append(f"  - interval: {step_s}s\n    input_series:\n{_promtool_values(series, step_s)}\n"
                     f"    promql_expr_test:\n      - expr: '{expression}'\n        eval_time: {at // 1000}s\n"
                     f"        exp_samples:\n{samples if samples else '          []'}\n")
        expected.append((expression, at // 1000, list(vector.values())))
    path = tmp_path / "windows.yml"
    path.write_text("rule_files: []\nevaluation_interval: 15s\ntests:\n" + "".join(cases))
    run = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        # promtool compares floats exactly; accept a last-digit difference, nothing more
        failures = re.findall(r'expr: "(.*?)", time: (\S+),\n\s+exp: (.*)\n\s+got: (.*)', run.stdout + run.stderr)
        assert failures, run.stdout + run.stderr
        for expression, _time, exp, got in failures:
            mine = [float(x) for x in re.findall(r"\} (\S+)", exp)]
            theirs = [float(x) for x in re.findall(r"\} (\S+)", got)]
            assert theirs == pytest.approx(mine, rel=1e-12), f"{expression}: Prometheus {got}, Vigil {exp}"
    assert len(expected) == 80 and sum(1 for _, _, values in expected if values) >= 70  # most cases have a value to compare
