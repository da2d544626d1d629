"""An SLO whose error budget is overspent: the burn-down goes below zero with readable axis
labels, and SLIs are shown in percent next to objectives in percent (issue 17, point 6)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from api.tokens import token_issue
from monitors.models import CheckResult, Monitor, Region
from slo import services
from slo.charts import burn_down
from slo.models import SLO

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 14, 37, tzinfo=UTC)


def axis_labels(svg: str) -> list[tuple[float, str]]:
    return [(float(y), text) for y, text in re.findall(r'<text x="\d+" y="([0-9.]+)" text-anchor="end" font-size="11" fill="#57606a">([^<]*%)</text>', svg)]


def test_a_negative_budget_is_drawn_below_zero_with_labels_that_do_not_overlap():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for lowest in (-0.3, -1.5, -40.0, -2000.0):
        points = [(start, 1.0), (start + timedelta(days=2), 0.1), (start + timedelta(days=4), lowest)]
        svg = burn_down(points, start=start, end=start + timedelta(days=30))
        labels = axis_labels(svg)
        ys = sorted(y for y, _text in labels)
        assert "0%" in [text for _y, text in labels] and "budget overspent" in svg, lowest
        assert all(b - a >= 14 for a, b in itertools.pairwise(ys)), (lowest, labels)
        drawn = [float(v) for pair in re.search(r'points="([^"]+)"', svg).group(1).split() for v in pair.split(",")[1:]]
        assert all(10 <= y <= 240 - 28 for y in drawn), (lowest, drawn)  # inside the plot, the lowest point included
        assert max(drawn) > ys[[t for _y, t in labels].index("0%")], lowest  # below the 0% line


def test_slis_read_in_percent_on_the_pages_and_in_the_api(client, viewer):
    monitor = Monitor.objects.create(name="web", kind="tcp", target="127.0.0.1:1")
    slo = SLO.objects.create(name="Web availability", objective=99.9, window="rolling_7d")
    slo.monitors.set([monitor])
    region = Region.objects.get(name="default")
    CheckResult.objects.bulk_create([CheckResult(monitor=monitor, at=NOW - timedelta(minutes=i), region=region,
                                                 outcome=2 if i % 10 == 0 else 0, latency_ms=30) for i in range(1, 300)])
    for minutes in (120, 60, 0):
        snapshot = services.refresh(slo, now=NOW - timedelta(minutes=minutes))
    assert snapshot.remaining_ratio < 0  # 10% of checks down against 0.1% allowed
    client.force_login(viewer)
    with time_machine.travel(NOW, tick=False):
        listing = client.get("/slos/").content.decode()
        page = client.get(f"/slos/{slo.pk}/").content.decode()
    sli = f"{100 * snapshot.sli:.3f}%"
    assert sli in listing and "99.9%" in listing
    assert f"<dd>{sli} <span" in page and "(objective 99.9%)" in page and "budget overspent" in page
    _token, clear = token_issue(user=viewer, name="t", scope="read")
    latest = client.get(f"/api/v1/slos/{slo.pk}", HTTP_AUTHORIZATION=f"Bearer {clear}").json()["latest"]
    assert latest["sli_percent"] == pytest.approx(100 * latest["sli"])
