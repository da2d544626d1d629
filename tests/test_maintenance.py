"""Maintenance windows move on time, put their components under maintenance, keep monitors from failing, and recur."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from core import events
from incidents import services
from incidents.models import Component, Maintenance
from monitors import services as monitor_services
from monitors.checkers.base import Result
from monitors.models import Monitor, StateChange
from monitors.selectors import monitor_ids_under_maintenance

pytestmark = pytest.mark.django_db
START = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)


@pytest.fixture
def db_component() -> Component:
    return Component.objects.create(name="Database")


def make_window(component: Component, **fields) -> Maintenance:
    maintenance = Maintenance(title="DB upgrade", starts_at=START, ends_at=START + timedelta(hours=1), **fields)
    return services.maintenance_save(maintenance=maintenance, components=[component], by=None, now=START - timedelta(days=1))


def test_it_moves_through_its_statuses_on_time(db_component):
    maintenance = make_window(db_component)
    with time_machine.travel(START - timedelta(minutes=1), tick=False):
        services.maintenance_tick(now=datetime.now(UTC))
    assert Maintenance.objects.get().status == "scheduled"
    with time_machine.travel(START + timedelta(seconds=5), tick=False):
        services.maintenance_tick(now=datetime.now(UTC))
    maintenance.refresh_from_db()
    db_component.refresh_from_db()
    assert maintenance.status == "in_progress" and maintenance.started_at == START + timedelta(seconds=5)
    assert db_component.status == "under_maintenance"
    with time_machine.travel(START + timedelta(hours=1, seconds=5), tick=False):
        services.maintenance_tick(now=datetime.now(UTC))
    maintenance.refresh_from_db()
    db_component.refresh_from_db()
    assert maintenance.status == "completed"
    assert db_component.status == "operational"


def test_monitors_under_maintenance_are_not_failed(db_component):
    monitor = Monitor.objects.create(name="pg", kind="postgres", target="postgres://127.0.0.1:1/x", component=db_component, retries=0)
    make_window(db_component)
    services.maintenance_tick(now=START + timedelta(minutes=1))
    assert monitor_ids_under_maintenance() == {monitor.pk}
    at = START + timedelta(minutes=2)
    monitor_services.record_results(region_name="default", checked=[monitor_services.Checked(monitor.pk, at, Result("down"))], now=at)
    monitor.refresh_from_db()
    assert monitor.state == "maintenance"
    assert not StateChange.objects.filter(monitor=monitor, new_state="down").exists()
    services.maintenance_tick(now=START + timedelta(hours=2))
    events.drain(now=START + timedelta(hours=2))  # the monitors app leaves maintenance on the event
    monitor.refresh_from_db()
    assert monitor.state == "down"  # the window ended; the confirmed failure shows now
    assert StateChange.objects.filter(monitor=monitor, old_state="maintenance", new_state="down").exists()


def test_a_recurring_window_schedules_its_next_occurrence(db_component):
    make_window(db_component, recurrence="FREQ=WEEKLY;BYDAY=SU")
    services.maintenance_tick(now=START + timedelta(minutes=1))
    services.maintenance_tick(now=START + timedelta(hours=1, minutes=1))
    windows = list(Maintenance.objects.order_by("starts_at"))
    assert [w.status for w in windows] == ["completed", "scheduled"]
    assert windows[1].starts_at == START + timedelta(days=7)
    assert windows[1].ends_at - windows[1].starts_at == timedelta(hours=1)
    assert list(windows[1].components.all()) == [db_component]


def test_bad_windows_name_the_field(db_component):
    with pytest.raises(ValidationError) as error:
        Maintenance(title="x", starts_at=START, ends_at=START, time_zone="Mars/Base", recurrence="EVERY TUESDAY").full_clean()
    assert set(error.value.message_dict) >= {"ends_at", "time_zone", "recurrence"}


def test_verifying_is_left_to_a_person(db_component, responder):
    maintenance = make_window(db_component)
    services.maintenance_tick(now=START + timedelta(minutes=1))
    services.maintenance_set_status(maintenance_id=maintenance.pk, status="verifying", by=responder, now=START + timedelta(minutes=50))
    services.maintenance_tick(now=START + timedelta(hours=3))
    maintenance.refresh_from_db()
    assert maintenance.status == "verifying"


def test_a_component_id_no_column_can_hold_is_a_field_error(client, responder):
    client.force_login(responder)
    response = client.post("/maintenance/new/", {"title": "x", "components": ["99999999999999999999999"], "starts_at": "2026-12-01T10:00",
                                                 "ends_at": "2026-12-01T11:00", "time_zone": "UTC"})
    assert response.status_code == 400 and "is not a valid value" in response.content.decode()
