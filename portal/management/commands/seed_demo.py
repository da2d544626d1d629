from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import AutoIncidentRule, Component, ComponentGroup, Maintenance
from monitors import services as monitor_services
from monitors.models import Monitor
from statuspage import services as page_services
from statuspage.models import StatusPage

MARKER_COMPONENT = "Vigil portal"


# The demo's past incident, marked as sample data (make screenshots photographs it).
SAMPLE_INCIDENT_TITLE = "Sample incident (demo data): Demo API returned errors"


class Command(BaseCommand):
    help = ("Load demo data once: components, monitors against this portal and a local demo target. "
            "Not in production (VIGIL_ENV=production) unless VIGIL_DEMO=1 or --force.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--base-url", default="", help="Where this portal answers (default VIGIL_BASE_URL or http://127.0.0.1:$PORT).")
        parser.add_argument("--force", action="store_true", help="Load the demo data in production too.")

    def handle(self, *args: Any, base_url: str, force: bool = False, **options: Any) -> None:
        if settings.PRODUCTION and not (force or settings.VIGIL_DEMO):
            # The demo monitors watch a local demo target: in production they go down and the
            # status page would announce an outage that is not there.
            self.stdout.write("No demo data in production (VIGIL_ENV=production): its monitors would go down and publish "
                              "a false outage. To load it anyway, set VIGIL_DEMO=1 or run `manage.py seed_demo --force`.")
            return
        if Component.objects.filter(name=MARKER_COMPONENT).exists():
            self.stdout.write("Demo data is loaded already; nothing to do.")
            return
        import os

        base = (base_url or settings.VIGIL_BASE_URL).rstrip("/")
        if not base_url and "PORT" in os.environ and base.endswith(":8000"):
            base = f"http://127.0.0.1:{os.environ['PORT']}"
        now = timezone.now()
        with transaction.atomic():
            core, _ = ComponentGroup.objects.get_or_create(name="Core services", defaults={"position": 1})
            portal = Component.objects.create(name=MARKER_COMPONENT, group=core, position=1, description="This Vigil installation")
            api = Component.objects.create(name="Demo API", group=core, position=2, description="The local demo target")
            jobs = Component.objects.create(name="Nightly jobs", position=3, description="Batch jobs that report by heartbeat")
            self.stdout.write(f"  components: 3 ({portal}, {api}, {jobs})")
            monitors = [
                Monitor(name="Vigil self health", kind=Monitor.Kind.HEALTH_JSON, target=f"{base}/health", component=portal,
                        interval_seconds=30, timeout_seconds=5, settings={"latency_warn_ms": 1000, "latency_down_ms": 4000}),
                Monitor(name="Demo API health", kind=Monitor.Kind.HTTP, target=f"{base}/demo/target", component=api,
                        interval_seconds=30, timeout_seconds=5,
                        settings={"expected_status": [200], "json_path": '$.status in ["healthy", "degraded"]', "latency_warn_ms": 1000}),
                # Slower than the rest but inside its latency budget: the demo shows a healthy
                # system (a 1.5 s delay against a 1 s warning kept it degraded for ever).
                Monitor(name="Demo API slow endpoint", kind=Monitor.Kind.HTTP, target=f"{base}/demo/target?delay_ms=400", component=api,
                        interval_seconds=60, timeout_seconds=5, settings={"latency_warn_ms": 1000, "latency_down_ms": 4000}),
                Monitor(name="Portal TCP port", kind=Monitor.Kind.TCP, target=base.split("://", 1)[1].split("/")[0], component=portal,
                        interval_seconds=60, timeout_seconds=3),
                Monitor(name="Nightly backup", kind=Monitor.Kind.HEARTBEAT, component=jobs, interval_seconds=60, timeout_seconds=5,
                        heartbeat_period_seconds=86400, heartbeat_grace_seconds=3600, retries=0),
            ]
            for monitor in monitors:
                monitor_services.monitor_upsert(monitor=monitor, now=now)
            self.stdout.write(f"  monitors: {len(monitors)} (checks start within a minute)")
            backup = monitors[-1]
            monitor_services.record_ping(monitor=backup, signal="success", exit_code=None, body="", now=now)
            self.stdout.write(f"  heartbeat URL for 'Nightly backup': {base}/ping/{backup.ping_token}")
            AutoIncidentRule.objects.create(component=api, trigger_status=Component.Status.PARTIAL_OUTAGE)
            # Sample history, marked as such: the only past the demo shows. Its time lies before
            # the components existed, so it counts on no uptime bar (bars start at a
            # component's creation and show no data until its first check).
            started = now - timedelta(days=3, hours=2)
            incident = incident_services.incident_open(
                title=SAMPLE_INCIDENT_TITLE, impact="major",
                message="Sample data written by `seed_demo`: we are investigating errors from the Demo API.",
                components={api.pk: Component.Status.PARTIAL_OUTAGE}, by=None, now=started,
            )
            for minutes, status, text in (
                (12, "identified", "A bad configuration push caused the errors; rolling it back."),
                (25, "monitoring", "The rollback is complete; error rates are back to normal. We keep watching."),
                (55, "resolved", "Resolved. The Demo API has been healthy for half an hour."),
            ):
                incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status=status, message=text,
                                                       by=None, now=started + timedelta(minutes=minutes))
            postmortem = incident_services.postmortem_start(incident_id=incident.pk, by=None, now=started + timedelta(hours=2))
            postmortem.summary = ("A configuration push to the Demo API set its upstream pool to zero connections; "
                                  "requests failed with 502 for 55 minutes until the push was rolled back.")
            postmortem.impact = "About a third of Demo API requests failed between the push and the rollback."
            postmortem.root_cause = "The configuration schema allowed a pool size of 0, and the push skipped the canary stage."
            postmortem.lessons = "- Pool sizes below 1 are now refused.\n- Configuration pushes always go through the canary."
            postmortem.save()
            incident_services.postmortem_publish(postmortem_id=postmortem.pk, by=None, now=started + timedelta(days=1))
            self.stdout.write("  a sample past incident with 4 updates and a published postmortem (marked as demo data)")
            window_start = (now + timedelta(days=2)).replace(hour=2, minute=0, second=0, microsecond=0)
            incident_services.maintenance_save(
                maintenance=Maintenance(title="Database upgrade", message="Minor version upgrade; a few seconds of errors are possible.",
                                        starts_at=window_start, ends_at=window_start + timedelta(hours=1)),
                components=[portal], by=None, now=now,
            )
            self.stdout.write(f"  a maintenance window on {window_start:%Y-%m-%d %H:%M} UTC")
            page = StatusPage.objects.filter(is_default=True).first() or StatusPage(slug="public", is_default=True)
            page.title = "Vigil demo status"
            page.description = "The status of this Vigil installation and its demo target."
            page.footer_links = [{"label": "Operator docs", "url": "/docs/"}]
            # No selection: the default page shows every public component, those made later too.
            page_services.page_save(page=page, component_ids=[])
            self.stdout.write(f"  the status page at {base}/status/")
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
