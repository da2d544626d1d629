"""The portal watching itself: requests, database and queues from its own /metrics, and the
daily / weekly / monthly checklist of what needs attention."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from alerting.models import Alert, AlertRule, Channel, Notification
from api.models import ApiToken
from core import events
from core.metrics import portal_registry
from core.models import EventFailure
from core.roles import RESPONDER, VIEWER, has_role, role_required
from core.services import audit_record
from incidents.models import Incident, Postmortem
from monitors.models import CheckResult, Monitor, StateChange
from slo.models import SLO, SLOSnapshot
from statuspage.snapshot import failing_documents


def histogram_quantile(quantile: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' estimate: linear interpolation inside the bucket holding the rank. buckets: (le, cumulative count)."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = quantile * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            width = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / width if width else 1.0)
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass
class ViewStats:
    view: str
    requests: float = 0
    errors: float = 0
    buckets: dict[float, float] = field(default_factory=dict)

    def quantile(self, q: float) -> float | None:
        value = histogram_quantile(q, list(self.buckets.items()))
        return None if value is None else value * 1000


def _read_metrics() -> dict[str, Any]:
    by_view: dict[str, ViewStats] = {}
    classes: dict[str, float] = defaultdict(float)
    gauges: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    counters: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in portal_registry().collect():
        for sample in family.samples:
            labels, value = sample.labels, sample.value
            if sample.name == "vigil_http_requests_total":
                stats = by_view.setdefault(labels["view"], ViewStats(labels["view"]))
                stats.requests += value
                classes[labels["status"][0] + "xx"] += value
                if labels["status"].startswith("5"):
                    stats.errors += value
            elif sample.name == "vigil_http_request_duration_seconds_bucket":
                stats = by_view.setdefault(labels["view"], ViewStats(labels["view"]))
                bound = float(labels["le"])
                stats.buckets[bound] = stats.buckets.get(bound, 0) + value
            elif family.type == "gauge":
                gauges[sample.name].append((labels, value))
            elif sample.name.endswith("_total"):
                counters[sample.name].append((labels, value))
    everything = ViewStats("all views")
    for stats in by_view.values():
        everything.requests += stats.requests
        everything.errors += stats.errors
        for bound, count in stats.buckets.items():
            everything.buckets[bound] = everything.buckets.get(bound, 0) + count
    views = sorted(by_view.values(), key=lambda stats: -stats.requests)
    return {"views": views, "all": everything, "classes": dict(sorted(classes.items())), "gauges": gauges, "counters": counters}


def _database() -> dict[str, Any]:
    info: dict[str, Any] = {"vendor": connection.vendor, "tables": []}
    if connection.vendor != "postgresql":
        return info
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        info["size_bytes"] = cursor.fetchone()[0]
        cursor.execute("""SELECT relname, n_live_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables
                          ORDER BY pg_total_relation_size(relid) DESC LIMIT 8""")
        info["tables"] = [{"name": name, "rows": rows, "bytes": size} for name, rows, size in cursor.fetchall()]
    return info


def _gauge(gauges: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float | None:
    values = gauges.get(name) or []
    return sum(value for _labels, value in values) if values else None


@role_required(VIEWER)
def operations(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    metrics = _read_metrics()
    gauges = metrics["gauges"]
    deliveries = defaultdict(lambda: defaultdict(float))  # type: ignore[var-annotated]
    for labels, value in metrics["counters"].get("vigil_notification_deliveries_total", []):
        deliveries[labels["kind"]][labels["outcome"]] += value
    checks = defaultdict(float)  # type: ignore[var-annotated]
    for labels, value in metrics["counters"].get("vigil_check_results_total", []):
        checks[labels["outcome"]] += value
    recent_checks = CheckResult.objects.filter(at__gte=now - timedelta(minutes=5)).count()
    connections = {labels.get("state", ""): value for labels, value in gauges.get("vigil_db_connections", [])}
    views = [{"view": v.view, "requests": v.requests, "errors": v.errors, "p50": v.quantile(0.5), "p95": v.quantile(0.95),
              "p99": v.quantile(0.99)} for v in metrics["views"]]
    context = {
        "metrics": metrics, "views": views, "overall_p50": metrics["all"].quantile(0.5), "overall_p95": metrics["all"].quantile(0.95),
        "overall_p99": metrics["all"].quantile(0.99), "database": _database(), "connections": connections,
        "connections_used": sum(connections.values()) if connections else None,
        "max_connections": _gauge(gauges, "vigil_db_max_connections"),
        "queues": [(labels["queue"], value) for labels, value in gauges.get("vigil_queue_depth", [])],
        "beat_lag": _gauge(gauges, "vigil_beat_last_tick_age_seconds"), "workers": _gauge(gauges, "vigil_workers_alive"),
        "redis_up": _gauge(gauges, "vigil_redis_up"),
        "deliveries": {kind: dict(outcomes) for kind, outcomes in sorted(deliveries.items())},
        "delivery_failures_24h": Notification.objects.filter(status=Notification.Status.FAILED, created_at__gte=now - timedelta(days=1)).count(),
        "pending_notifications": Notification.objects.filter(status__in=[Notification.Status.PENDING, Notification.Status.SENDING]).count(),
        "checks": dict(checks), "checks_per_minute": recent_checks / 5,
        "overdue": Monitor.objects.filter(paused=False, next_due_at__lt=now - timedelta(seconds=60)).exclude(kind=Monitor.Kind.HEARTBEAT).count(),
        "consumers": events.status(),
        "event_failures": EventFailure.objects.exclude(state=EventFailure.State.WAITING).select_related("event")[:50],
        "can_retry": has_role(request.user, RESPONDER),
        "status_page_failures": _status_page_failures(),
    }
    return render(request, "dashboard/operations.html", context)


def _status_page_failures() -> list[dict[str, Any]]:
    rows = []
    for slug, documents in sorted(failing_documents().items()):
        for name, failure in sorted(documents.items()):
            since = parse_datetime(failure.get("since") or "")
            rows.append({"page": slug, "document": "every document" if name == "*" else name, "error": failure.get("error", ""),
                         "since": since})
    return rows


@require_POST
@role_required(RESPONDER)
def retry_event(request: HttpRequest, pk: int) -> HttpResponse:
    """Run a quarantined (or retrying) event again now, after its cause was fixed."""
    failure = get_object_or_404(EventFailure, pk=pk)
    handled, _failed = events.retry(failure_ids=[failure.pk], now=timezone.now())
    audit_record(actor=request.user, action="retry_event", target=failure, request=request, source="console",
                 changes={"consumer": failure.consumer, "event": failure.event_id, "handled": bool(handled)})
    if handled:
        messages.success(request, f"Event #{failure.event_id} handled by {failure.consumer}.")
    else:
        failure.refresh_from_db()
        messages.error(request, f"Event #{failure.event_id} failed again in {failure.consumer}: {failure.last_error}")
    return redirect(reverse("operations") + "#events-heading")


@dataclass
class Item:
    title: str
    why: str
    rows: list[tuple[str, str, str]]  # (label, detail, link)
    count: int


def _item(title: str, why: str, rows: list[tuple[str, str, str]], count: int | None = None) -> Item:
    return Item(title, why, rows[:15], len(rows) if count is None else count)


def _monitor_row(monitor: Monitor, detail: str) -> tuple[str, str, str]:
    return (monitor.name, detail, reverse("monitor-detail", args=[monitor.pk]))


@role_required(VIEWER)
def checklist(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    day_ago, week_ago = now - timedelta(days=1), now - timedelta(days=7)
    flapping = Monitor.objects.filter(is_flapping=True).order_by("name")
    down_long = Monitor.objects.filter(state=Monitor.State.DOWN, state_since__lt=day_ago).order_by("state_since")
    unacked = Alert.objects.filter(status=Alert.Status.FIRING, fired_at__lt=now - timedelta(hours=1)).select_related("monitor")
    failing = (Channel.objects.annotate(failed=Count("notifications", filter=Q(notifications__status=Notification.Status.FAILED,
                                                                               notifications__created_at__gte=week_ago)))
               .filter(failed__gt=0).order_by("-failed"))
    expiring = Monitor.objects.filter(tls_expires_at__lt=now + timedelta(days=30)).order_by("tls_expires_at")
    ever_up = StateChange.objects.filter(monitor=OuterRef("pk"), new_state=Monitor.State.UP)
    never_up = (Monitor.objects.filter(paused=False, created_at__lt=day_ago).exclude(state=Monitor.State.UP)
                .annotate(was_up=Exists(ever_up)).filter(was_up=False).order_by("name"))
    paused = Monitor.objects.filter(paused=True, state_since__lt=week_ago).order_by("state_since")
    no_runbook = AlertRule.objects.filter(enabled=True, runbook_url="", runbook_text="").order_by("name")
    covered = AlertRule.objects.filter(enabled=True)
    uncovered: list[Monitor] = []
    if not covered.filter(monitors__isnull=True, components__isnull=True, tags__isnull=True).exists():
        uncovered = list(Monitor.objects.filter(paused=False, alert_rules__isnull=True).exclude(
            component__alert_rules__isnull=False).exclude(tags__alert_rules__isnull=False).distinct().order_by("name")[:200])
    latest = SLOSnapshot.objects.filter(slo=OuterRef("pk")).order_by("-at")
    slos = [slo for slo in SLO.objects.annotate(latest_status=Subquery(latest.values("status")[:1]))
            if slo.latest_status in ("at risk", "exhausted")]  # type: ignore[attr-defined]
    missing_postmortems = (Incident.objects.filter(impact__in=[Incident.Impact.CRITICAL, Incident.Impact.MAJOR], resolved_at__gte=now - timedelta(days=30))
                           .exclude(postmortem__status=Postmortem.Status.PUBLISHED).order_by("-resolved_at"))
    stale_tokens = ApiToken.objects.filter(revoked_at__isnull=True).filter(
        Q(last_used_at__lt=now - timedelta(days=90)) | Q(last_used_at__isnull=True, created_at__lt=now - timedelta(days=90))).select_related("user")

    def days(moment: Any) -> str:
        return f"{(moment - now).total_seconds() / 86400:.0f} days" if moment else ""

    sections = [
        ("Daily", "Start of shift: what is broken or noisy now.", [
            _item("Alerts firing for over an hour, unacknowledged", "Someone should own them or silence them.",
                  [(a.summary, f"since {a.fired_at:%Y-%m-%d %H:%M} UTC", reverse("dashboard")) for a in unacked]),
            _item("Monitors down for over a day", "A long outage nobody fixes is a monitor to fix or pause.",
                  [_monitor_row(m, f"down since {m.state_since:%Y-%m-%d %H:%M}") for m in down_long]),
            _item("Flapping monitors", "Their alerts are held back; tune retries and thresholds.",
                  [_monitor_row(m, m.state_reason) for m in flapping]),
            _item("Channels failing delivery (7 days)", "Alerts sent there are not arriving.",
                  [(c.name, f"{c.failed} failed notifications", reverse("admin:alerting_channel_change", args=[c.pk]))  # type: ignore[attr-defined]
                   for c in failing]),
        ]),
        ("Weekly", "Before they become incidents.", [
            _item("Certificates expiring within 30 days", "Renew, or check that automation will.",
                  [_monitor_row(m, f"expires {m.tls_expires_at:%Y-%m-%d} (in {days(m.tls_expires_at)})") for m in expiring]),
            _item("Monitors never up", "Created over a day ago and never passed: a wrong target or a missing probe.",
                  [_monitor_row(m, m.last_message or m.state) for m in never_up]),
            _item("Monitors paused for over a week", "Resume or delete them.",
                  [_monitor_row(m, f"paused since {m.state_since:%Y-%m-%d}") for m in paused]),
        ]),
        ("Monthly", "Hygiene and coverage.", [
            _item("Alert rules without a runbook", "Whoever is paged needs to know what to do.",
                  [(r.name, r.get_severity_display(), reverse("admin:alerting_alertrule_change", args=[r.pk])) for r in no_runbook]),
            _item("Monitors no alert rule covers", "A failure here pages nobody.",
                  [_monitor_row(m, m.get_kind_display()) for m in uncovered]),
            _item("SLOs at risk or out of budget", "Slow down changes to these services.",
                  [(s.name, s.latest_status.replace("_", " "), reverse("slo-detail", args=[s.pk])) for s in slos]),  # type: ignore[attr-defined]
            _item("SEV-1/2 incidents without a published postmortem (30 days)", "Write it while memory is fresh.",
                  [(i.title, f"resolved {i.resolved_at:%Y-%m-%d}", reverse("incident-detail", args=[i.pk])) for i in missing_postmortems]),
            _item("API tokens unused for 90 days", "Revoke what nothing uses.",
                  [(t.name, f"{t.user.get_username()}, last used {t.last_used_at:%Y-%m-%d}" if t.last_used_at else f"{t.user.get_username()}, never used",
                    reverse("admin:api_apitoken_change", args=[t.pk])) for t in stale_tokens]),
        ]),
    ]
    open_count = sum(item.count for _name, _why, items in sections for item in items)
    return render(request, "dashboard/checklist.html", {"sections": sections, "open_count": open_count})
