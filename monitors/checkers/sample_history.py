"""The scrapes a metric monitor keeps per region, so rate(x[5m]), increase(x[5m] offset 5m) and
histogram_quantile over increase() work without a Prometheus server.

Where: Redis (the shared client of core.redis_client), one sorted set per monitor, region and
expression, scored by scrape time in milliseconds:
  vigil:metric-window:<monitor id>:<region>:<digest of the target and the expression's selectors>
Each member is one scrape as JSON, holding only the series the expression's selectors match.

Why Redis: every worker of every region already talks to it (it is the broker), so a worker
that restarts, or another worker of the same region, finds the window where the last one left
it; one MULTI per scrape adds it, drops scrapes older than the expression needs (its largest
range plus offset, plus two intervals of slack), caps the count, sets an expiry and reads the
window back, so the set stays bounded even when a monitor is deleted. A Redis that restarts
without persistence (the embedded one keeps none) loses the windows: the checks then say
"collecting" again until the window has refilled, they never turn down for it.

The digest changes when the target or the selectors change, so an edited expression starts a
new window instead of reading scrapes that lack its series (the old set expires on its own).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from core.redis_client import get_redis
from lib import metric_expression

if TYPE_CHECKING:
    from monitors.models import Monitor

KEY_PREFIX = "vigil:metric-window:"
# A hard bound on scrapes kept per window, whatever the clock or the retries do: 6 h (the longest
# window, lib.metric_expression.MAX_WINDOW_MS) at the shortest interval (5 s) is 4320.
MAX_SCRAPES = 5000
# A bound on what one window holds (series per scrape x scrapes kept): a few tens of megabytes of
# Redis at most. The guides' rules need tens of series over a handful of scrapes.
MAX_SAMPLES = 500_000


class HistoryTooLarge(ValueError):
    """The expression's selectors match more series than a window may keep."""


def key(monitor: Monitor, region: str, node: metric_expression.Node) -> str:
    selectors = sorted(repr((s.name, s.matchers)) for s in metric_expression.selectors(node))
    digest = hashlib.blake2b(f"{monitor.target}\n{selectors}".encode(), digest_size=8).hexdigest()
    return f"{KEY_PREFIX}{monitor.pk}:{region}:{digest}"


def relevant(node: metric_expression.Node, samples: metric_expression.Samples, *, scrapes: int) -> metric_expression.Samples:
    """The series some selector of the expression matches (all a later evaluation can read), when
    that many series over `scrapes` scrapes fit in a window."""
    kept = metric_expression.matching_any(samples, node)
    if len(kept) * scrapes > MAX_SAMPLES:
        raise HistoryTooLarge(f"the expression's selectors match {len(kept)} series over {scrapes} scrapes, more than the "
                              f"{MAX_SAMPLES} samples a window keeps: narrow the selectors with label matchers, shorten the "
                              "range or lengthen the interval")
    return kept


def _encode(scrape: metric_expression.Scrape) -> str:
    series = [[name, [list(pair) for pair in labels], value] for (name, labels), value in scrape.samples.items()]
    return json.dumps({"at": scrape.at, "samples": series}, separators=(",", ":"))  # NaN and Inf as JSON allows in Python


def _decode(member: bytes | str) -> metric_expression.Scrape:
    document = json.loads(member)
    samples = {(str(name), tuple((str(k), str(v)) for k, v in labels)): float(value) for name, labels, value in document["samples"]}
    return metric_expression.Scrape(int(document["at"]), samples)


def record(monitor: Monitor, region: str, node: metric_expression.Node, scrape: metric_expression.Scrape,
           keep_ms: int) -> list[metric_expression.Scrape]:
    """Add the scrape to the monitor's window in this region, drop what is older than keep_ms
    before it, and return the window, oldest first (the scrape itself included)."""
    name = key(monitor, region, node)
    pipeline = get_redis().pipeline(transaction=True)
    pipeline.zremrangebyscore(name, scrape.at, scrape.at)  # a scrape at the same instant (a redelivered batch) is replaced
    pipeline.zadd(name, {_encode(scrape): scrape.at})
    pipeline.zremrangebyscore(name, "-inf", f"({scrape.at - keep_ms}")
    pipeline.zremrangebyrank(name, 0, -MAX_SCRAPES - 1)
    pipeline.pexpire(name, keep_ms + 60_000)
    pipeline.zrange(name, 0, -1)
    members = pipeline.execute()[-1]
    return [_decode(member) for member in members]

