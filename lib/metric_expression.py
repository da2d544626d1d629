"""A subset of PromQL evaluated over the scrapes Vigil keeps of one target (no Prometheus server).

Enough for the ops guides' rules:
  error rate      sum(increase(http_requests_total{status=~"5.."}[5m])) / sum(increase(http_requests_total[5m]))
  p95 latency     histogram_quantile(0.95, sum by (le) (increase(http_request_duration_seconds_bucket[5m])))
  error spike     sum(increase(errors_total[5m])) / sum(increase(errors_total[5m] offset 5m))
  memory          process_resident_memory_bytes / machine_memory_bytes
  DB pool         db_pool_in_use{pool="default"}

The history is a list of Scrape (time in milliseconds, the samples of one scrape), oldest first;
the expression is evaluated at a time `at` (the newest scrape's). What is supported, with the
meaning Prometheus 2 gives it (docs/monitors.md has an example of each):

- numbers; selectors `name{label="v", label!="v", label=~"re", label!~"re"}` (the instant value
  is the newest scrape at or before the evaluation time, at most 5 minutes old: Prometheus'
  lookback); `offset 5m` on a selector or range selector;
- range selectors `name{...}[5m]` (the scrapes in [at - 5m, at], both ends included, as in
  Prometheus 2), only as the argument of: rate, increase, delta (extrapolated to the window's
  edges as Prometheus does, counter resets handled by rate and increase), avg_over_time,
  max_over_time, min_over_time, sum_over_time;
- `increase(name{...})` with no range: Vigil's older form, the change since the previous scrape
  (a drop means the counter restarted), kept so existing monitors work; prefer `[5m]`;
- sum, max, min, avg, count, with `by (label, ...)` or `without (label, ...)` before or after
  the parenthesis; without grouping, sum and count of nothing are 0 and max, min, avg NaN
  (Prometheus returns no series; Vigil keeps its older answers, so "no 5xx series yet" is an
  error rate of 0 and the max of nothing is no data);
- histogram_quantile(q, v): quantile q (0..1) of the buckets in v grouped by every label but
  `le`, interpolated linearly inside the bucket as Prometheus does; a bare bucket selector
  (`histogram_quantile(0.95, x_bucket)`, the older form) sums all its series by `le` first;
- + - * / with the usual precedence, parentheses, unary minus; between two vectors series are
  matched on identical labels, except that two one-series sides are used as numbers (Prometheus
  would need `on()` when their labels differ); division by zero gives +Inf, -Inf or NaN (IEEE).

Everything else (other functions, comparisons, and/or/unless, on/ignoring, subqueries, `@`)
is refused with an ExpressionError naming the construct and what is supported.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Union

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]
Vector = dict[Labels, float]
Points = list[tuple[int, float]]
Matrix = dict[Labels, Points]

# Prometheus' default lookback: an instant selector reads a sample at most this old.
LOOKBACK_MS = 5 * 60 * 1000
# The longest range plus offset Vigil keeps scrapes for; longer windows belong to a Prometheus server.
MAX_WINDOW_MS = 6 * 3600 * 1000

RANGE_FUNCTIONS = ("rate", "increase", "delta", "avg_over_time", "max_over_time", "min_over_time", "sum_over_time")
AGGREGATIONS = ("sum", "max", "min", "avg", "count")
FUNCTIONS = (*RANGE_FUNCTIONS, "histogram_quantile")
SUPPORTED = ", ".join((*FUNCTIONS, *AGGREGATIONS))
SEE_DOCS = "see docs/monitors.md, or use source: prometheus_api with a Prometheus server for full PromQL"


class ExpressionError(ValueError):
    """The expression cannot be parsed or evaluated; the message says why and how to fix it."""


@dataclass(frozen=True)
class Scrape:
    at: int  # milliseconds since the epoch
    samples: Samples


def parse_exposition(text: str) -> Samples:
    samples: Samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    except (ValueError, TypeError, IndexError) as exc:
        raise ExpressionError(f"the scrape is not valid Prometheus text format ({exc})") from None
    return samples


# --- Syntax tree -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...]
    offset_ms: int = 0


@dataclass(frozen=True)
class RangeSelector:
    selector: Selector
    range_ms: int


@dataclass(frozen=True)
class Call:
    function: str
    arguments: tuple[Node, ...]


@dataclass(frozen=True)
class Aggregate:
    op: str
    argument: Node
    labels: tuple[str, ...] = ()
    without: bool = False
    grouped: bool = False  # by (...) or without (...) was written


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


Node = Union[Number, Selector, RangeSelector, Call, Aggregate, Binary]  # noqa: UP007

_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
_TOKEN = re.compile(
    rf"""\s*(?:(?P<duration>{_DURATION})(?![A-Za-z0-9_])|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"""
    r"""|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"""|(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^(){}\[\],=<>:@]))""")
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
_COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")
_SET_OPERATORS = ("and", "or", "unless")
_MATCHING = ("on", "ignoring", "group_left", "group_right", "bool")


