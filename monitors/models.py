from __future__ import annotations

import uuid
import zlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from lib.cron_schedule import next_run, schedule_problem, time_zone_problem
from lib.latency_histogram import BUCKET_COUNT
from monitors.bounds import BOUNDS, DEFAULT_RETRY_INTERVAL, HEARTBEAT_SCHEDULE_MAX_LENGTH, NAME_MAX_LENGTH, TARGET_MAX_LENGTH


class Region(models.Model):
    """A place checks run from. Workers started with VIGIL_REGION=<name> consume its queue."""

    # Small keys keep CheckResult rows narrow (see CheckResult).
    id = models.SmallAutoField(primary_key=True)
    name = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label or self.name

    @property
    def queue(self) -> str:
        return queue_for_region(self.name)


def queue_for_region(name: str) -> str:
    return f"checks.{name}"


class Tag(models.Model):
    name = models.SlugField(max_length=40, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# A monitor is flapping while its state changed flap_threshold times within this window.
FLAP_WINDOW = timedelta(hours=1)


class Monitor(models.Model):
    class Kind(models.TextChoices):
        HTTP = "http", "HTTP(S)"
        HEALTH_JSON = "health_json", "Health JSON document"
        TLS = "tls", "TLS certificate"
        TCP = "tcp", "TCP port"
        DNS = "dns", "DNS record"
        HEARTBEAT = "heartbeat", "Heartbeat (push)"
        POSTGRES = "postgres", "PostgreSQL"
        REDIS = "redis", "Redis"
        METRIC = "metric", "Prometheus metric"

    class State(models.TextChoices):
        UNKNOWN = "unknown"
        UP = "up"
        DEGRADED = "degraded"
        DOWN = "down"
        PAUSED = "paused"
        MAINTENANCE = "maintenance"

    # A 4-byte key: two billion monitors is plenty, and every CheckResult row carries it.
    id = models.AutoField(primary_key=True)
    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    target = models.CharField(
        max_length=TARGET_MAX_LENGTH,
        blank=True,
        help_text="URL (http, health_json, metric), host:port (tcp, tls), name (dns), or connection URL (postgres, redis).",
    )
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="Kind-specific options, e.g. expected_status, keyword, json_path, latency_warn_ms; see docs/monitors.md.",
    )
    interval_seconds = models.PositiveIntegerField(default=60)
    timeout_seconds = models.FloatField(default=10.0)
    retries = models.PositiveSmallIntegerField(
        default=2, help_text="Extra failed attempts, at the retry interval, before a region calls the monitor down."
    )
    # Writers that are not told a retry interval use bounds.default_retry_interval(interval) (monitor_upsert).
    retry_interval_seconds = models.PositiveIntegerField(default=DEFAULT_RETRY_INTERVAL)
    recovery_confirmations = models.PositiveSmallIntegerField(default=2, help_text="Successes in a row before a down monitor is up again.")
    regions = models.ManyToManyField(Region, related_name="monitors", blank=True)
    quorum = models.PositiveSmallIntegerField(
        default=0, help_text="Regions that must agree the monitor is down; 0 means a majority of its regions."
    )
    component = models.ForeignKey(
        "incidents.Component", null=True, blank=True, on_delete=models.SET_NULL, related_name="monitors"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="monitors")
    paused = models.BooleanField(default=False)
    # Heartbeat monitors: jobs ping /ping/<ping_token>; late when no ping comes within the grace
    # after the next expected one: period after the last ping, or the schedule's next run after it.
    ping_token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    heartbeat_period_seconds = models.PositiveIntegerField(default=3600)
    heartbeat_grace_seconds = models.PositiveIntegerField(default=300)
    heartbeat_schedule = models.CharField(
        max_length=HEARTBEAT_SCHEDULE_MAX_LENGTH, blank=True,
        help_text="A cron expression (minute hour day-of-month month day-of-week), e.g. 0 3 * * *; when set, it is used instead of the period.",
    )
    heartbeat_time_zone = models.CharField(max_length=64, default="UTC", help_text="The schedule's time zone, e.g. Europe/Berlin.")

    # Current state, written only by monitors.services in the transaction that records
    # the StateChange.
    state = models.CharField(max_length=12, choices=State.choices, default=State.UNKNOWN, db_index=True)
    state_since = models.DateTimeField(null=True, blank=True)
    state_reason = models.CharField(max_length=300, blank=True)
    is_flapping = models.BooleanField(default=False)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=10, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_message = models.CharField(max_length=300, blank=True)
    # From the last TLS check: the dashboard's checklist lists certificates expiring soon.
    tls_expires_at = models.DateTimeField(null=True, blank=True)
    last_ping_at = models.DateTimeField(null=True, blank=True)
    last_start_at = models.DateTimeField(null=True, blank=True)
    last_run_seconds = models.FloatField(null=True, blank=True)
    # The dispatcher claims rows with next_due_at <= now (index monitor_due_idx).
    next_due_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # The dispatcher's claim: WHERE NOT paused AND next_due_at <= now ORDER BY next_due_at.
            models.Index(fields=["next_due_at"], name="monitor_due_idx", condition=models.Q(paused=False)),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("monitor-detail", args=[self.pk])

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for bound in BOUNDS:
            value = getattr(self, bound.field)
            problem = bound.problem(value) if isinstance(value, (int, float)) else None
            if problem:
                errors[bound.field] = f"monitor '{self.name}': {problem}"
        # The rules between fields only make sense once each field is within its own bounds.
        timings_in_bounds = not {"interval_seconds", "timeout_seconds", "retry_interval_seconds"} & set(errors)
        if timings_in_bounds and self.kind != self.Kind.HEARTBEAT and self.timeout_seconds >= self.interval_seconds:
            errors["timeout_seconds"] = (
                f"monitor '{self.name}': timeout must be below interval ({self.timeout_seconds:g}s >= {self.interval_seconds}s): "
                f"lower the timeout below {self.interval_seconds}s or lengthen the interval"
            )
        if timings_in_bounds and self.retry_interval_seconds > self.interval_seconds:
            errors["retry_interval_seconds"] = (
                f"monitor '{self.name}': retry interval must not exceed the interval ({self.retry_interval_seconds}s > "
                f"{self.interval_seconds}s): set the retry interval to {self.interval_seconds}s or less, leave it out "
                f"(it then follows the interval), or lengthen the interval"
            )
        schedule_wrong = schedule_problem(self.heartbeat_schedule) if self.heartbeat_schedule else None
        if schedule_wrong:
            errors["heartbeat_schedule"] = f"monitor '{self.name}': heartbeat schedule: {schedule_wrong}"
        zone_wrong = time_zone_problem(self.heartbeat_time_zone)
        if zone_wrong:
            errors["heartbeat_time_zone"] = f"monitor '{self.name}': heartbeat time zone: {zone_wrong}"
        if self.kind != self.Kind.HEARTBEAT and not self.target.strip():
            errors["target"] = f"monitor '{self.name}': a {self.get_kind_display()} monitor needs a target"
        if not isinstance(self.settings, dict):
            errors["settings"] = f"monitor '{self.name}': settings must be a JSON object"
        elif not errors.get("target"):
            from monitors.checkers import validate_settings

            problems = validate_settings(self.kind, self.target, self.settings)
            if problems:
                errors.update(problems)
        if errors:
            raise ValidationError(errors)

    # Scheduling ------------------------------------------------------------------------
    @property
    def schedule_offset_seconds(self) -> int:
        """A stable per-monitor offset inside the interval, so monitors created together
        spread over the interval instead of all firing in the same second."""
        return schedule_offset(self.pk, self.interval_seconds)

    def next_slot_after(self, now: datetime) -> datetime:
        return next_slot_after(now, self.interval_seconds, self.schedule_offset_seconds)

    # Heartbeats ----------------------------------------------------------------------
    def expected_ping_after(self, ping_at: datetime) -> datetime | None:
        """When the ping after one at ping_at is expected: the schedule's next run (a schedule wins
        over the period), else one period later. None: the schedule never runs again."""
        if self.heartbeat_schedule:
            return next_run(self.heartbeat_schedule, self.heartbeat_time_zone, ping_at)
        return ping_at + timedelta(seconds=self.heartbeat_period_seconds)

    def heartbeat_deadline(self, now: datetime) -> datetime | None:
        """When the heartbeat is late: the grace after the ping expected after the last one.

        None while it is new (never pinged; as in healthchecks, a new check is never down)."""
        if self.last_ping_at is None:
            return None
        expected = self.expected_ping_after(self.last_ping_at)
        return None if expected is None else expected + timedelta(seconds=self.heartbeat_grace_seconds)

    def next_expected_ping(self, now: datetime) -> datetime | None:
        """What the monitor page shows: after the last ping, or (new) the schedule's next run from now."""
        if self.last_ping_at is not None:
            return self.expected_ping_after(self.last_ping_at)
        return next_run(self.heartbeat_schedule, self.heartbeat_time_zone, now) if self.heartbeat_schedule else None

    @property
    def ping_url(self) -> str | None:
        """Where the job pings (absolute, from VIGIL_BASE_URL); None for kinds that are not heartbeats."""
        if self.kind != self.Kind.HEARTBEAT:
            return None
        return f"{django_settings.VIGIL_BASE_URL.rstrip('/')}{reverse('ping', args=[self.ping_token])}"

    @property
    def is_new(self) -> bool:
        """A heartbeat never pinged: its state is unknown, shown as "new", and it is never late."""
        return self.kind == self.Kind.HEARTBEAT and self.last_ping_at is None and self.state == self.State.UNKNOWN

    def flapping_at(self, now: datetime) -> bool:
        """Flapping now: the flag is set and the last change is within the flap window. The flag
        itself only clears on the next check after the window, so a healthy row (or a paused
        monitor) could still carry it."""
        return (self.is_flapping and not self.paused and self.state_since is not None
                and now - self.state_since <= FLAP_WINDOW)

    @property
    def display_state(self) -> str:
        return "new" if self.is_new else self.state

    @property
    def display_state_label(self) -> str:
        return "New" if self.is_new else self.get_state_display()


