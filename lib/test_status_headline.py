from itertools import product

import pytest

from lib.status_headline import headline

STATUSES = ["operational", "degraded_performance", "under_maintenance", "partial_outage", "major_outage"]


def expected(statuses: tuple[str, ...]) -> tuple[str, str]:
    """Statuspage's documented rules, written out case by case."""
    every = lambda status: len(statuses) > 0 and all(s == status for s in statuses)  # noqa: E731
    if "major_outage" in statuses:
        return ("Major System Outage", "critical") if every("major_outage") else ("Partial System Outage", "major")
    if "partial_outage" in statuses:
        return ("Partial System Outage", "major") if every("partial_outage") else ("Minor Service Outage", "minor")
    if "degraded_performance" in statuses:
        if every("degraded_performance"):
            return ("Degraded System Service", "minor")
        return ("Partially Degraded Service", "minor")
    if "under_maintenance" in statuses:
        return ("Service Under Maintenance", "maintenance")
    return ("All Systems Operational", "none")


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4])
def test_every_combination_of_component_statuses_reads_as_statuspage_words_it(size: int) -> None:
    for statuses in product(STATUSES, repeat=size):
        result = headline(statuses)
        assert (result.description, result.indicator) == expected(statuses), statuses


def test_the_reported_cases_read_right() -> None:
    assert headline(["degraded_performance"]).description == "Degraded System Service"
    one_of_five_down = ["major_outage"] + ["operational"] * 4
    assert headline(one_of_five_down) == headline(["partial_outage"] * 5)
    assert headline(one_of_five_down).description == "Partial System Outage"


def test_an_open_incident_outranking_the_components_sets_the_headline() -> None:
    assert headline([], ["minor"]).description == "Minor Service Outage"
    assert headline(["operational"], ["critical"]).indicator == "critical"
    assert headline(["major_outage"], ["minor"]).description == "Major System Outage"
    assert headline(["under_maintenance"], ["none"]).indicator == "maintenance"
