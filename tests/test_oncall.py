"""On-call rotations: weekly hand-offs at a local time, across DST, with overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from lib.oncall import Override, last_handoff, on_call

BERLIN = ZoneInfo("Europe/Berlin")
TEAM = ["ada", "bo", "cy"]


def who(when: datetime, overrides=()) -> str | None:
    # Rotation from Monday 2026-03-16, hand-off Mondays 09:00 Berlin time.
    return on_call(TEAM, start=date(2026, 3, 16), weekday=0, at=time(9, 0), tz=BERLIN, now=when, overrides=overrides)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_members_take_turns_at_the_local_handoff_time():
    assert who(berlin(2026, 3, 16, 9, 0)) == "ada"
    assert who(berlin(2026, 3, 23, 8, 59)) == "ada"
    assert who(berlin(2026, 3, 23, 9, 0)) == "bo"
    assert who(berlin(2026, 3, 30, 9, 0)) == "cy"
    assert who(berlin(2026, 4, 6, 9, 0)) == "ada"
    assert who(berlin(2026, 3, 10, 12, 0)) == "ada"  # before the first hand-off: the first member


def test_the_handoff_stays_at_nine_local_across_both_dst_changes():
    # Europe/Berlin moves to summer time on 2026-03-29 and back on 2026-10-25.
    spring = berlin(2026, 3, 30, 9, 0)
    assert who(spring) == "cy" and who(berlin(2026, 3, 30, 8, 59)) == "bo"
    assert spring.astimezone(UTC).hour == 7  # 09:00 CEST
    autumn = berlin(2026, 10, 26, 9, 0)
    assert autumn.astimezone(UTC).hour == 8  # 09:00 CET
    _index, began = last_handoff(start=date(2026, 3, 16), weekday=0, at=time(9, 0), tz=BERLIN, now=autumn)
    assert began == autumn
    before = who(berlin(2026, 10, 26, 8, 59))
    assert who(autumn) != before
    # The shift across the spring change lasted 167 hours of real time.
    _i, start = last_handoff(start=date(2026, 3, 16), weekday=0, at=time(9, 0), tz=BERLIN, now=berlin(2026, 3, 23, 12, 0))
    assert (spring.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600 == 167  # same tzinfo: Python subtracts wall clocks


def test_an_override_wins_while_it_lasts():
    cover = Override("dee", berlin(2026, 3, 24, 18, 0), berlin(2026, 3, 25, 8, 0))
    assert who(berlin(2026, 3, 24, 20, 0), [cover]) == "dee"
    assert who(berlin(2026, 3, 25, 8, 0), [cover]) == "bo"


def test_nobody_when_the_rotation_is_empty():
    assert on_call([], start=date(2026, 1, 1), weekday=0, at=time(9), tz=BERLIN, now=berlin(2026, 3, 1, 0, 0)) is None


@pytest.mark.django_db
def test_the_schedule_model_uses_its_members_and_overrides(django_user_model):
    from alerting.models import OnCallMember, OnCallOverride, OnCallSchedule

    ada = django_user_model.objects.create_user("ada", email="ada@example.com")
    bo = django_user_model.objects.create_user("bo", email="bo@example.com")
    schedule = OnCallSchedule.objects.create(name="primary", time_zone="Europe/Berlin", rotation_start=date(2026, 3, 16))
    OnCallMember.objects.create(schedule=schedule, user=ada, position=0)
    OnCallMember.objects.create(schedule=schedule, user=bo, position=1)
    assert schedule.on_call(berlin(2026, 3, 24, 12, 0)) == bo
    OnCallOverride.objects.create(schedule=schedule, user=ada, starts_at=berlin(2026, 3, 24, 0, 0), ends_at=berlin(2026, 3, 25, 0, 0))
    assert schedule.on_call(berlin(2026, 3, 24, 12, 0)) == ada


@pytest.mark.django_db
def test_the_dashboard_says_who_is_on_call(client, viewer, django_user_model):
    from alerting.models import OnCallMember, OnCallSchedule

    ada = django_user_model.objects.create_user("ada-oncall", email="ada@example.com")
    schedule = OnCallSchedule.objects.create(name="primary", time_zone="UTC", rotation_start=date(2026, 1, 5))
    OnCallMember.objects.create(schedule=schedule, user=ada)
    client.force_login(viewer)
    html = client.get("/dashboard/").content.decode()
    assert "On call now" in html and "primary: <strong>ada-oncall</strong>" in html
    assert "No alert is firing." in html