EPOCH = datetime(2020, 1, 1, tzinfo=None)


def schedule_offset(monitor_id: int, interval_seconds: int) -> int:
    """Monitor.schedule_offset_seconds without a Monitor (the dispatcher claims thousands of rows a tick)."""
    return zlib.crc32(f"vigil-monitor-{monitor_id}".encode()) % max(interval_seconds, 1)


def next_slot_after(now: datetime, interval_seconds: int, offset_seconds: int) -> datetime:
    """The first time strictly after now that lies on the monitor's grid (offset + k*interval)."""
    reference = now.replace(tzinfo=None)
    elapsed = (reference - EPOCH).total_seconds() - offset_seconds
    steps = int(elapsed // interval_seconds) + 1
    slot = EPOCH + timedelta(seconds=offset_seconds + steps * interval_seconds)
    return slot.replace(tzinfo=now.tzinfo)


class SmallFloatField(models.FloatField):
    """A 4-byte float (PostgreSQL real): about 7 significant digits, enough for a measured value
    compared with thresholds written with two or three (SQLite stores every float in 8 bytes)."""

    def db_type(self, connection: Any) -> str | None:
        return "real" if connection.vendor == "postgresql" else super().db_type(connection)


class MonitorRegionState(models.Model):
    """Confirmation counters of one monitor in one region (retries and recovery)."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="region_states")
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=12, default="unknown")
    consecutive_down = models.PositiveIntegerField(default=0)
    consecutive_bad = models.PositiveIntegerField(default=0)
    consecutive_ok = models.PositiveIntegerField(default=0)
    consecutive_not_down = models.PositiveIntegerField(default=0)
    # The due slot of the last result applied: a redelivered batch is applied once.
    last_slot = models.DateTimeField(null=True, blank=True)
    last_message = models.CharField(max_length=300, blank=True)
    # Since when this region's checks have crossed a threshold without a break (any level, and
    # the down level): the settings warn_for_seconds / down_for_seconds count from here
    # (monitors.checkers.thresholds.hold). None while the value is within its limits.
    breach_since = models.DateTimeField(null=True, blank=True)
    down_breach_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["monitor", "region"], name="monitor_region_state_unique")]

    def __str__(self) -> str:
        return f"{self.monitor} @ {self.region}: {self.verdict}"


class CheckResult(models.Model):
    """One check of one monitor from one region. Narrow and append-only.

    The primary key (monitor, at, region) is also the idempotency key: `at` is the
    due slot the dispatcher claimed, so a batch redelivered after a killed worker
    inserts nothing new (bulk insert ignores conflicts). It also serves the only
    query on raw rows: one monitor's recent results by time.
    """

    class Outcome(models.IntegerChoices):
        OK = 0, "ok"
        DEGRADED = 1, "degraded"
        DOWN = 2, "down"

    # Columns are declared widest first (8, 4, 4, 4, 2, 2, 2 bytes, then text) so PostgreSQL
    # adds no alignment padding: the row stays within its 130-byte budget (bench/engine.py).
    pk = models.CompositePrimaryKey("monitor_id", "at", "region_id")
    at = models.DateTimeField()
    # No index of their own: the primary key (monitor, at, region) already leads with
    # monitor, and nothing looks results up by region alone. Each of those indexes
    # cost about 7 bytes a row (bench: bytes per CheckResult row).
    monitor = models.ForeignKey(Monitor, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    latency_ms = models.PositiveIntegerField(null=True)
    # The number the check measured (details["value"] of monitors.checkers.thresholds.judged):
    # a metric, a health document's field, a query's result, a heartbeat's run time; HTTP
    # latency stays in latency_ms. ALTER TABLE puts the column last, after the message.
    # Measured on PostgreSQL 16 (lp_len): a row with an empty message is 47 bytes (48 aligned)
    # without a value, 52 (56) with a real; a float8 would also give 56 there, but it needs
    # 8-byte alignment after the message, so for other message lengths it costs up to 4 bytes
    # more than a real, never less. A null costs nothing: one bit in the null bitmap, which
    # the 24-byte header has room for. A real's 7 significant digits are plenty for a chart
    # and rollups; checkers compare the full-precision number before it is stored.
    value = SmallFloatField(null=True)
    region = models.ForeignKey(Region, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    outcome = models.PositiveSmallIntegerField(choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True)
    message = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        # Foreign keys without database constraints keep inserts cheap; monitors are
        # deleted through monitors.services, which removes their results first.
        indexes: list[models.Index] = []

    def __str__(self) -> str:
        return f"{self.monitor_id}@{self.at:%Y-%m-%d %H:%M:%S}: {self.get_outcome_display()}"


class Rollup(models.Model):
    """Per monitor, per hour or per day: counts and a latency histogram (lib.latency_histogram).

    Counts equal the raw rows exactly; p50/p95/p99 come from the mergeable histogram.
    Pages and reports read these, never raw rows beyond the current hours.
    """

    class Period(models.TextChoices):
        HOUR = "hour"
        DAY = "day"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="rollups")
    period = models.CharField(max_length=4, choices=Period.choices)
    start = models.DateTimeField()
    total = models.PositiveIntegerField(default=0)
    ok = models.PositiveIntegerField(default=0)
    degraded = models.PositiveIntegerField(default=0)
    latency_sum_ms = models.BigIntegerField(default=0)
    latency_count = models.PositiveIntegerField(default=0)
    histogram = models.JSONField(default=list)
    # Checks that ran inside a maintenance window excluded from SLOs, and how many of
    # those were up (ok or degraded): SLOs subtract them (slo/, lib/slo.py).
    excluded_total = models.PositiveIntegerField(default=0)
    excluded_up = models.PositiveIntegerField(default=0)
    # The measured value (CheckResult.value) of the period: the mean is value_sum / value_count;
    # value_last is the value of the period's last result that had one.
    value_count = models.PositiveIntegerField(default=0)
    value_sum = models.FloatField(null=True, blank=True)
    value_min = models.FloatField(null=True, blank=True)
    value_max = models.FloatField(null=True, blank=True)
    value_last = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["monitor", "period", "start"], name="rollup_unique")]
        indexes = [models.Index(fields=["period", "start"], name="rollup_period_start_idx")]

    def __str__(self) -> str:
        return f"{self.monitor_id} {self.period} {self.start:%Y-%m-%d %H:%M}"

    @property
    def down(self) -> int:
        return self.total - self.ok - self.degraded

    def clean(self) -> None:
        if self.histogram and len(self.histogram) != BUCKET_COUNT:
            raise ValidationError({"histogram": f"histogram must have {BUCKET_COUNT} buckets"})


class StateChange(models.Model):
    """Every transition of a monitor's state, written with the state it changes (and its
    monitor.state event, which is what the reactions read: monitors.services.announce)."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="state_changes")
    at = models.DateTimeField(db_index=True)
    old_state = models.CharField(max_length=12)
    new_state = models.CharField(max_length=12)
    reason = models.CharField(max_length=300, blank=True)
    evidence = models.JSONField(default=dict, blank=True, help_text="Per-region counters and last messages.")
    is_flapping = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["monitor", "-at"], name="statechange_monitor_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.monitor}: {self.old_state} -> {self.new_state} at {self.at:%Y-%m-%d %H:%M:%S}"