def duration_ms(text: str) -> int:
    total = 0
    for amount, unit in re.findall(r"(\d+)(ms|[smhdwy])", text):
        total += int(amount) * _UNITS_MS[unit]
    return total


def _show_duration(ms: int) -> str:
    for unit in ("d", "h", "m", "s"):
        if ms % _UNITS_MS[unit] == 0:
            return f"{ms // _UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise ExpressionError(f"cannot read {text[position:position + 15]!r} at position {position}; check quotes and operators")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self, ahead: int = 0) -> tuple[str, str] | None:
        position = self.index + ahead
        return self.tokens[position] if position < len(self.tokens) else None

    def next_is(self, value: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == value and token[0] in ("op", "name")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ExpressionError(f"{self.text!r} ends too early" + (f"; expected {value!r}" if value else ""))
        if value is not None and token[1] != value:
            raise ExpressionError(f"expected {value!r} but found {token[1]!r} in {self.text!r}")
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.sum_expression()
        token = self.peek()
        if token is not None:
            self._refuse_operator(token)
            raise ExpressionError(f"unexpected {token[1]!r} in {self.text!r}")
        return node

    def _refuse_operator(self, token: tuple[str, str]) -> None:
        kind, value = token
        if kind == "op" and value in _COMPARISONS:
            raise ExpressionError(
                f"comparisons ({value}) are the thresholds' job in Vigil: write the number itself as the expression "
                "and set warn_above/down_above (or warn_below/down_below), e.g. expression "
                "'sum(increase(errors_total[5m])) / sum(increase(errors_total[5m] offset 5m))' with down_above: 1.5")
        if kind == "name" and value in _SET_OPERATORS:
            raise ExpressionError(f"the set operator {value!r} is not supported; Vigil evaluates one number per monitor "
                                  f"(arithmetic + - * / over {SUPPORTED}); {SEE_DOCS}")
        if kind == "name" and value in _MATCHING:
            raise ExpressionError(f"vector matching modifiers ({value}) are not supported: series are matched on identical "
                                  f"labels, and one-series sides are used as numbers; aggregate both sides with sum by (...) "
                                  f"to the same labels; {SEE_DOCS}")
        if kind == "op" and value in ("%", "^"):
            raise ExpressionError(f"the operator {value!r} is not supported; use + - * /")
        if kind == "op" and value == "@":
            raise ExpressionError(f"the @ modifier is not supported; Vigil evaluates at the newest scrape (use offset); {SEE_DOCS}")

    def sum_expression(self) -> Node:
        node = self.product()
        while (token := self.peek()) and token[0] == "op" and token[1] in ("+", "-"):
            self.take()
            node = _arithmetic_node(token[1], node, self.product())
        if (token := self.peek()) is not None:
            self._refuse_operator(token)
        return node

    def product(self) -> Node:
        node = self.unary()
        while (token := self.peek()) and token[0] == "op" and token[1] in ("*", "/"):
            self.take()
            node = _arithmetic_node(token[1], node, self.unary())
        return node

    def unary(self) -> Node:
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in ("-", "+"):
            self.take()
            operand = self.unary()
            if token[1] == "+":
                return operand
            if isinstance(operand, Number):
                return Number(-operand.value)
            return _arithmetic_node("*", Number(-1.0), operand)
        return self.postfix(self.atom())

    def postfix(self, node: Node) -> Node:
        """A range `[5m]` and an `offset 5m` after a selector (PromQL order: range first, then offset)."""
        if self.next_is("["):
            if not isinstance(node, Selector):
                raise ExpressionError(f"a range [..] can only follow a metric selector (subqueries are not supported), in {self.text!r}")
            self.take("[")
            token = self.take()
            if token[0] != "duration":
                raise ExpressionError(f"a range looks like [5m] (units ms, s, m, h, d), found {token[1]!r} in {self.text!r}")
            following = self.peek()
            if following is not None and following[1].startswith(":"):
                raise ExpressionError(f"subqueries (x[5m:1m]) are not supported; write a range over a metric, e.g. rate(x[5m]); {SEE_DOCS}")
            self.take("]")
            range_ms = duration_ms(token[1])
            if range_ms <= 0:
                raise ExpressionError("a range must be longer than 0, e.g. [5m]")
            node = RangeSelector(node, range_ms)
        if self.next_is("offset"):
            self.take("offset")
            token = self.peek() or ("end", "the end")
            self.index += 1
            if token[0] != "duration":
                raise ExpressionError(f"offset takes a duration such as 5m, found {token[1]!r} in {self.text!r}")
            if isinstance(node, RangeSelector):
                if node.selector.offset_ms:
                    raise ExpressionError("offset is written once per selector")
                node = RangeSelector(Selector(node.selector.name, node.selector.matchers, duration_ms(token[1])), node.range_ms)
            elif isinstance(node, Selector):
                if node.offset_ms:
                    raise ExpressionError("offset is written once per selector")
                node = Selector(node.name, node.matchers, duration_ms(token[1]))
            else:
                raise ExpressionError(f"offset applies to a metric selector, e.g. increase(x[5m] offset 5m), in {self.text!r}")
        if self.next_is("@"):
            self._refuse_operator(("op", "@"))
        return node

    def atom(self) -> Node:
        kind, value = self.take()
        if kind == "number":
            return Number(float(value))
        if kind == "duration":
            raise ExpressionError(f"a duration ({value}) belongs in a range [5m] or after offset, in {self.text!r}")
        if kind == "op" and value == "(":
            node = self.sum_expression()
            self.take(")")
            return node
        if kind == "op" and value == "{":
            raise ExpressionError(f"write the metric name before the braces (name{{...}}); selectors without a name are not supported, in {self.text!r}")
        if kind != "name":
            self._refuse_operator((kind, value))
            raise ExpressionError(f"unexpected {value!r} in {self.text!r}")
        if value.lower() in ("inf", "nan") and not self.next_is("{") and not self.next_is("("):
            return Number(float(value))
        if value in AGGREGATIONS and (self.next_is("(") or self.next_is("by") or self.next_is("without")):
            return self.aggregation(value)
        if value in _SET_OPERATORS or value in _MATCHING:
            self._refuse_operator((kind, value))
        if self.next_is("("):
            return self.call(value)
        if value in _SET_OPERATORS or value in _MATCHING or value in ("by", "without", "offset"):
            self._refuse_operator((kind, value))
            raise ExpressionError(f"unexpected {value!r} in {self.text!r}")
        return self.selector(value)

    def grouping(self) -> tuple[str, ...]:
        self.take("(")
        labels: list[str] = []
        while not self.next_is(")"):
            kind, label = self.take()
            if kind != "name":
                raise ExpressionError(f"by (...) and without (...) list label names, e.g. sum by (le) (...), found {label!r}")
            labels.append(label)
            if self.next_is(","):
                self.take(",")
        self.take(")")
        return tuple(labels)

    def aggregation(self, op: str) -> Node:
        labels: tuple[str, ...] = ()
        without = grouped = False
        if self.next_is("by") or self.next_is("without"):
            without = self.take()[1] == "without"
            labels, grouped = self.grouping(), True
        self.take("(")
        argument = self.sum_expression()
        if self.next_is(","):
            raise ExpressionError(f"{op} takes one argument (parameterised aggregations such as topk are not supported)")
        self.take(")")
        if self.next_is("by") or self.next_is("without"):
            if grouped:
                raise ExpressionError("write by (...) or without (...) once per aggregation")
            without = self.take()[1] == "without"
            labels, grouped = self.grouping(), True
        node = Aggregate(op, argument, labels, without, grouped)
        if _kind(argument) != "vector":
            raise ExpressionError(f"{op}(...) aggregates series: give it a selector or a function such as increase(x[5m]), "
                                  f"not {'a number' if _kind(argument) == 'scalar' else 'a range vector (wrap it in rate, increase ...)'}")
        return node

    def call(self, function: str) -> Node:
        if function not in FUNCTIONS:
            raise ExpressionError(f"the function {function!r} is not supported; Vigil evaluates {SUPPORTED}; {SEE_DOCS}")
        self.take("(")
        arguments = [self.sum_expression()]
        while self.next_is(","):
            self.take(",")
            arguments.append(self.sum_expression())
        self.take(")")
        return _check_call(Call(function, tuple(arguments)))

    def selector(self, name: str) -> Selector:
        matchers: list[Matcher] = []
        if self.next_is("{"):
            self.take("{")
            while not self.next_is("}"):
                label = self.take()
                op = self.take()
                text = self.take()
                if label[0] != "name" or op[1] not in ("=", "!=", "=~", "!~") or text[0] != "string":
                    raise ExpressionError(f"label matchers look like label=\"value\" (or != =~ !~), in {self.text!r}")
                unquoted = text[1][1:-1].encode().decode("unicode_escape")
                if op[1] in ("=~", "!~"):
                    try:
                        re.compile(unquoted)
                    except re.error as exc:
                        raise ExpressionError(f"regular expression {unquoted!r} is invalid ({exc})") from None
                matchers.append(Matcher(label[1], op[1], unquoted))
                if self.next_is(","):
                    self.take(",")
            self.take("}")
        return Selector(name, tuple(matchers))


def _arithmetic_node(op: str, left: Node, right: Node) -> Binary:
    for side in (left, right):
        if _kind(side) == "range":
            raise ExpressionError(f"a range (x[5m]) cannot be used in arithmetic ({op}); wrap it in a function such as "
                                  "increase(x[5m]) or avg_over_time(x[5m])")
    return Binary(op, left, right)


def _kind(node: Node) -> str:
    """scalar, vector or range: what the node evaluates to."""
    if isinstance(node, Number):
        return "scalar"
    if isinstance(node, RangeSelector):
        return "range"
    if isinstance(node, Binary):
        return "scalar" if _kind(node.left) == _kind(node.right) == "scalar" else "vector"
    return "vector"


def _check_call(call: Call) -> Call:
    function, arguments = call.function, call.arguments
    if function == "histogram_quantile":
        if len(arguments) != 2 or not isinstance(arguments[0], Number):
            raise ExpressionError("histogram_quantile takes a number and the buckets, e.g. "
                                  "histogram_quantile(0.95, sum by (le) (increase(latency_seconds_bucket[5m])))")
        if not 0 <= arguments[0].value <= 1:
            raise ExpressionError("histogram_quantile's quantile must be between 0 and 1")
        if _kind(arguments[1]) != "vector":
            raise ExpressionError("histogram_quantile needs the buckets as series, not a range: "
                                  "histogram_quantile(0.95, sum by (le) (increase(latency_seconds_bucket[5m])))")
        return call
    if len(arguments) != 1:
        raise ExpressionError(f"{function} takes one argument, e.g. {function}(http_requests_total[5m])")
    argument = arguments[0]
    if function == "increase" and isinstance(argument, Selector):
        if argument.offset_ms:
            raise ExpressionError("increase() with no range means 'since the previous scrape' and takes no offset; "
                                  "write increase(x[5m] offset 5m)")
        return call  # Vigil's older form: the change since the previous scrape
    if not isinstance(argument, RangeSelector):
        raise ExpressionError(f"{function} takes a range selector, e.g. {function}(http_requests_total[5m])")
    return call


def parse(text: str) -> Node:
    if not text or not text.strip():
        raise ExpressionError("the expression is empty; write e.g. db_pool_in_use{pool=\"default\"}")
    node = _Parser(text).parse()
    if _kind(node) == "range":
        raise ExpressionError("the expression is a range (x[5m]); wrap it in a function such as rate(x[5m]) or avg_over_time(x[5m])")
    window = history_window_ms(node)
    if window > MAX_WINDOW_MS:
        raise ExpressionError(f"ranges and offsets reach back {_show_duration(window)}; Vigil keeps at most "
                              f"{_show_duration(MAX_WINDOW_MS)} of scrapes: shorten them, or use source: prometheus_api")
    return node


def _walk(node: Node) -> Iterable[Node]:
    yield node
    if isinstance(node, RangeSelector):
        yield from _walk(node.selector)
    elif isinstance(node, Call):
        for argument in node.arguments:
            yield from _walk(argument)
    elif isinstance(node, Aggregate):
        yield from _walk(node.argument)
    elif isinstance(node, Binary):
        yield from _walk(node.left)
        yield from _walk(node.right)


def history_window_ms(node: Node) -> int:
    """How far back the oldest scrape must reach for the expression to see its whole window:
    the largest range plus offset, and the largest offset of an instant selector."""
    window = 0
    for part in _walk(node):
        if isinstance(part, RangeSelector):
            window = max(window, part.range_ms + part.selector.offset_ms)
        elif isinstance(part, Selector):
            window = max(window, part.offset_ms)
    return window


def history_keep_ms(node: Node) -> int:
    """How long scrapes must be kept: the window, and the lookback behind an offset instant selector."""
    keep = 0
    for part in _walk(node):
        if isinstance(part, RangeSelector):
            keep = max(keep, part.range_ms + part.selector.offset_ms)
        elif isinstance(part, Selector) and part.offset_ms:
            keep = max(keep, part.offset_ms + LOOKBACK_MS)
    return keep


def needs_previous(node: Node) -> bool:
    """True when the expression uses the older `increase(x)` (change since the previous scrape)."""
    return any(isinstance(part, Call) and part.function == "increase" and isinstance(part.arguments[0], Selector)
               for part in _walk(node))


def selectors(node: Node) -> list[Selector]:
    return [part for part in _walk(node) if isinstance(part, Selector)]


def matching_any(samples: Samples, node: Node) -> Samples:
    """The samples some selector of the expression matches: all its evaluation can ever read."""
    wanted = selectors(node)
    kept: Samples = {}
    for (name, labels), value in samples.items():
        as_dict = dict(labels)
        if any(name == s.name and all(m.matches(as_dict) for m in s.matchers) for s in wanted):
            kept[(name, labels)] = value
    return kept


# --- Evaluation --------------------------------------------------------------------------------


def _matching(samples: Samples, selector: Selector) -> Vector:
    found = {}
    for (name, labels), value in samples.items():
        if name == selector.name and all(m.matches(dict(labels)) for m in selector.matchers):
            found[labels] = value
    return found


class _Evaluation:
    def __init__(self, history: Sequence[Scrape], at: int) -> None:
        self.history = sorted((scrape for scrape in history if scrape.at <= at), key=lambda scrape: scrape.at)
        self.at = at

    def instant(self, selector: Selector) -> Vector:
        """The newest scrape at or before at - offset, when it is within the lookback (Prometheus
        marks a series stale when a scrape no longer has it, so older scrapes are not searched)."""
        moment = self.at - selector.offset_ms
        for scrape in reversed(self.history):
            if scrape.at <= moment:
                return _matching(scrape.samples, selector) if scrape.at >= moment - LOOKBACK_MS else {}
        return {}

    def matrix(self, node: RangeSelector) -> Matrix:
        end = self.at - node.selector.offset_ms
        start = end - node.range_ms
        points: Matrix = defaultdict(list)
        for scrape in self.history:
            if start <= scrape.at <= end:  # both ends included, as in Prometheus 2
                for labels, value in _matching(scrape.samples, node.selector).items():
                    points[labels].append((scrape.at, value))
        return dict(points)

    def since_previous(self, selector: Selector) -> Vector:
        if len(self.history) < 2:
            raise ExpressionError("increase() needs a previous scrape")
        current = _matching(self.history[-1].samples, selector)
        previous = _matching(self.history[-2].samples, selector)
        result = {}
        for labels, value in current.items():
            before = previous.get(labels)
            if before is None:
                continue  # a new series has no increase yet
            result[labels] = value - before if value >= before else value  # a drop means the counter restarted
        return result

    def value(self, node: Node) -> float | Vector:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Selector):
            return self.instant(node)
        if isinstance(node, RangeSelector):
            raise ExpressionError("a range (x[5m]) must be the argument of rate, increase, delta or *_over_time")
        if isinstance(node, Aggregate):
            inner = self.value(node.argument)
            assert isinstance(inner, dict)
            return _aggregate(node, inner)
        if isinstance(node, Call):
            return self.call(node)
        return _binary(node.op, self.value(node.left), self.value(node.right))

    def call(self, node: Call) -> Vector:
        if node.function == "histogram_quantile":
            quantile, buckets = node.arguments
            assert isinstance(quantile, Number)
            series = self.value(buckets)
            assert isinstance(series, dict)
            if isinstance(buckets, Selector):  # the older form: every series' buckets summed by le
                summed: Vector = defaultdict(float)
                for labels, count in series.items():
                    summed[tuple((k, v) for k, v in labels if k == "le")] += count
                series = dict(summed)
            return _histogram_quantile(quantile.value, series)
        argument = node.arguments[0]
        if isinstance(argument, Selector):
            return self.since_previous(argument)
        assert isinstance(argument, RangeSelector)
        result: Vector = {}
        for labels, points in self.matrix(argument).items():
            value = _over_range(node.function, points, argument, self.at)
            if value is not None:
                result[labels] = value
        return result


