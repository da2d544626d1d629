"""Alert rules, the alerts they raise, grouping state, channels and the notification outbox."""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from alerting.apprise_urls import problem as apprise_url_problem
from core.outbox import OutboxRow
from core.secrets import is_env_reference, mask, resolve_all
from lib.oncall import Override, on_call
from monitors.models import Monitor


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


# How bad each severity is, worst first: a notification about several alerts says the worst.
SEVERITY_ORDER: dict[str, int] = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}

# What other tools write in a `severity` label (Alertmanager and Grafana rules, PagerDuty's and
# Opsgenie's words) and the Vigil severity it means; anything else takes the rule's severity.
SEVERITY_ALIASES = {
    "critical": Severity.CRITICAL, "crit": Severity.CRITICAL, "page": Severity.CRITICAL, "fatal": Severity.CRITICAL,
    "emergency": Severity.CRITICAL, "alert": Severity.CRITICAL, "error": Severity.CRITICAL, "high": Severity.CRITICAL,
    "p1": Severity.CRITICAL, "p2": Severity.CRITICAL,
    "warning": Severity.WARNING, "warn": Severity.WARNING, "major": Severity.WARNING, "minor": Severity.WARNING,
    "medium": Severity.WARNING, "p3": Severity.WARNING,
    "info": Severity.INFO, "informational": Severity.INFO, "notice": Severity.INFO, "low": Severity.INFO,
    "none": Severity.INFO, "debug": Severity.INFO, "p4": Severity.INFO, "p5": Severity.INFO,
}


def severity_from_label(value: str) -> str | None:
    """The Vigil severity a source's `severity` label names, or None (the rule's severity then applies)."""
    return SEVERITY_ALIASES.get(value.strip().lower())


class Channel(models.Model):
    class Kind(models.TextChoices):
        SLACK = "slack", "Slack (incoming webhook)"
        DISCORD = "discord", "Discord (webhook)"
        TEAMS = "teams", "Microsoft Teams (webhook)"
        PAGERDUTY = "pagerduty", "PagerDuty (Events API v2)"
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook (signed JSON)"
        APPRISE = "apprise", "Apprise (Telegram, Matrix, ntfy, Gotify, Pushover, Opsgenie ...)"

    # Which keys each kind needs in `config`, and which of them are secret (masked in the admin).
    REQUIRED = {
        Kind.SLACK: ["url"], Kind.DISCORD: ["url"], Kind.TEAMS: ["url"], Kind.PAGERDUTY: ["routing_key"],
        Kind.EMAIL: ["to"], Kind.WEBHOOK: ["url"], Kind.APPRISE: ["url"],
    }
    SECRET_KEYS = {"url", "routing_key", "secret"}

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True, help_text='e.g. {"url": "https://hooks.slack.com/services/..."}; '
                              'PagerDuty: {"routing_key": "..."}; email: {"to": ["ops@example.com"]}; webhook: {"url": ..., "secret": ...}; '
                              'Apprise: {"url": "tgram://BOT_TOKEN/CHAT_ID"}')
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.config, dict):
            raise ValidationError({"config": 'The configuration is a JSON object, e.g. {"url": "https://..."}.'})
        missing = [key for key in self.REQUIRED.get(self.kind, []) if not self.config.get(key)]
        if missing:
            raise ValidationError({"config": f"A {self.get_kind_display()} channel needs {', '.join(missing)} in its configuration."})
        url = self.config.get("url")
        if self.kind == self.Kind.APPRISE:
            # Any Apprise URL (tgram://, ntfys://, json:// ...); env:NAME is read, and checked, when sending.
            reason = None if is_env_reference(url) else apprise_url_problem(url)
            if reason:
                raise ValidationError({"config": f"url: {reason}, or env:NAME to read it from the environment when sending"})
        elif url is not None and not (isinstance(url, str) and url.startswith(("https://", "http://", "env:"))):
            raise ValidationError({"config": "url must be an http(s) address, e.g. https://hooks.slack.com/services/..., "
                                             "or env:NAME to read it from the environment when sending"})
        if self.kind == self.Kind.EMAIL:
            to = self.config.get("to")
            if isinstance(to, str):
                self.config["to"] = to = [part.strip() for part in to.split(",") if part.strip()]
            if not isinstance(to, list) or not all(isinstance(a, str) and "@" in a for a in to):
                raise ValidationError({"config": 'to must list addresses, e.g. {"to": ["ops@example.com"]}.'})


    def masked_config(self) -> dict[str, Any]:
        """The configuration as it may be shown back: secrets masked, env:NAME references kept."""
        return {key: (mask(value) if key in self.SECRET_KEYS else value) for key, value in (self.config or {}).items()}

    def resolved_config(self) -> dict[str, Any]:
        """The configuration with env:NAME secrets read from the environment, at send time (MissingSecret names the variable)."""
        return resolve_all(self.config or {}, what=f"channel {self.name!r}")


