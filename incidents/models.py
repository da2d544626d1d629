from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from core.text import multi_line, single_line


class ComponentStatus(models.TextChoices):
    """Statuspage's component statuses, worst last."""

    OPERATIONAL = "operational", "Operational"
    DEGRADED_PERFORMANCE = "degraded_performance", "Degraded performance"
    UNDER_MAINTENANCE = "under_maintenance", "Under maintenance"
    PARTIAL_OUTAGE = "partial_outage", "Partial outage"
    MAJOR_OUTAGE = "major_outage", "Major outage"


STATUS_RANK = {status: rank for rank, status in enumerate(ComponentStatus.values)}


def worst_status(statuses: list[str]) -> str:
    return max(statuses, key=STATUS_RANK.__getitem__) if statuses else ComponentStatus.OPERATIONAL


class ComponentGroup(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[single_line])
    description = models.CharField(max_length=300, blank=True, validators=[single_line])
    position = models.PositiveIntegerField(default=0)
    is_public = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Component(models.Model):
    Status = ComponentStatus

    name = models.CharField(max_length=100, unique=True, validators=[single_line])
    description = models.CharField(max_length=300, blank=True, validators=[single_line])
    group = models.ForeignKey(ComponentGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="components")
    position = models.PositiveIntegerField(default=0)
    is_public = models.BooleanField(default=True, help_text="Private components never appear on public pages or APIs.")
    # `status` is what everyone sees: the override of an open incident, else maintenance,
    # else `derived_status` (from its monitors). Written only by incidents.services.
    status = models.CharField(max_length=24, choices=ComponentStatus.choices, default=ComponentStatus.OPERATIONAL)
    derived_status = models.CharField(max_length=24, choices=ComponentStatus.choices, default=ComponentStatus.OPERATIONAL)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Incident(models.Model):
    class Impact(models.TextChoices):
        CRITICAL = "critical", "SEV-1 critical"
        MAJOR = "major", "SEV-2 major"
        MINOR = "minor", "SEV-3 minor"
        NONE = "none", "SEV-4 none"

    class Status(models.TextChoices):
        INVESTIGATING = "investigating", "Investigating"
        IDENTIFIED = "identified", "Identified"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"
        POSTMORTEM = "postmortem", "Postmortem"

    SEVERITY = {"critical": "SEV-1", "major": "SEV-2", "minor": "SEV-3", "none": "SEV-4"}
    OPEN_STATUSES = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)

    title = models.CharField(max_length=200, validators=[single_line])
    impact = models.CharField(max_length=10, choices=Impact.choices, default=Impact.MINOR)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.INVESTIGATING, db_index=True)
    is_public = models.BooleanField(default=True, help_text="Internal incidents never appear on public pages or APIs.")
    commander = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField()
    identified_at = models.DateTimeField(null=True, blank=True)
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Set by the service from the action's one `now` (not the clock at save time), so
    # created_at, started_at and the first update's time of one action are equal.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Bumped by every write; a form carries the version it was rendered from, so a
    # stale edit (someone else posted meanwhile) is refused instead of overwriting.
    version = models.PositiveIntegerField(default=1)
    auto_rule = models.ForeignKey("AutoIncidentRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents")
    # True while the incident is run by its auto rule; a person posting takes it over.
    auto_managed = models.BooleanField(default=False)
    # The severity policy's acknowledge target stops here (the page acknowledged, or a responder on the console).
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    war_room_url = models.URLField(max_length=500, blank=True, help_text="Where responders meet: a chat channel or call link.")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["is_public", "-started_at"], name="incident_public_started_idx")]

    def __str__(self) -> str:
        return f"{self.severity} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incident-detail", args=[self.pk])

    @property
    def severity(self) -> str:
        return self.SEVERITY[self.impact]

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def clean(self) -> None:
        if self.resolved_at and self.started_at and self.resolved_at < self.started_at:
            raise ValidationError({"resolved_at": "resolved_at must not be before started_at"})