def _over_range(function: str, points: Points, node: RangeSelector, at: int) -> float | None:
    values = [value for _, value in points]
    if function == "avg_over_time":
        return sum(values) / len(values)
    if function == "max_over_time":
        return max(values)
    if function == "min_over_time":
        return min(values)
    if function == "sum_over_time":
        return float(sum(values))
    end = at - node.selector.offset_ms
    return _extrapolated_rate(points, end - node.range_ms, end, is_counter=function != "delta", is_rate=function == "rate")


def _extrapolated_rate(points: Points, range_start: int, range_end: int, *, is_counter: bool, is_rate: bool) -> float | None:
    """Prometheus 2's extrapolatedRate (promql/functions.go): the change between the first and last
    sample (plus the value before each counter reset), extrapolated to the range's edges when the
    samples reach within 110% of their average spacing of an edge, else by half that spacing; a
    counter is not extrapolated below zero. None (no series) with fewer than two samples."""
    if len(points) < 2:
        return None
    result = points[-1][1] - points[0][1]
    if is_counter:
        last = 0.0
        for _, value in points:
            if value < last:
                result += last
            last = value
    first_at, last_at = points[0][0], points[-1][0]
    to_start = (first_at - range_start) / 1000
    to_end = (range_end - last_at) / 1000
    sampled = (last_at - first_at) / 1000
    if sampled <= 0:
        return None
    average = sampled / (len(points) - 1)
    if is_counter and result > 0 and points[0][1] >= 0:
        to_zero = sampled * (points[0][1] / result)
        to_start = min(to_start, to_zero)
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    result *= interval / sampled
    if is_rate:
        result /= (range_end - range_start) / 1000
    return result