class AlertRule(models.Model):
    """Fires on monitor states (down, degraded) held for a duration.

    A rule sees monitor states only; thresholds are monitor settings. Most of the guides'
    conditions are states: a metric monitor degrades / goes down past warn_above / down_above
    (error rate over increase(...[5m]), p95 from histogram buckets, memory), held by its
    warn_for_seconds / down_for_seconds; the postgres presets judge pool use, replication lag
    and the like; a TLS monitor degrades and goes down as expiry nears; a heartbeat goes down
    when a ping is late and degrades when a run takes too long. `for_seconds` holds a state
    (a failure such as "database unreachable for 30 s"). Conditions on log lines, error-tracker
    event counts or per-endpoint breakdowns are not expressible; docs/alerting.md lists what
    is, with the guides' alert pack (docs/examples/guides-pack.yaml) as the worked example.

    SLOs and Alertmanager integrations name a rule too: its severity, labels, channels,
    grouping, runbook and escalation apply to their alerts."""

    name = models.CharField(max_length=120, unique=True)
    enabled = models.BooleanField(default=True)
    states = models.JSONField(default=list, help_text='Monitor states that fire it, e.g. ["down"] or ["down", "degraded"].')
    monitor_kinds = models.JSONField(default=list, blank=True, help_text='Only these check kinds, e.g. ["metric"]; empty: all.')
    monitors = models.ManyToManyField("monitors.Monitor", blank=True, related_name="alert_rules", help_text="Only these monitors; none: all that match.")
    components = models.ManyToManyField("incidents.Component", blank=True, related_name="alert_rules")
    tags = models.ManyToManyField("monitors.Tag", blank=True, related_name="alert_rules")
    for_seconds = models.PositiveIntegerField(default=0, help_text="How long the state must hold before the alert fires.")
    # The guides' "watch the first hour after a deployment": after a deploy of the monitor's
    # component, this shorter duration applies instead of for_seconds.
    deploy_watch_for_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="After a deploy of the monitor's component, fire after this long instead; empty: no watch.")
    deploy_watch_minutes = models.PositiveIntegerField(default=60, help_text="How long the watch lasts after a deploy.")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.CRITICAL)
    labels = models.JSONField(default=dict, blank=True, help_text='Extra labels, e.g. {"team": "payments"}.')
    runbook_url = models.URLField(blank=True)
    runbook_text = models.TextField(blank=True, help_text="Shown in every notification.")
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    escalation_policy = models.ForeignKey("EscalationPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="rules",
                                          help_text="Escalate until someone acknowledges (on top of the channels).")
    group_by = models.JSONField(default=list, blank=True, help_text='Labels that split notifications, e.g. ["component"]; empty: one group per rule.')
    group_wait_seconds = models.PositiveIntegerField(default=30)
    group_interval_seconds = models.PositiveIntegerField(default=300)
    repeat_interval_seconds = models.PositiveIntegerField(default=4 * 3600)
    resolve_after_seconds = models.PositiveIntegerField(default=300, help_text="Resolve once the condition has been clear this long.")
    notify_resolved = models.BooleanField(default=True)
    hold_flapping = models.BooleanField(default=True, help_text="Do not notify about a flapping monitor.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:

        valid = {"down", "degraded"}
        if not isinstance(self.states, list) or not self.states or not set(self.states) <= valid:
            raise ValidationError({"states": 'List the monitor states that fire this rule: ["down"], ["degraded"] or ["down", "degraded"].'})
        kinds = set(Monitor.Kind.values)
        if not isinstance(self.monitor_kinds, list) or not set(self.monitor_kinds) <= kinds:
            raise ValidationError({"monitor_kinds": f"Check kinds are {', '.join(sorted(kinds))}."})
        if not isinstance(self.group_by, list) or not all(isinstance(x, str) for x in self.group_by):
            raise ValidationError({"group_by": 'group_by lists label names, e.g. ["component"].'})
        if not isinstance(self.labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in self.labels.items()):
            raise ValidationError({"labels": 'Labels are names to text, e.g. {"team": "payments"}.'})
        if self.group_interval_seconds < 1 or self.repeat_interval_seconds < self.group_interval_seconds:
            raise ValidationError({"repeat_interval_seconds": "The repeat interval must be at least the group interval."})


class Alert(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending (waiting for its duration)"
        FIRING = "firing", "Firing"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    OPEN = (Status.PENDING, Status.FIRING, Status.ACKNOWLEDGED)

    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    dedup_key = models.CharField(max_length=200)
    group_key = models.CharField(max_length=300)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.FIRING, db_index=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    summary = models.CharField(max_length=300)
    labels = models.JSONField(default=dict)
    monitor = models.ForeignKey("monitors.Monitor", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    value = models.CharField(max_length=300, blank=True, help_text="What was seen, e.g. the monitor's reason.")
    # Where the source shows it: [label, url] pairs (Grafana's rule, dashboard and panel, Sentry's issue), shown as buttons.
    links = models.JSONField(default=list, blank=True)
    # What the source says about it beyond labels: Alertmanager's and Grafana's annotations
    # (summary, description, runbook_url ...), carried into every notification.
    annotations = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(default=1)
    # The condition stopped holding at this time; it resolves after the rule's resolve_after.
    cleared_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-first_seen", "-id"]
        constraints = [
            # One open alert per dedup key: a repeat of the condition updates it.
            models.UniqueConstraint(fields=["dedup_key"], condition=~models.Q(status="resolved"), name="alert_open_dedup_unique"),
        ]
        indexes = [models.Index(fields=["status", "cleared_at"], name="alert_status_cleared_idx")]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.summary}"


class AlertGroup(models.Model):
    """Alertmanager-style grouping state for one rule and group key."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="groups")
    group_key = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    next_flush_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    # What the last notification said (sorted ids and statuses): a flush with the same
    # content only repeats after the repeat interval.
    last_fingerprint = models.CharField(max_length=64, blank=True)
    # Escalation: the next step to run (counting repeats) and when.
    escalation_step = models.PositiveIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "group_key"], name="alert_group_unique")]

    def __str__(self) -> str:
        return f"{self.rule}: {self.group_key}"


class Silence(models.Model):
    """Mutes alerts whose labels match every matcher, between two times."""

    matchers = models.JSONField(help_text='e.g. [{"name": "component", "value": "API"}, {"name": "monitor", "value": "api-.*", "regex": true}]')
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    comment = models.CharField(max_length=300)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return self.comment

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "A silence must end after it starts."})
        ok = isinstance(self.matchers, list) and self.matchers and all(
            isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("value"), str) for m in self.matchers)
        if not ok:
            raise ValidationError({"matchers": 'Matchers look like [{"name": "component", "value": "API"}].'})
        for matcher in self.matchers:
            if matcher.get("regex"):
                try:
                    re.compile(matcher["value"])
                except re.error as exc:
                    raise ValidationError({"matchers": f"{matcher['value']!r} is not a valid regular expression ({exc})."}) from None

    def matches(self, labels: dict[str, str]) -> bool:
        for matcher in self.matchers:
            value = str(labels.get(matcher["name"], ""))
            if matcher.get("regex"):
                if not re.fullmatch(matcher["value"], value):
                    return False
            elif value != matcher["value"]:
                return False
        return True


class Notification(OutboxRow):
    """An alert notification in the outbox (core.outbox): written before anything is sent;
    delivered with retries and recorded."""

    class Kind(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ESCALATION = "escalation", "Escalation"
        TEST = "test", "Test"
        STAKEHOLDER = "stakeholder", "Stakeholder update"

    # Someone is waiting on an alert: retry sooner and longer than subscriber mail does.
    max_attempts = 10
    first_retry = datetime.timedelta(seconds=10)
    longest_wait = datetime.timedelta(minutes=30)

    # Receivers see this as the delivery id: the same on every retry of this notification.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    # An escalation step that pages the on-call person emails them directly.
    to_email = models.EmailField(blank=True)
    group = models.ForeignKey(AlertGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    message = models.JSONField(help_text="What is sent, before each transport shapes it.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due_idx")]

    def __str__(self) -> str:
        return f"{self.kind} -> {self.channel or self.to_email} ({self.status})"


class OnCallSchedule(models.Model):
    """A weekly rotation: members take turns, handing off at a local weekday and time."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    handoff_weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, default=Weekday.MONDAY)
    handoff_time = models.TimeField(default=datetime.time(9, 0))
    rotation_start = models.DateField(help_text="The first member's shift begins at the first hand-off on or after this day.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError({"time_zone": f"{self.time_zone!r} is not a known time zone; use an IANA name like Europe/Berlin."}) from None

    def on_call(self, now: Any) -> Any:
        """The user on call at `now` (an override first), or None."""
        from zoneinfo import ZoneInfo


        members = [m.user for m in self.members.select_related("user").order_by("position", "id")]
        overrides = [Override(o.user, o.starts_at, o.ends_at) for o in self.overrides.select_related("user")]
        return on_call(members, start=self.rotation_start, weekday=self.handoff_weekday, at=self.handoff_time,
                       tz=ZoneInfo(self.time_zone), now=now, overrides=overrides)


class OnCallMember(models.Model):
    schedule = models.ForeignKey(OnCallSchedule, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.user}"


class OnCallOverride(models.Model):
    schedule = models.ForeignKey(OnCallSchedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return f"{self.user} on {self.schedule} from {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "An override must end after it starts."})


class EscalationPolicy(models.Model):
    """Ordered steps: notify, wait, notify the next; repeated; stops when acknowledged."""

    name = models.CharField(max_length=100, unique=True)
    repeat = models.PositiveSmallIntegerField(default=0, help_text="How many times to run the steps again after the last one.")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class EscalationStep(models.Model):
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(default=0)
    channels = models.ManyToManyField(Channel, blank=True, related_name="+")
    schedule = models.ForeignKey(OnCallSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="Also email whoever is on call on this schedule.")
    wait_minutes = models.PositiveIntegerField(default=15, help_text="Wait this long for an acknowledgement before the next step.")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.policy} step {self.position}"


class Integration(models.Model):
    """An inbound source of alerts (Prometheus Alertmanager), routed through a rule's
    channels, grouping and escalation. Authenticated by a bearer token kept as a hash."""

    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager (webhook)"
        GRAFANA = "grafana", "Grafana alerting (webhook contact point)"
        SENTRY = "sentry", "Sentry (issue and metric alert webhooks)"
        PAGERDUTY = "pagerduty", "PagerDuty (V3 webhook: acknowledgements)"

    # Authenticated by the token Vigil issues (bearer, or basic auth's password); Sentry and PagerDuty sign instead.
    TOKEN_KINDS = (Kind.ALERTMANAGER, Kind.GRAFANA)
    SIGNED_KINDS = (Kind.SENTRY, Kind.PAGERDUTY)

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ALERTMANAGER)
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.PROTECT, related_name="integrations",
                             help_text="Alertmanager, Grafana, Sentry: its channels, grouping, runbook and escalation apply to the incoming alerts.")
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Config as code: `token: env:NAME` keeps the reference, read from the environment at each
    # request like every other secret, so the file and the database never hold the token itself.
    token_env = models.CharField(max_length=200, blank=True, editable=False)
    # PagerDuty signs its webhooks with the subscription's secret, Sentry with its integration's
    # client secret: it is kept to verify them (write-only in the admin).
    signing_secret = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_token(self) -> bool:
        return bool(self.token_hash or self.token_env)

    @property
    def endpoint_path(self) -> str:
        """Where its source posts: signed kinds carry the integration's id, token kinds find it by the token."""
        if self.kind in self.SIGNED_KINDS:
            return f"/api/v1/integrations/{self.kind}/{self.pk}"
        return f"/api/v1/integrations/{self.kind}"

    def clean(self) -> None:
        if self.token_env and not re.fullmatch(r"env:[A-Za-z_][A-Za-z0-9_]*", self.token_env):
            raise ValidationError({"token": f"integration '{self.name}': write the token as env:NAME with NAME an environment "
                                            f"variable's name (got {self.token_env!r})"})
        if self.kind != self.Kind.PAGERDUTY and self.rule_id is None:
            raise ValidationError({"rule": f"A {self.get_kind_display()} integration needs the rule whose channels and grouping its alerts use."})
        if self.kind == self.Kind.PAGERDUTY and not self.signing_secret:
            raise ValidationError({"signing_secret": "Paste the secret PagerDuty shows when you create the webhook subscription."})
        if self.kind == self.Kind.SENTRY and not self.signing_secret:
            raise ValidationError({"signing_secret": "Paste the Client Secret of your Sentry internal integration "
                                                     "(Settings > Custom Integrations > your integration > Credentials)."})


class SeverityPaging(models.Model):
    """Who is paged when an incident of this severity is declared (the severity policy's
    alerting half; its targets are incidents.SeverityPolicy). Pages go through `rule`, a rule
    this row manages (never matched against monitors), so acknowledgement, escalation,
    grouping (one group per incident) and silences apply as to any alert."""

    severity = models.CharField(max_length=10, unique=True, help_text="An incident impact: critical (SEV-1) .. none (SEV-4).")
    # The rule's channels and escalation policy are who is paged; the rule is this row's own.
    rule = models.OneToOneField(AlertRule, on_delete=models.CASCADE, related_name="severity_paging")

    class Meta:
        ordering = ["severity"]

    def __str__(self) -> str:
        return f"paging for {self.severity}"

    @property
    def pages_anyone(self) -> bool:
        return self.rule.escalation_policy_id is not None or self.rule.channels.exists()