class ComponentImpact(models.Model):
    """The status an open incident sets on a component (the override)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="impacts")
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="impacts")
    status = models.CharField(max_length=24, choices=ComponentStatus.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "component"], name="impact_incident_component_unique")]

    def __str__(self) -> str:
        return f"{self.component}: {self.get_status_display()}"


class IncidentUpdate(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=14, choices=Incident.Status.choices)
    message = models.TextField(help_text="Markdown.", validators=[multi_line])
    message_html = models.TextField(blank=True, help_text="Sanitized rendering of the message.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField()
    notify_subscribers = models.BooleanField(default=True)
    # The component statuses this update set, as [{"component": id, "name": ..., "status": ...}].
    affected_components = models.JSONField(default=list, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.status} at {self.created_at:%Y-%m-%d %H:%M}"


class IncidentUpdateRevision(models.Model):
    """The earlier text of an edited update: history is kept, never silently rewritten."""

    update = models.ForeignKey(IncidentUpdate, on_delete=models.CASCADE, related_name="revisions")
    message = models.TextField()
    edited_at = models.DateTimeField()
    editor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-edited_at", "-id"]

    def __str__(self) -> str:
        return f"revision of update {self.update_id} at {self.edited_at:%Y-%m-%d %H:%M}"


class Maintenance(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        IN_PROGRESS = "in_progress", "In progress"
        VERIFYING = "verifying", "Verifying"
        COMPLETED = "completed", "Completed"

    ACTIVE_STATUSES = (Status.IN_PROGRESS, Status.VERIFYING)

    title = models.CharField(max_length=200, validators=[single_line])
    message = models.TextField(blank=True, help_text="Markdown.", validators=[multi_line])
    components = models.ManyToManyField(Component, related_name="maintenances", blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    time_zone = models.CharField(max_length=64, default="UTC", help_text="Shown to readers next to the times.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED, db_index=True)
    auto_transition = models.BooleanField(default=True, help_text="Start and complete on time by itself.")
    recurrence = models.CharField(
        max_length=300, blank=True, help_text="iCal RRULE, e.g. FREQ=WEEKLY;BYDAY=SU. The next window is created when this one completes."
    )
    series = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="occurrences")
    suppress_alerts = models.BooleanField(default=True)
    exclude_from_slo = models.BooleanField(default=True)
    is_public = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # From the action's `now` (maintenance_save): a window that starts as it is created
    # has started_at == created_at, never a millisecond before it.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["status", "starts_at"], name="maintenance_status_start_idx")]

    def __str__(self) -> str:
        return f"{self.title} ({self.starts_at:%Y-%m-%d %H:%M})"

    def clean(self) -> None:
        import zoneinfo

        errors = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = "The end must be after the start."
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = f"{self.time_zone!r} is not a known time zone; use an IANA name like Europe/Berlin."
        if self.recurrence:
            from dateutil.rrule import rrulestr

            try:
                rrulestr(self.recurrence, dtstart=self.starts_at)
            except (ValueError, TypeError) as exc:
                errors["recurrence"] = f"Not a valid RRULE ({exc}); write it like FREQ=WEEKLY;BYDAY=SU."
        if errors:
            raise ValidationError(errors)


class Postmortem(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    summary = models.TextField(blank=True, validators=[multi_line])
    impact = models.TextField(blank=True, validators=[multi_line])
    timeline = models.TextField(blank=True, help_text="Pulled from the incident's updates when the postmortem is started; editable.",
                                validators=[multi_line])
    root_cause = models.TextField(blank=True, validators=[multi_line])
    lessons = models.TextField(blank=True, validators=[multi_line])
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    published_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Postmortem: {self.incident.title}"


class ActionItem(models.Model):
    postmortem = models.ForeignKey(Postmortem, on_delete=models.CASCADE, related_name="action_items")
    description = models.CharField(max_length=300, validators=[single_line])
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    due_date = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["done", "due_date", "id"]

    def __str__(self) -> str:
        return self.description


class AutoIncidentRule(models.Model):
    """Open an incident when a component's monitors confirm an outage; resolve on recovery."""

    class OnRecovery(models.TextChoices):
        RESOLVE = "resolve", "Post 'resolved'"
        MONITORING = "monitoring", "Post 'monitoring' and let a person resolve"

    component = models.OneToOneField(Component, on_delete=models.CASCADE, related_name="auto_incident_rule")
    enabled = models.BooleanField(default=True)
    trigger_status = models.CharField(
        max_length=24, choices=ComponentStatus.choices, default=ComponentStatus.PARTIAL_OUTAGE,
        help_text="Open an incident when the component's derived status is this bad or worse.",
    )
    impact = models.CharField(max_length=10, choices=Incident.Impact.choices, default=Incident.Impact.MAJOR)
    title_template = models.CharField(max_length=200, default="{component} outage", validators=[single_line])
    message_template = models.TextField(default="We are investigating problems with {component}: {reason}", validators=[multi_line])
    recovery_message = models.TextField(default="{component} has recovered; we are monitoring.", validators=[multi_line])
    on_recovery = models.CharField(max_length=12, choices=OnRecovery.choices, default=OnRecovery.RESOLVE)
    is_public = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"auto-incident for {self.component}"


