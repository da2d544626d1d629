from lib.charts import _segments, line_chart, nice_ceiling, uptime_bars, uptime_colour


def test_axis_tops_are_round_numbers_at_least_the_peak() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 3, 180, 240, 999, 1001)] == [1.0, 1.0, 5, 200, 250, 1000, 2000]


def test_a_bucket_without_data_breaks_the_line_instead_of_dropping_to_zero() -> None:
    assert _segments([(0, 1.0), (1, None), (2, 3.0), (3, 4.0)]) == [[(0, 1.0)], [(2, 3.0), (3, 4.0)]]
    svg = line_chart([("p95", [10, None, 30, 40])], ["a", "b", "c", "d"], title="Latency <p95>", unit=" ms")
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1
    assert "Latency &lt;p95&gt;" in svg and "style=" not in svg and "<script" not in svg


def test_uptime_bars_say_each_bucket_and_colour_by_threshold() -> None:
    svg = uptime_bars([100.0, 99.5, 90.0, None], ["d1", "d2", "d3", "d4"], title="Uptime")
    assert "d2: 99.50% up" in svg and "d4: no data" in svg
    assert [uptime_colour(v) for v in (99.95, 99.5, 50, None)] == ["#1a7f37", "#9a6700", "#cf222e", "#d0d7de"]


def test_threshold_lines_are_drawn_and_the_axis_reaches_them() -> None:
    svg = line_chart([("mean", [0.4, 0.6])], ["a", "b"], title="t", unit="%",
                     thresholds=[(5.0, "critical above 5%", "down"), (1.0, "warning above 1%", "warn")])
    assert '<g class="threshold threshold-down"><title>critical above 5%</title>' in svg
    assert '<g class="threshold threshold-warn"><title>warning above 1%</title>' in svg
    assert ">5%</text>" in svg  # the axis top is the critical limit, not the 0.6 peak
    assert "style=" not in svg
