"""A fixed log-scale latency histogram: mergeable, so percentiles come from rollups.

Bucket i counts latencies in [BOUNDS_MS[i-1], BOUNDS_MS[i]) (bucket 0 starts at 0,
the last bucket is open-ended). The bounds follow a 1-2-3-5-7 series, so any
percentile read from merged histograms is within one bucket of the exact value.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

BOUNDS_MS: tuple[int, ...] = (
    1, 2, 3, 5, 7,
    10, 15, 20, 30, 50, 70,
    100, 150, 200, 300, 500, 700,
    1000, 1500, 2000, 3000, 5000, 7000,
    10000, 15000, 20000, 30000, 60000,
)
BUCKET_COUNT = len(BOUNDS_MS) + 1


def bucket_index(latency_ms: float) -> int:
    """The bucket a latency falls in: the number of bounds <= latency."""
    if latency_ms < 0 or math.isnan(latency_ms):
        raise ValueError(f"latency must be a non-negative number, got {latency_ms!r}")
    return bisect.bisect_right(BOUNDS_MS, latency_ms)


def bucket_range(index: int) -> tuple[float, float]:
    """[lower, upper) of bucket index; the last bucket's upper is infinity."""
    lower = 0.0 if index == 0 else float(BOUNDS_MS[index - 1])
    upper = float(BOUNDS_MS[index]) if index < len(BOUNDS_MS) else math.inf
    return lower, upper


def empty() -> list[int]:
    return [0] * BUCKET_COUNT


def from_latencies(latencies: Iterable[float]) -> list[int]:
    counts = empty()
    for latency in latencies:
        counts[bucket_index(latency)] += 1
    return counts


def merge(*histograms: Sequence[int]) -> list[int]:
    total = empty()
    for histogram in histograms:
        if not histogram:
            continue
        if len(histogram) != BUCKET_COUNT:
            raise ValueError(f"histogram has {len(histogram)} buckets, expected {BUCKET_COUNT}")
        for index, count in enumerate(histogram):
            total[index] += count
    return total


def percentile_bucket(histogram: Sequence[int], quantile: float) -> int | None:
    """The bucket holding the nearest-rank quantile (0 < quantile <= 1), or None when empty."""
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    total = sum(histogram)
    if total == 0:
        return None
    rank = math.ceil(quantile * total)
    running = 0
    for index, count in enumerate(histogram):
        running += count
        if running >= rank:
            return index
    return len(histogram) - 1  # pragma: no cover - unreachable when counts are consistent


def percentile(histogram: Sequence[int], quantile: float) -> float | None:
    """An estimate of the quantile in ms: the midpoint of its bucket (lower bound for the open last bucket)."""
    index = percentile_bucket(histogram, quantile)
    if index is None:
        return None
    lower, upper = bucket_range(index)
    return lower if math.isinf(upper) else (lower + upper) / 2
