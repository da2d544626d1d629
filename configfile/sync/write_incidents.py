"""Writing component groups and components."""

from __future__ import annotations

from configfile.schema import ComponentConfig, ComponentGroupConfig
from configfile.sync.writer import Writer
from incidents.models import Component, ComponentGroup
from incidents.services import component_refresh


def write_component_group(writer: Writer, index: int, item: ComponentGroupConfig, group: ComponentGroup | None) -> None:
    group = group or ComponentGroup(name=item.name)
    group.description, group.position, group.is_public = item.description, item.position, item.public

    def write() -> None:
        group.full_clean()
        group.save()
    writer.save(group, ("component_groups", index), write, {"public": "is_public"})


def write_component(writer: Writer, index: int, item: ComponentConfig, component: Component | None) -> None:
    path = ("components", index)
    component = component or Component(name=item.name)
    if item.group:
        component.group, _ = ComponentGroup.objects.get_or_create(name=item.group)
    else:
        component.group = None
    component.description, component.position, component.is_public, component.status = item.description, item.position, item.public, item.status

    def write() -> None:
        component.full_clean()
        component.save()
        component_refresh(component_ids=[component.pk], now=writer.now)
    writer.save(component, path, write, {"public": "is_public"})