# The guides' response targets (docs/incidents.md cites them): SEV-1 pages at once and is
# answered within 5 minutes, investigation starts within 15 minutes for SEV-2 and within
# an hour for SEV-3, SEV-4 is a ticket; postmortems are written within 48 hours.
SEVERITY_DEFAULTS: dict[str, dict[str, int | None]] = {
    "critical": {"ack_within_seconds": 5 * 60, "first_update_within_seconds": 15 * 60, "postmortem_within_seconds": 48 * 3600},
    "major": {"ack_within_seconds": 15 * 60, "first_update_within_seconds": 30 * 60, "postmortem_within_seconds": 48 * 3600},
    "minor": {"ack_within_seconds": 3600, "first_update_within_seconds": None, "postmortem_within_seconds": None},
    "none": {"ack_within_seconds": None, "first_update_within_seconds": None, "postmortem_within_seconds": None},
}


class SeverityPolicy(models.Model):
    """One severity's response targets. A severity without a row keeps SEVERITY_DEFAULTS;
    who is paged on declare lives in alerting (alerting.SeverityPaging), above this app."""

    severity = models.CharField(max_length=10, choices=Incident.Impact.choices, unique=True)
    ack_within_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Acknowledge within; empty: no target.")
    first_update_within_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Post the first update after the declaration within; empty: no target.")
    postmortem_within_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="A postmortem is due this long after resolution; empty: none required.")

    class Meta:
        ordering = ["severity"]
        verbose_name_plural = "severity policies"

    def __str__(self) -> str:
        return f"{Incident.SEVERITY[self.severity]} policy"


class Deploy(models.Model):
    """A deploy marker: "v2.3.1 of checkout deployed at 14:02". CI posts it (POST /api/v1/deploys,
    manage.py deploy); charts, the incident console's "what changed" and the dashboard show it,
    and alert rules may watch the hour after it more closely."""

    version = models.CharField(max_length=100, validators=[single_line])
    service = models.CharField(max_length=100, blank=True, validators=[single_line], help_text="Free text, when no component fits.")
    component = models.ForeignKey(Component, null=True, blank=True, on_delete=models.SET_NULL, related_name="deploys")
    by = models.CharField(max_length=150, blank=True, validators=[single_line], help_text="Who or what deployed (a person, a CI job).")
    url = models.URLField(max_length=500, blank=True, help_text="The release, pipeline or diff.")
    at = models.DateTimeField(db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.version} of {self.target} at {self.at:%Y-%m-%d %H:%M}"

    @property
    def target(self) -> str:
        return self.component.name if self.component_id else self.service

    def clean(self) -> None:
        if not self.service and self.component_id is None:
            raise ValidationError({"service": "Name the service deployed (service) or its component (component_id)."})


