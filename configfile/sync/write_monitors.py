"""Writing monitors."""

from __future__ import annotations

from configfile.schema import EXPECT_SETTINGS, HeartbeatConfig, MonitorConfig
from configfile.sync.writer import Writer
from incidents.models import Component
from monitors import services as monitor_services
from monitors.models import Monitor, Region


def write_monitor(writer: Writer, index: int, item: MonitorConfig, monitor: Monitor | None) -> None:
    """Through monitors.services.monitor_upsert, the writer the admin and the API use (the whole file is audited once)."""
    path = ("monitors", index)
    settings = dict(item.settings)
    for short, key in EXPECT_SETTINGS.items():
        value = getattr(item.expect, short, None) if item.expect else None
        if value is not None:
            settings[key] = round(value * 1000) if key.startswith("latency_") else value
    heartbeat = item.heartbeat or HeartbeatConfig()
    regions = []
    for name in item.regions:
        region, made = Region.objects.get_or_create(name=name, defaults={"label": name})
        if made:
            writer.warnings.append(f"region {name!r} is new: start a probe worker for it (docs/deployment.md: a worker with VIGIL_REGION={name}) or its checks wait")
        regions.append(region)
    changes = {
        "name": item.name, "kind": item.kind, "target": item.url or item.target,
        "settings": writer.settings(settings, monitor.settings if monitor else None, (*path, "settings")),
        "interval_seconds": round(item.interval), "timeout_seconds": float(item.timeout), "retries": item.retries,
        "retry_interval_seconds": None if item.retry_interval is None else round(item.retry_interval), "recovery_confirmations": item.recovery_confirmations, "quorum": item.quorum,
        "component": writer.one(Component, item.component, (*path, "component")),
        "heartbeat_grace_seconds": round(heartbeat.grace), "heartbeat_schedule": heartbeat.schedule or "",
        "heartbeat_time_zone": heartbeat.time_zone,
        "regions": regions or [monitor_services.default_region()], "tags": item.tags, "paused": item.paused,
    }
    if not heartbeat.schedule:  # with a schedule the stored period is kept as it is (the file does not say one)
        changes["heartbeat_period_seconds"] = round(heartbeat.period)
    token = heartbeat.ping_token if item.kind == Monitor.Kind.HEARTBEAT else None
    if token is not None and monitor is not None and monitor.ping_token != token:
        writer.source.problem((*path, "heartbeat", "ping_token"), f"monitor {item.name!r} pings /ping/{monitor.ping_token}; a file does "
                              "not change the token of an existing monitor (its jobs use it): write that one or leave ping_token out")
    if token is not None and monitor is None:
        monitor = Monitor(ping_token=token)
    writer.save(monitor, path, lambda: monitor_services.monitor_upsert(monitor=monitor, changes=changes, by=writer.by, now=writer.now),
                {"interval": "interval_seconds", "timeout": "timeout_seconds", "retry_interval": "retry_interval_seconds",
                 "target": "target", "settings": "settings",
                 "heartbeat.schedule": "heartbeat_schedule", "heartbeat.time_zone": "heartbeat_time_zone",
                 "heartbeat.ping_token": "ping_token"})
