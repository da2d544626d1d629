"""The guides' alert pack (docs/examples/guides-pack.yaml): it imports with its parameters, and
every rule in it fires against a local target that produces its condition: a real HTTP server
serving Prometheus text and the guides' health documents, a TLS server, the test's own
PostgreSQL (connections opened past 80% and 95% of the pack's pool) and heartbeat pings
through /ping/. Checks run through the engine (monitors.tasks.check_batch) with the clock pinned."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.management import call_command

from alerting import services as alerting_services
from alerting.models import Alert, AlertRule, Channel
from configfile import packs
from core import events
from monitors import pings
from monitors.models import Monitor
from monitors.tasks import check_batch
from tests.servers import HTTPServer, TLSServer, respond

pytestmark = pytest.mark.django_db
DATABASE_URL = os.environ.get("DATABASE_URL", "")
needs_postgres = pytest.mark.skipif(not DATABASE_URL.startswith("postgres"), reason="the pool rules need DATABASE_URL on PostgreSQL")
# The TLS handshake checks validity against the real clock, so the pinned clock starts at the real now.
T0 = datetime.now(UTC).replace(microsecond=0)
STEP = timedelta(seconds=30)
LATENCY_BOUNDS = ("0.1", "0.5", "1", "2.5", "5", "10", "+Inf")
POOL_APPLICATION = "h33-guides-pack-test"
# Each test below names the rules it makes fire (exercised(...), after its assertions); the last test
# checks that together they are all of the pack's rules.
EXERCISED: set[str] = set()


class Application:
    """What the team's application serves: counters that grow with each step of traffic, gauges, health."""

    def __init__(self) -> None:
        self.requests = {"200": 0, "500": 0}
        self.latency = dict.fromkeys(LATENCY_BOUNDS, 0)  # per bucket, not cumulative
        self.resident_bytes = 500_000_000
        self.disk_available, self.disk_size = 60e9, 100e9
        self.health_ok = self.database_ok = True
        self.server = HTTPServer({"/metrics": self._metrics, "/health": self._health, "/health/db": self._database})

    def traffic(self, requests: int, error_ratio: float = 0.0, latency_bucket: str = "0.1") -> None:
        errors = round(requests * error_ratio)
        self.requests["500"] += errors
        self.requests["200"] += requests - errors
        self.latency[latency_bucket] += requests

    def _metrics(self, handler) -> None:
        lines = ["# TYPE http_requests_total counter"]
        lines += [f'http_requests_total{{status="{status}"}} {count}' for status, count in self.requests.items()]
        lines.append("# TYPE http_request_duration_seconds histogram")
        cumulative = 0
        for bound in LATENCY_BOUNDS:
            cumulative += self.latency[bound]
            lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {cumulative}')
        lines += [f"http_request_duration_seconds_sum {cumulative * 0.1}", f"http_request_duration_seconds_count {cumulative}",
                  "# TYPE process_resident_memory_bytes gauge", f"process_resident_memory_bytes {self.resident_bytes}",
                  "# TYPE node_filesystem_avail_bytes gauge", f'node_filesystem_avail_bytes{{mountpoint="/"}} {self.disk_available}',
                  "# TYPE node_filesystem_size_bytes gauge", f'node_filesystem_size_bytes{{mountpoint="/"}} {self.disk_size}']
        respond(handler, 200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "text/plain; version=0.0.4"})

    def _health(self, handler) -> None:
        document = {"status": "healthy"} if self.health_ok else {"status": "unhealthy", "checks": {"database": "fail"}}
        respond(handler, 200 if self.health_ok else 503, json.dumps(document).encode(), {"Content-Type": "application/json"})

    def _database(self, handler) -> None:
        document = {"status": "connected", "latency_ms": 8} if self.database_ok else {"status": "disconnected"}
        respond(handler, 200 if self.database_ok else 503, json.dumps(document).encode(), {"Content-Type": "application/json"})


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def expiring_certificate() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A CA made here, and a certificate for localhost from it that expires 30 days after T0."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Pack CA")).issuer_name(_name("Pack CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(T0 - timedelta(days=1))
          .not_valid_after(T0 + timedelta(days=3650)).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(T0 - timedelta(days=1)).not_valid_after(T0 + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False).sign(ca_key, hashes.SHA256()))
    return ca, key, cert


@pytest.fixture
def app():
    application = Application()
    yield application
    application.server.close()


@pytest.fixture
def certificate_authority_and_server():
    ca, key, cert = expiring_certificate()
    with TLSServer(key, cert) as server:
        yield ca, server


def install(app: Application, tls_port: int = 1) -> None:
    Channel.objects.create(name="ops", kind="email", config={"to": ["ops@example.com"]})
    values = {"APP_URL": app.server.url, "TLS_HOST": f"127.0.0.1:{tls_port}", "ALERT_CHANNEL": "ops", "DB_POOL_SIZE": "10",
              "DB_APPLICATION_NAME": POOL_APPLICATION,
              "DATABASE_URL": DATABASE_URL if DATABASE_URL.startswith("postgres") else "postgres://vigil@127.0.0.1:1/none"}
    packs.install(values=values, by=None, dry_run=False, now=T0)


def check(names: list[str], at: datetime) -> None:
    """One engine round at `at` for these monitors, then the reactions and the alerting beat."""
    monitors = list(Monitor.objects.filter(name__in=[f"guides: {name}" for name in names]))
    assert len(monitors) == len(names)
    with time_machine.travel(at, tick=False):
        check_batch([[monitor.pk, at.isoformat()] for monitor in monitors], "default", now=at)
        events.drain(now=at)
        alerting_services.tick(now=at)


def beat(at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        events.drain(now=at)
        alerting_services.tick(now=at)


def firing(rule: str) -> bool:
    return Alert.objects.filter(rule__name=f"guides: {rule}", status=Alert.Status.FIRING).exists()


def exercised(*rules: str) -> None:
    EXERCISED.update(f"guides: {rule}" for rule in rules)


def state(name: str) -> str:
    return Monitor.objects.get(name=f"guides: {name}").state


# --- import --------------------------------------------------------------------------------

def test_the_pack_imports_on_a_fresh_install_and_its_dry_run_shows_the_plan(capsys):
    call_command("import_config", str(packs.GUIDES_PACK), "--dry-run", "--set", "APP_URL=https://api.example.com",
                 "--set", "DATABASE_URL=postgres://vigil@db.internal:5432/app", "--set", "TLS_HOST=api.example.com")
    out = capsys.readouterr().out
    assert "+ guides: error rate" in out and "+ guides: certificate expires in 7 days" in out
    assert "Plan: 26 to create, 0 to update, 0 to delete" in out and "Dry run: nothing was changed." in out
    assert not Monitor.objects.exists()
    call_command("import_config", str(packs.GUIDES_PACK), "--set", "APP_URL=https://api.example.com",
                 "--set", "DATABASE_URL=postgres://vigil@db.internal:5432/app", "--set", "TLS_HOST=api.example.com")
    error_rate = Monitor.objects.get(name="guides: error rate")
    assert error_rate.target == "https://api.example.com/metrics"
    assert error_rate.settings["warn_above"] == 0.01 and error_rate.settings["down_for_seconds"] == 60
    assert Monitor.objects.get(name="guides: connection pool").settings["pool_size"] == 20
    assert Monitor.objects.get(name="guides: database reachable").target == "https://api.example.com/health/db"
    assert set(Monitor.objects.get(name="guides: memory").tags.values_list("name", flat=True)) == {"guides-pack", "overview", "operations"}
    rule = AlertRule.objects.get(name="guides: database unreachable")
    assert rule.for_seconds == 30 and rule.severity == "critical" and "Kill long-running queries" in rule.runbook_text
    assert AlertRule.objects.filter(name__startswith="guides: ").count() == 16
    # Importing it again changes nothing.
    call_command("import_config", str(packs.GUIDES_PACK), "--set", "APP_URL=https://api.example.com",
                 "--set", "DATABASE_URL=postgres://vigil@db.internal:5432/app", "--set", "TLS_HOST=api.example.com")
    assert "Nothing to change." in capsys.readouterr().out


# --- requests ------------------------------------------------------------------------------

def test_error_rate_rules_fire_at_1_percent_after_5_minutes_and_5_percent_after_1_minute(app):
    install(app)
    at = T0
    for _ in range(12):  # six minutes at 0.5%: within limits
        app.traffic(1000, 0.005)
        check(["error rate"], at)
        at += STEP
    assert state("error rate") == "up" and not firing("error rate above 1%")
    first_breach = None
    while not firing("error rate above 1%"):  # 2% of requests fail from now on
        app.traffic(1000, 0.02)
        check(["error rate"], at)
        if first_breach is None and "> 1%" in Monitor.objects.get(name="guides: error rate").last_message:
            first_breach = at
        at += STEP
        assert at - T0 < timedelta(minutes=20), "the 1% rule never fired"
    assert first_breach is not None and at - STEP - first_breach >= timedelta(minutes=5)
    assert not firing("error rate above 5%")
    first_critical = None
    while not firing("error rate above 5%"):
        app.traffic(1000, 0.20)
        check(["error rate"], at)
        if first_critical is None and "> 5%" in Monitor.objects.get(name="guides: error rate").last_message:
            first_critical = at
        at += STEP
        assert at - T0 < timedelta(minutes=40), "the 5% rule never fired"
    assert first_critical is not None and at - STEP - first_critical >= timedelta(minutes=1)
    assert state("error rate") == "down"
    exercised("error rate above 1%", "error rate above 5%")


def test_the_error_rate_warning_waits_its_5_minutes(app):
    install(app)
    at = T0
    while "> 1%" not in Monitor.objects.filter(name="guides: error rate").values_list("last_message", flat=True).first():
        app.traffic(1000, 0.02)  # 2% from the start: a breach once the 5-minute window has its history
        check(["error rate"], at)
        at += STEP
        assert at - T0 < timedelta(minutes=8), "the window never filled"
    breach_at = at - STEP
    while at < breach_at + timedelta(minutes=5):
        app.traffic(1000, 0.02)
        check(["error rate"], at)
        assert not firing("error rate above 1%") and state("error rate") == "up"
        at += STEP
    app.traffic(1000, 0.02)
    check(["error rate"], at)
    assert firing("error rate above 1%") and state("error rate") == "degraded"


def test_p95_rules_fire_above_1_s_after_10_minutes_and_4_s_after_5_minutes(app):
    install(app)
    at = T0
    for _ in range(4):
        app.traffic(100, latency_bucket="0.5")
        check(["p95 latency"], at)
        at += STEP
    assert state("p95 latency") == "up"
    slow_since = at
    while not firing("p95 above 1 s"):  # every request now takes 1-2.5 s
        app.traffic(100, latency_bucket="2.5")
        check(["p95 latency"], at)
        at += STEP
        assert at - slow_since < timedelta(minutes=20), "the 1 s rule never fired"
    assert at - slow_since > timedelta(minutes=10)
    assert not firing("p95 above 4 s")
    very_slow_since = at
    while not firing("p95 above 4 s"):  # 5-10 s
        app.traffic(100, latency_bucket="10")
        check(["p95 latency"], at)
        at += STEP
        assert at - very_slow_since < timedelta(minutes=15), "the 4 s rule never fired"
    assert at - very_slow_since > timedelta(minutes=5)
    exercised("p95 above 1 s", "p95 above 4 s")


def test_api_down_fires_after_a_minute_of_failed_health_checks(app):
    install(app)
    check(["API health"], T0)
    assert state("API health") == "up"
    app.health_ok = False
    at = T0 + timedelta(minutes=1)
    check(["API health"], at)
    check(["API health"], at + timedelta(seconds=30))  # retries: 1, so the second failure makes it down
    assert state("API health") == "down" and not firing("API down")
    beat(at + timedelta(seconds=80))
    assert not firing("API down")
    beat(at + timedelta(seconds=95))
    assert firing("API down")
    exercised("API down")


def test_certificate_rules_fire_at_14_and_7_days(app, certificate_authority_and_server):
    ca, tls_server = certificate_authority_and_server
    install(app, tls_port=tls_server.port)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    tls = Monitor.objects.get(name="guides: TLS certificate")
    Monitor.objects.filter(pk=tls.pk).update(settings={**tls.settings, "ca_pem": ca_pem, "server_name": "localhost"})
    check(["TLS certificate"], T0)
    assert state("TLS certificate") == "up"
    for hour in (0, 1):  # retries: 1
        check(["TLS certificate"], T0 + timedelta(days=20, hours=hour))
    assert state("TLS certificate") == "degraded" and firing("certificate expires in 14 days")
    assert not firing("certificate expires in 7 days")
    for hour in (0, 1):
        check(["TLS certificate"], T0 + timedelta(days=27, hours=hour))
    assert state("TLS certificate") == "down" and firing("certificate expires in 7 days")
    exercised("certificate expires in 14 days", "certificate expires in 7 days")


# --- database ------------------------------------------------------------------------------

def test_database_unreachable_fires_after_30_seconds(app):
    install(app)
    check(["database reachable"], T0)
    assert state("database reachable") == "up"
    app.database_ok = False
    check(["database reachable"], T0 + timedelta(seconds=15))
    assert state("database reachable") == "down" and not firing("database unreachable")
    beat(T0 + timedelta(seconds=40))
    assert not firing("database unreachable")
    beat(T0 + timedelta(seconds=46))
    assert firing("database unreachable")
    exercised("database unreachable")


@needs_postgres
def test_pool_rules_fire_as_the_test_opens_connections_past_80_and_95_percent(app):
    install(app)
    opened: list[psycopg.Connection] = []
    try:
        check(["connection pool"], T0)
        assert state("connection pool") == "up"
        while len(opened) < 9:  # 9 of the pack's pool of 10: 90%
            opened.append(psycopg.connect(DATABASE_URL, application_name=POOL_APPLICATION))
        at = T0 + STEP
        for _ in range(5):  # two minutes and then some
            check(["connection pool"], at)
            at += STEP
        assert state("connection pool") == "degraded" and firing("connection pool above 80%")
        assert "pool use 90% > 80%" in Monitor.objects.get(name="guides: connection pool").last_message
        opened.append(psycopg.connect(DATABASE_URL, application_name=POOL_APPLICATION))  # 10 of 10
        check(["connection pool"], at)
        assert not firing("connection pool above 95%")  # the critical limit also holds 2 minutes
        for _ in range(5):
            at += STEP
            check(["connection pool"], at)
        assert state("connection pool") == "down" and firing("connection pool above 95%")
    finally:
        for connection in opened:
            connection.close()
    exercised("connection pool above 80%", "connection pool above 95%")


# --- operations ----------------------------------------------------------------------------

def test_memory_rules_fire_above_80_percent_after_5_minutes_and_95_after_1(app):
    install(app)
    check(["memory"], T0)
    assert state("memory") == "up"
    app.resident_bytes = 1_700_000_000  # 85% of the pack's 2 GB
    at = T0 + STEP
    for _ in range(10):
        check(["memory"], at)
        at += STEP
    assert not firing("memory above 80%")  # 4.5 minutes
    check(["memory"], at)
    assert firing("memory above 80%") and not firing("memory above 95%")
    app.resident_bytes = 1_950_000_000  # 97.5%
    for _ in range(2):
        at += STEP
        check(["memory"], at)
    assert not firing("memory above 95%")  # 30 seconds
    at += STEP
    check(["memory"], at)
    assert firing("memory above 95%") and state("memory") == "down"
    exercised("memory above 80%", "memory above 95%")


def test_disk_rules_fire_above_80_and_90_percent_after_5_minutes(app):
    install(app)
    check(["disk"], T0)
    app.disk_available = 15e9  # 85% used
    at = T0 + timedelta(minutes=1)
    for _ in range(6):
        check(["disk"], at)
        at += timedelta(minutes=1)
    assert firing("disk above 80%") and not firing("disk above 90%")
    app.disk_available = 5e9  # 95% used
    for _ in range(6):
        check(["disk"], at)
        at += timedelta(minutes=1)
    assert firing("disk above 90%") and state("disk") == "down"
    exercised("disk above 80%", "disk above 90%")


def _ping(client, monitor: Monitor, signal: str, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        path = f"/ping/{monitor.ping_token}" + ("" if signal == "success" else f"/{signal}")
        assert client.get(path).status_code == 200
        pings.drain(now=at)
        events.drain(now=at)
        alerting_services.tick(now=at)


def test_backup_late_fires_when_no_ping_comes_within_a_day_and_its_grace(app, client):
    install(app)
    backup = Monitor.objects.get(name="guides: nightly backup")
    _ping(client, backup, "success", T0)
    check(["nightly backup"], T0 + timedelta(hours=24, minutes=30))
    assert state("nightly backup") == "up" and not firing("backup late")
    check(["nightly backup"], T0 + timedelta(hours=25, minutes=1))
    assert state("nightly backup") == "down" and firing("backup late")
    exercised("backup late")


def test_worker_rule_fires_when_a_cycle_runs_over_5_minutes(app, client):
    install(app)
    worker = Monitor.objects.get(name="guides: worker cycle")
    _ping(client, worker, "start", T0)
    _ping(client, worker, "success", T0 + timedelta(minutes=2))
    assert state("worker cycle") == "up" and not firing("worker late or slow")
    _ping(client, worker, "start", T0 + timedelta(minutes=5))
    _ping(client, worker, "success", T0 + timedelta(minutes=11))  # a 6-minute cycle
    assert state("worker cycle") == "degraded" and firing("worker late or slow")
    assert "run time 360s > 300s" in Monitor.objects.get(name="guides: worker cycle").last_message
    exercised("worker late or slow")


# --- the set-up checklist's button and the dashboards ---------------------------------------

def test_the_setup_page_previews_then_installs_the_pack_with_the_teams_urls(client, admin_user):
    Channel.objects.create(name="On-call", kind="email", config={"to": ["ops@example.com"]})
    client.force_login(admin_user)
    page = client.get("/setup/")
    assert page.status_code == 200 and "Install the guides' alert pack" in page.content.decode()
    assert 'name="APP_URL"' in page.content.decode() and 'value="${APP_URL}/metrics"' in page.content.decode()
    form = {"APP_URL": "https://api.example.com", "DATABASE_URL": "postgres://vigil@db.internal:5432/app",
            "TLS_HOST": "api.example.com:443", "ALERT_CHANNEL": "On-call", "METRICS_URL": "${APP_URL}/metrics", "DB_HEALTH_URL": "",
            "DB_POOL_SIZE": "40"}
    missing = client.post("/setup/", {**form, "APP_URL": "", "action": "preview_pack"})
    assert missing.status_code == 400 and "APP_URL: This field is required." in missing.content.decode()
    preview = client.post("/setup/", {**form, "action": "preview_pack"})
    assert preview.status_code == 200
    assert "+ guides: connection pool" in preview.content.decode() and "Plan: 26 to create" in preview.content.decode()
    assert not Monitor.objects.exists()
    bad = client.post("/setup/", {**form, "ALERT_CHANNEL": "", "DATABASE_URL": "mysql://db", "action": "install_pack"})
    assert bad.status_code == 400 and "Nothing was installed" in bad.content.decode()
    assert "is not a postgres://host:port/database URL" in bad.content.decode() and not Monitor.objects.exists()
    installed = client.post("/setup/", {**form, "action": "install_pack"})
    assert installed.status_code == 302
    assert Monitor.objects.get(name="guides: error rate").target == "https://api.example.com/metrics"  # the default as the form shows it
    assert Monitor.objects.get(name="guides: database reachable").target == "https://api.example.com/health/db"  # left empty
    assert Monitor.objects.get(name="guides: connection pool").settings["pool_size"] == 40
    assert set(AlertRule.objects.get(name="guides: memory above 95%").channels.values_list("name", flat=True)) == {"On-call"}
    done = client.get("/setup/").content.decode()
    assert 'id="step-pack"' in done and "/dashboards/overview/" in done


def test_the_dashboards_show_the_monitors_of_their_tag_with_value_charts(client, viewer, app):
    install(app)
    app.resident_bytes = 1_700_000_000
    check(["memory"], T0)
    client.force_login(viewer)
    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
        operations = client.get("/dashboards/operations/").content.decode()
        database = client.get("/dashboards/database/").content.decode()
    assert "guides: memory" in operations and "guides: nightly backup" in operations and "guides: error rate" not in operations
    assert "memory 85% &gt; 80% for 0s of 5m" in operations  # the last reading
    assert "warning above 80%" in operations and "critical above 95%" in operations  # threshold lines on the value chart
    assert "guides: connection pool" in database and "guides: database reachable" in database
    # The pool's limits and display come from its preset: lines in percent of the pool.
    assert "critical above 95%" in database and "pool use" in database
    assert client.get("/dashboards/billing/").status_code == 404


def test_every_rule_of_the_pack_is_made_to_fire_by_a_test_here():
    """Read from this file's calls of exercised(...), so it holds whichever tests run and in what order."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(__file__).read_text())
    named = {f"guides: {argument.value}" for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "exercised"
             for argument in node.args if isinstance(argument, ast.Constant)}
    pack = yaml.safe_load(packs.GUIDES_PACK.read_text())
    assert {rule["name"] for rule in pack["alert_rules"]} == named
