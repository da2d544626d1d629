"""Writing status pages and SLOs."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from alerting.models import AlertRule
from configfile.schema import SLOConfig, StatusPageConfig
from configfile.sync.read import WINDOWS
from configfile.sync.writer import Writer
from incidents.models import Component
from monitors.models import Monitor
from slo.models import SLO
from statuspage.models import StatusPage
from statuspage.services import page_save


def write_status_page(writer: Writer, index: int, item: StatusPageConfig, page: StatusPage | None) -> None:
    path = ("status_pages", index)
    page = page or StatusPage(slug=item.slug)
    components = writer.lookup(Component, item.components, (*path, "components"))
    page.title, page.description, page.domain, page.is_default = item.title, item.description, item.domain, item.default
    page.visibility = StatusPage.Visibility.PRIVATE if item.private else StatusPage.Visibility.PUBLIC
    page.time_zone, page.brand_colour, page.logo_url, page.support_url = item.time_zone, item.brand_colour, item.logo_url, item.support_url
    page.clock = item.clock
    page.footer_links = [link.model_dump() for link in item.footer_links]
    page.allow_subscriptions = item.subscriptions
    if item.private and not page.access_token_hash:
        writer.warnings.append(f"status page {item.slug!r} is private: make its access token in the admin")
    writer.save(page, path, lambda: page_save(page=page, component_ids=[c.pk for c in components]),
                {"default": "is_default", "private": "visibility", "subscriptions": "allow_subscriptions"})


def write_slo(writer: Writer, index: int, item: SLOConfig, slo: SLO | None) -> None:
    path = ("slos", index)
    slo = slo or SLO(name=item.name)
    monitors = writer.lookup(Monitor, item.monitors, (*path, "monitors"))
    slo.component = writer.one(Component, item.component, (*path, "component"))
    slo.alert_rule = writer.one(AlertRule, item.alert_rule, (*path, "alert_rule"))
    owners = writer.lookup(get_user_model(), [item.owner], (*path, "owner"), field_name="username") if item.owner else []
    slo.owner = owners[0] if owners else None
    slo.description, slo.kind, slo.objective, slo.window = item.description, item.kind, item.objective, WINDOWS[item.window]
    slo.latency_threshold_ms = round(item.latency_threshold * 1000) if item.latency_threshold is not None else None
    slo.time_zone, slo.exclude_maintenance = item.time_zone, item.exclude_maintenance
    slo.min_events, slo.min_bad_events = item.min_events, item.min_bad_events

    def write() -> None:
        slo.full_clean()
        slo.save()
        slo.monitors.set(monitors)
    writer.save(slo, path, write, {"latency_threshold": "latency_threshold_ms"})