def _histogram_quantile(q: float, buckets: Vector) -> Vector:
    groups: dict[Labels, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for labels, count in buckets.items():
        le = dict(labels).get("le")
        if le is None:
            raise ExpressionError("histogram_quantile needs *_bucket series with an le label")
        try:
            bound = float(le)
        except ValueError:
            raise ExpressionError(f"the bucket bound le={le!r} is not a number") from None
        groups[tuple((k, v) for k, v in labels if k != "le")][bound] += count
    return {labels: _bucket_quantile(q, by_bound) for labels, by_bound in groups.items()}


def _bucket_quantile(q: float, by_bound: dict[float, float]) -> float:
    """Prometheus' bucketQuantile: NaN without a +Inf bucket, two buckets or observations; the rank
    in the +Inf bucket answers the highest finite bound; the first bucket starts at 0."""
    bounds = sorted(by_bound)
    if len(bounds) < 2 or not math.isinf(bounds[-1]):
        return math.nan
    counts = []
    highest = -math.inf
    for bound in bounds:  # counts may dip slightly after increase()'s extrapolation: make them monotonic
        highest = max(highest, by_bound[bound])
        counts.append(highest)
    observations = counts[-1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    index = next(i for i, count in enumerate([*counts[:-1], math.inf]) if count >= rank)
    if index == len(bounds) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[index], counts[index]
    if index > 0:
        start = bounds[index - 1]
        count -= counts[index - 1]
        rank -= counts[index - 1]
    if count == 0:
        return math.nan  # q = 0 over an empty first bucket: 0/0, as in Prometheus
    return start + (end - start) * (rank / count)


def _aggregate(node: Aggregate, inner: Vector) -> Vector:
    groups: dict[Labels, list[float]] = defaultdict(list)
    for labels, value in inner.items():
        if node.without:
            key = tuple((k, v) for k, v in labels if k not in node.labels)
        else:
            key = tuple((k, v) for k, v in labels if k in node.labels)
        groups[key].append(value)
    if not groups and not node.grouped:
        # Vigil's older answers (Prometheus returns no series): no 5xx series yet is no errors,
        # and the max of nothing is NaN, which the monitor's no_data setting decides about
        return {(): 0.0 if node.op in ("sum", "count") else math.nan}
    result = {}
    for key, values in groups.items():
        if node.op == "sum":
            result[key] = float(sum(values))
        elif node.op == "count":
            result[key] = float(len(values))
        elif node.op == "max":
            result[key] = max(values)
        elif node.op == "min":
            result[key] = min(values)
        else:
            result[key] = sum(values) / len(values)
    return result


def _arithmetic(op: str, left: float, right: float) -> float:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if right == 0:
        if left == 0 or math.isnan(left):
            return math.nan
        return math.copysign(math.inf, left) * math.copysign(1.0, right)
    return left / right


def _binary(op: str, left: float | Vector, right: float | Vector) -> float | Vector:
    if not isinstance(left, dict) and not isinstance(right, dict):
        return _arithmetic(op, left, right)
    if not isinstance(left, dict):
        assert isinstance(right, dict)
        return {labels: _arithmetic(op, left, value) for labels, value in right.items()}
    if not isinstance(right, dict):
        return {labels: _arithmetic(op, value, right) for labels, value in left.items()}
    if len(left) == 1 and len(right) == 1:  # two single series: numbers, whatever their labels
        (labels, value), (_, other) = next(iter(left.items())), next(iter(right.items()))
        return {labels: _arithmetic(op, value, other)}
    return {labels: _arithmetic(op, value, right[labels]) for labels, value in left.items() if labels in right}


def _single(value: float | Vector) -> float:
    if isinstance(value, dict):
        if len(value) == 1:
            return next(iter(value.values()))
        if not value:
            raise ExpressionError("the selector matched no series; check the metric name and labels")
        raise ExpressionError(f"the selector matched {len(value)} series; wrap it in sum(), max(), min() or avg()")
    return value


def evaluate_series(node: Node, history: Sequence[Scrape], at: int) -> Vector | float:
    """The expression's series (labels -> value) at time `at`, or its number when it is a scalar."""
    return _Evaluation(history, at).value(node)


def evaluate_at(node: Node, history: Sequence[Scrape], at: int) -> float:
    """The expression's one number at time `at` (milliseconds) over the scrapes in history."""
    return _single(_Evaluation(history, at).value(node))


def evaluate(node: Node, samples: Samples, previous: Samples | None = None) -> float:
    """The expression over one scrape (and the one before it, for the older `increase(x)`)."""
    history = [Scrape(0, previous), Scrape(1, samples)] if previous is not None else [Scrape(1, samples)]
    return evaluate_at(node, history, 1)
