"""Service level objectives over monitors, and the snapshots the pages and charts read."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from lib import latency_histogram


class SLO(models.Model):
    class Kind(models.TextChoices):
        AVAILABILITY = "availability", "Availability (checks up / valid checks)"
        LATENCY = "latency", "Latency (checks faster than a threshold / checks with a latency)"

    class Window(models.TextChoices):
        ROLLING_7 = "rolling_7d", "Rolling 7 days"
        ROLLING_28 = "rolling_28d", "Rolling 28 days"
        ROLLING_30 = "rolling_30d", "Rolling 30 days"
        CALENDAR_MONTH = "calendar_month", "Calendar month"

    ROLLING_DAYS = {Window.ROLLING_7: 7, Window.ROLLING_28: 28, Window.ROLLING_30: 30}

    name = models.CharField(max_length=120, unique=True)
    description = models.CharField(max_length=300, blank=True)
    component = models.ForeignKey("incidents.Component", null=True, blank=True, on_delete=models.SET_NULL, related_name="slos",
                                  help_text="The service this objective is about (reports group by it).")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.AVAILABILITY)
    latency_threshold_ms = models.PositiveIntegerField(null=True, blank=True,
                                                       help_text="Latency SLOs: a check is good below this many ms.")
    objective = models.FloatField(help_text="Percent, e.g. 99.9.")
    window = models.CharField(max_length=16, choices=Window.choices, default=Window.ROLLING_30)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="Where calendar months begin and end.")
    monitors = models.ManyToManyField("monitors.Monitor", related_name="slos")
    exclude_maintenance = models.BooleanField(default=True, help_text="Checks inside maintenance windows marked 'exclude from SLO' do not count.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    alert_rule = models.ForeignKey("alerting.AlertRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="slos",
                                   help_text="Burn-rate alerts go out through this rule's channels, grouping and escalation.")
    min_events = models.PositiveIntegerField(default=30, help_text="Burn-rate alerts need at least this many checks in the long window ...")
    min_bad_events = models.PositiveIntegerField(default=3, help_text="... and at least this many failed ones (one blip never pages).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "SLO"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.objective is not None and not 0 < self.objective < 100:
            errors["objective"] = "The objective is a percentage between 0 and 100, e.g. 99.9."
        if self.kind == self.Kind.LATENCY:
            bounds = latency_histogram.BOUNDS_MS
            if self.latency_threshold_ms not in bounds:
                nearest = min(bounds, key=lambda b: abs(b - (self.latency_threshold_ms or 0)))
                errors["latency_threshold_ms"] = (f"Latency SLOs are counted from the rollups' histogram, so the threshold must be one "
                                                  f"of its bucket bounds; the nearest is {nearest} ms.")
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = f"{self.time_zone!r} is not a known time zone; use an IANA name like Europe/Berlin."
        if errors:
            raise ValidationError(errors)


class SLOSnapshot(models.Model):
    """The figures of one SLO at one minute: what pages and charts draw."""

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="snapshots")
    at = models.DateTimeField()
    good = models.BigIntegerField()
    valid = models.BigIntegerField()
    sli = models.FloatField()
    budget_minutes = models.FloatField()
    spent_minutes = models.FloatField()
    remaining_ratio = models.FloatField()
    burn_1h = models.FloatField()
    burn_6h = models.FloatField()
    burn_3d = models.FloatField()
    exhaustion_minutes = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=12)

    class Meta:
        ordering = ["-at"]
        constraints = [models.UniqueConstraint(fields=["slo", "at"], name="slo_snapshot_unique")]

    def __str__(self) -> str:
        return f"{self.slo} at {self.at:%Y-%m-%d %H:%M}: {self.sli:.5f}"


class ReportSubscription(models.Model):
    """A manager who gets the monthly SLO report by email on the 1st."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slo_report_subscription")
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"SLO report to {self.user}"


class ReportMailing(models.Model):
    """One row per month mailed: the beat task claims it first, so a restart never mails twice."""

    month = models.CharField(max_length=7, unique=True, help_text="YYYY-MM")
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"SLO report {self.month}"


class DigestSubscription(models.Model):
    """A person who opted in to the daily digest email (yesterday's incidents, alerts, SLO burn, overdue checklists)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_subscription")
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"daily digest to {self.user}"


class DigestMailing(models.Model):
    """One row per day mailed: the beat task claims it first, so a restart never mails twice."""

    day = models.DateField(unique=True, help_text="The day the digest reports on.")
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"digest for {self.day}"