# The guides' incident response checklist (docs/incidents.md), phase by phase: the console
# shows it as tick boxes and records each tick (IncidentStep) on the timeline.
CHECKLIST: list[tuple[str, str, str]] = [
    ("detection", "severity_assessed", "Severity assessed"),
    ("detection", "commander_assigned", "Incident commander assigned"),
    ("detection", "war_room_created", "War room created"),
    ("investigation", "health_checked", "Health endpoints checked"),
    ("investigation", "logs_reviewed", "Error logs reviewed"),
    ("investigation", "deploys_checked", "Recent deployments checked"),
    ("investigation", "root_cause", "Root cause identified"),
    ("mitigation", "mitigated", "Fix applied, deployment rolled back, resources scaled or feature disabled"),
    ("communication", "public_page_updated", "Public incident page updated"),
    ("communication", "users_notified", "Affected users notified"),
    ("communication", "stakeholders_updated", "Stakeholders updated"),
    ("resolution", "fix_verified", "Fix verified deployed"),
    ("resolution", "services_healthy", "Services confirmed healthy"),
    ("post-incident", "postmortem_written", "Postmortem written, action items identified, runbooks updated"),
]
CHECKLIST_LABELS = {key: label for _phase, key, label in CHECKLIST}


class IncidentStep(models.Model):
    """A checklist step ticked on the console: who and when (shown on the timeline, never on public pages)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=40, choices=[(key, label) for _phase, key, label in CHECKLIST])
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    done_by_name = models.CharField(max_length=150, blank=True)
    done_at = models.DateTimeField()

    class Meta:
        ordering = ["done_at", "id"]
        constraints = [models.UniqueConstraint(fields=["incident", "step"], name="incident_step_unique")]

    def __str__(self) -> str:
        return f"{CHECKLIST_LABELS.get(self.step, self.step)} by {self.done_by_name} at {self.done_at:%H:%M}"


class StakeholderUpdate(models.Model):
    """An internal update for stakeholders (leadership, support): sent to the severity's channels
    by alerting, shown on the console's log, never on public pages."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="stakeholder_updates")
    message = models.TextField(validators=[multi_line])
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"stakeholder update on {self.incident_id} at {self.created_at:%Y-%m-%d %H:%M}"


class CommunicationTemplate(models.Model):
    """A team's own starting text for an update, per audience and status; without a row the
    built-in text (incidents.update_templates.DEFAULTS) is used."""

    class Audience(models.TextChoices):
        PUBLIC = "public", "Public (status page)"
        INTERNAL = "internal", "Internal (stakeholders)"

    audience = models.CharField(max_length=8, choices=Audience.choices)
    status = models.CharField(max_length=14, choices=[c for c in Incident.Status.choices if c[0] != "postmortem"])
    text = models.TextField(validators=[multi_line], help_text="Placeholders: {components}, {duration}, {title}, {severity}, {commander}.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["audience", "status"]
        constraints = [models.UniqueConstraint(fields=["audience", "status"], name="communication_template_unique")]

    def __str__(self) -> str:
        return f"{self.audience} {self.status} template"


class OpsChecklist(models.Model):
    """A team's recurring checklist (the guides' daily, weekly and monthly checks), signed off once per period."""

    class Cadence(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"

    name = models.CharField(max_length=100, unique=True, validators=[single_line])
    cadence = models.CharField(max_length=8, choices=Cadence.choices)
    team = models.CharField(max_length=100, blank=True, validators=[single_line])
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class OpsChecklistItem(models.Model):
    checklist = models.ForeignKey(OpsChecklist, on_delete=models.CASCADE, related_name="items")
    text = models.CharField(max_length=300, validators=[single_line])
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class OpsChecklistSignOff(models.Model):
    """Who signed a checklist off for one period (a day, an ISO week, a month), and when."""

    checklist = models.ForeignKey(OpsChecklist, on_delete=models.CASCADE, related_name="sign_offs")
    period_start = models.DateField()
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    signed_by_name = models.CharField(max_length=150)
    signed_at = models.DateTimeField()
    note = models.CharField(max_length=300, blank=True, validators=[single_line])

    class Meta:
        ordering = ["-period_start"]
        constraints = [models.UniqueConstraint(fields=["checklist", "period_start"], name="checklist_signoff_period_unique")]

    def __str__(self) -> str:
        return f"{self.checklist} {self.period_start} by {self.signed_by_name}"
