"""The plan: what the file says against what the database says, item by item, in the meaning of each field."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from alerting.models import Integration
from configfile.schema import EXPECT_SETTINGS, SECTIONS, ComponentGroupConfig, HeartbeatConfig, VigilConfig
from configfile.sync.read import STORED_TOKEN_PREFIX, export, key_of
from core.secrets import SECRET_MASK, is_env_reference
from incidents.models import ComponentGroup
from monitors import bounds

# Lists whose order means nothing: compared and written sorted.
UNORDERED = {"regions", "tags", "monitors", "components", "channels", "states", "monitor_kinds", "to"}


def canonical(section: str, item: Any) -> dict[str, Any]:
    """What an item means, independent of how it was spelled (url vs target, expect vs settings, order of sets)."""
    data = item.model_dump(mode="python", by_alias=True)
    if section == "monitors":
        if data.pop("url", None):
            data["target"] = item.url
        settings = dict(data.pop("settings") or {})
        for short, key in EXPECT_SETTINGS.items():
            value = getattr(item.expect, short, None) if item.expect else None
            if value is not None:
                settings[key] = round(value * 1000) if key.startswith("latency_") else value
        data.pop("expect", None)
        data["settings"] = settings
        heartbeat = data.pop("heartbeat", None) or HeartbeatConfig().model_dump()
        data["heartbeat"] = heartbeat if item.kind == "heartbeat" else None
        if data.get("retry_interval") is None:  # left out: the default, which follows the interval
            data["retry_interval"] = bounds.default_retry_interval(item.interval)
    if section == "integrations" and item.kind in Integration.TOKEN_KINDS and isinstance(data.get("token"), str) \
            and data["token"] != SECRET_MASK and not is_env_reference(data["token"]) and not data["token"].startswith(STORED_TOKEN_PREFIX):
        data["token"] = STORED_TOKEN_PREFIX + hashlib.sha256(data["token"].strip().encode()).hexdigest()  # kept only as its hash
    for name in UNORDERED & set(data):
        if isinstance(data[name], list) and not (section == "status_pages" and name == "components"):
            data[name] = sorted(data[name], key=str)
    return data


@dataclass
class Change:
    section: str
    name: str
    action: str  # create, update, delete
    fields: list[str] = field(default_factory=list)


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    kept: dict[str, list[str]] = field(default_factory=dict)  # in the database, not in the file, no --prune
    warnings: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def render(self) -> str:
        lines = []
        signs = {"create": "+", "update": "~", "delete": "-"}
        for section in SECTIONS:
            changes = [change for change in self.changes if change.section == section]
            kept = self.kept.get(section, [])
            if not changes and not kept:
                continue
            lines.append(f"{section}:")
            for change in changes:
                detail = f"  ({', '.join(change.fields)})" if change.fields else ""
                lines.append(f"  {signs[change.action]} {change.name}{detail}")
            if kept:
                lines.append(f"    {len(kept)} not in the file, kept (--prune deletes them): {', '.join(kept[:10])}{' …' if len(kept) > 10 else ''}")
        lines.append(f"Plan: {self.count('create')} to create, {self.count('update')} to update, {self.count('delete')} to delete, "
                     f"{self.unchanged} unchanged.")
        lines.extend(f"warning: {warning}" for warning in self.warnings)
        return "\n".join(lines)


def _unmask(new: Any, old: Any) -> Any:
    """A masked secret in the file means the stored one."""
    if new == SECRET_MASK:
        return old
    if isinstance(new, dict):
        return {key: _unmask(value, old.get(key) if isinstance(old, dict) else None) for key, value in new.items()}
    if isinstance(new, list):
        return [_unmask(value, old[i] if isinstance(old, list) and i < len(old) else None) for i, value in enumerate(new)]
    return new


def _keep_ping_token(data: dict[str, Any], stored: dict[str, Any] | None) -> None:
    """A heartbeat written without ping_token keeps the one it has (only a new monitor gets a new one)."""
    heartbeat, stored_heartbeat = data.get("heartbeat"), (stored or {}).get("heartbeat")
    if heartbeat and heartbeat.get("ping_token") is None and stored_heartbeat:
        heartbeat["ping_token"] = stored_heartbeat.get("ping_token")


def with_implied_groups(config: VigilConfig) -> VigilConfig:
    """Groups named by components but not listed are part of the file too (as they are, or new)."""
    listed = {group.name for group in config.component_groups}
    implied = [name for name in dict.fromkeys(c.group for c in config.components if c.group) if name not in listed]
    if not implied:
        return config
    existing = {group.name: group for group in ComponentGroup.objects.filter(name__in=implied)}
    extra = [ComponentGroupConfig(name=name, description=existing[name].description, position=existing[name].position,
                                  public=existing[name].is_public) if name in existing else ComponentGroupConfig(name=name) for name in implied]
    return config.model_copy(update={"component_groups": [*config.component_groups, *extra]})


def plan(config: VigilConfig, *, prune: bool) -> Plan:
    config = with_implied_groups(config)
    result = Plan()
    current = export(reveal=True)
    for section in SECTIONS:
        existing = {key_of(item): canonical(section, item) for item in getattr(current, section)}
        wanted = [(key_of(item), _unmask(canonical(section, item), existing.get(key_of(item)))) for item in getattr(config, section)]
        if section == "monitors":
            for name, data in wanted:
                _keep_ping_token(data, existing.get(name))
        if section == "integrations":
            for name, data in wanted:
                if data.get("token") is None and name in existing:  # no token in the file: the integration keeps its own
                    data["token"] = existing[name].get("token")
        for name, data in wanted:
            if name not in existing:
                result.changes.append(Change(section, name, "create"))
            elif existing[name] != data:
                differing = sorted(key for key in data if data[key] != existing[name].get(key))
                result.changes.append(Change(section, name, "update", differing))
            else:
                result.unchanged += 1
        missing = [name for name in existing if name not in {name for name, _ in wanted}]
        if prune:
            result.changes.extend(Change(section, name, "delete") for name in missing)
        elif missing:
            result.kept[section] = missing
    return result
