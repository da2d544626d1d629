"""A small PromQL-like language evaluated over one Prometheus scrape.

Enough for the ops guides' rules:
  error rate      sum(increase(http_requests_total{status=~"5.."})) / sum(increase(http_requests_total))
  p95 latency     histogram_quantile(0.95, http_request_duration_seconds_bucket)
  memory          process_resident_memory_bytes / machine_memory_bytes
  DB pool         db_pool_in_use{pool="default"}

Grammar: numbers; selectors `name{label="v", label!="v", label=~"re", label!~"re"}`;
`sum|max|min|avg|count(expr)`; `increase(selector)` (needs the previous scrape; a
counter that went down restarted, as in Prometheus); `histogram_quantile(q, selector)`
(buckets summed across series by `le`, linear interpolation inside the bucket);
+ - * / with the usual precedence; parentheses. A selector that matches several series
must be aggregated before arithmetic. Errors are ExpressionError with a message that
names the problem and the fix.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


class ExpressionError(ValueError):
    """The expression cannot be parsed or evaluated; the message says why and how to fix it."""


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


@dataclass(frozen=True)
class Call:
    function: str
    arguments: tuple[Node, ...]


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


Node = Union[Number, Selector, Call, Binary]  # noqa: UP007
AGGREGATIONS = {"sum", "max", "min", "avg", "count"}
FUNCTIONS = AGGREGATIONS | {"increase", "histogram_quantile"}

_TOKEN = re.compile(r"""\s*(?:(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>=~|!~|!=|==|[-+*/(){},=]))""")


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

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

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
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")  # type: ignore[index]
        return node

    def sum_expression(self) -> Node:
        node = self.product()
        while (token := self.peek()) and token[1] in "+-" and token[0] == "op":
            self.take()
            node = Binary(token[1], node, self.product())
        return node

    def product(self) -> Node:
        node = self.atom()
        while (token := self.peek()) and token[1] in "*/" and token[0] == "op":
            self.take()
            node = Binary(token[1], node, self.atom())
        return node

    def atom(self) -> Node:
        kind, value = self.take()
        if kind == "number":
            return Number(float(value))
        if value == "(":
            node = self.sum_expression()
            self.take(")")
            return node
        if value == "-":
            return Binary("-", Number(0.0), self.atom())
        if kind != "name":
            raise ExpressionError(f"unexpected {value!r} in {self.text!r}")
        following = self.peek()
        if following and following[1] == "(":
            if value not in FUNCTIONS:
                raise ExpressionError(f"unknown function {value!r}; use one of {', '.join(sorted(FUNCTIONS))}")
            self.take("(")
            arguments = [self.sum_expression()]
            while self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                self.take(",")
                arguments.append(self.sum_expression())
            self.take(")")
            return self._check_call(Call(value, tuple(arguments)))
        matchers: list[Matcher] = []
        if following and following[1] == "{":
            self.take("{")
            while self.peek() and self.peek()[1] != "}":  # type: ignore[index]
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
                if self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                    self.take(",")
            self.take("}")
        return Selector(value, tuple(matchers))

    def _check_call(self, call: Call) -> Call:
        if call.function == "histogram_quantile":
            if len(call.arguments) != 2 or not isinstance(call.arguments[0], Number) or not isinstance(call.arguments[1], Selector):
                raise ExpressionError("histogram_quantile takes a number and a bucket selector, e.g. histogram_quantile(0.95, latency_seconds_bucket)")
            if not 0 <= call.arguments[0].value <= 1:
                raise ExpressionError("histogram_quantile's quantile must be between 0 and 1")
        elif call.function == "increase":
            if len(call.arguments) != 1 or not isinstance(call.arguments[0], Selector):
                raise ExpressionError("increase takes one selector, e.g. increase(http_requests_total)")
        elif len(call.arguments) != 1:
            raise ExpressionError(f"{call.function} takes one argument")
        return call


def parse(text: str) -> Node:
    if not text or not text.strip():
        raise ExpressionError("the expression is empty; write e.g. db_pool_in_use{pool=\"default\"}")
    return _Parser(text).parse()


def needs_previous(node: Node) -> bool:
    if isinstance(node, Call):
        return node.function == "increase" or any(needs_previous(a) for a in node.arguments)
    if isinstance(node, Binary):
        return needs_previous(node.left) or needs_previous(node.right)
    return False


# --- Evaluation --------------------------------------------------------------------------------

Vector = dict[Labels, float]


def _select(samples: Samples, selector: Selector) -> Vector:
    found = {}
    for (name, labels), value in samples.items():
        if name == selector.name and all(m.matches(dict(labels)) for m in selector.matchers):
            found[labels] = value
    return found


def _increase(current: Vector, previous: Vector) -> Vector:
    result = {}
    for labels, value in current.items():
        before = previous.get(labels)
        if before is None:
            continue  # a new series has no increase yet
        result[labels] = value - before if value >= before else value  # a drop means the counter restarted
    return result


def _quantile(q: float, buckets: Vector) -> float:
    by_le: dict[float, float] = defaultdict(float)
    for labels, value in buckets.items():
        le = dict(labels).get("le")
        if le is None:
            raise ExpressionError("histogram_quantile needs *_bucket series with an le label")
        by_le[math.inf if le == "+Inf" else float(le)] += value
    bounds = sorted(by_le)
    if not bounds or math.inf not in by_le:
        raise ExpressionError("histogram_quantile needs the +Inf bucket")
    total = by_le[math.inf]
    if total == 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = by_le[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # the answer lies above the highest finite bucket
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def evaluate(node: Node, samples: Samples, previous: Samples | None = None) -> float:
    value = _evaluate(node, samples, previous)
    if isinstance(value, dict):
        if len(value) == 1:
            return next(iter(value.values()))
        if not value:
            raise ExpressionError("the selector matched no series; check the metric name and labels")
        raise ExpressionError(f"the selector matched {len(value)} series; wrap it in sum(), max(), min() or avg()")
    return value


def _evaluate(node: Node, samples: Samples, previous: Samples | None) -> float | Vector:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Selector):
        return _select(samples, node)
    if isinstance(node, Call):
        if node.function == "histogram_quantile":
            q, selector = node.arguments
            return _quantile(q.value, _select(samples, selector))  # type: ignore[union-attr, arg-type]
        if node.function == "increase":
            if previous is None:
                raise ExpressionError("increase() needs a previous scrape")
            selector = node.arguments[0]
            return _increase(_select(samples, selector), _select(previous, selector))  # type: ignore[arg-type]
        inner = _evaluate(node.arguments[0], samples, previous)
        values: Iterable[float] = inner.values() if isinstance(inner, dict) else [inner]
        values = list(values)
        if node.function == "count":
            return float(len(values))
        if not values:
            return 0.0 if node.function == "sum" else math.nan
        if node.function == "sum":
            return float(sum(values))
        if node.function == "max":
            return max(values)
        if node.function == "min":
            return min(values)
        return sum(values) / len(values)
    left = evaluate(node.left, samples, previous)
    right = evaluate(node.right, samples, previous)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    return math.nan if right == 0 else left / right
