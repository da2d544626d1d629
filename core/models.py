from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditLog(models.Model):
    """Who changed what, when and from where. Written only by core.services.audit_record."""

    class Source(models.TextChoices):
        ADMIN = "admin"
        API = "api"
        CONSOLE = "console"
        COMMAND = "command"
        SYSTEM = "system"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.SYSTEM)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)

    class Meta:
        # The table keeps the name it had when the project package held this model.
        db_table = "portal_auditlog"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-at"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action} {self.object_type} {self.object_repr}"


class Event(models.Model):
    """Something happened that other apps react to (docs/architecture.md, "Events").

    Written by core.events.record in the same transaction as the change it announces,
    so an event exists exactly when its change committed. Consumers read events in id
    order, each with its own cursor (EventCursor); events with one key (monitor:12,
    incident:7) are handled in order by every consumer.
    """

    topic = models.CharField(max_length=40)
    key = models.CharField(max_length=80)
    payload = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(help_text="When the change happened (the writer's clock).")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.topic} {self.key}"


class EventCursor(models.Model):
    """How far one consumer has read the event log; moved in the transaction that handles each event."""

    consumer = models.CharField(max_length=40, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.consumer} at #{self.position}"


class EventFailure(models.Model):
    """An event a consumer could not handle yet: retried with backoff, then quarantined.

    Later events with the same key wait behind it (state waiting), so each monitor's
    events stay in order, while every other key goes on.
    """

    class State(models.TextChoices):
        RETRYING = "retrying"
        WAITING = "waiting", "waiting behind an earlier failure"
        QUARANTINED = "quarantined"

    consumer = models.CharField(max_length=40)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="failures")
    key = models.CharField(max_length=80)
    state = models.CharField(max_length=12, choices=State.choices)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    first_failed_at = models.DateTimeField(null=True, blank=True)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["event_id"]
        constraints = [models.UniqueConstraint(fields=["consumer", "event"], name="eventfailure_once_per_consumer")]
        # The runner's two questions: is this key held back (consumer, key), and what is due (consumer, state, next_attempt_at).
        indexes = [
            models.Index(fields=["consumer", "key"], name="eventfailure_key_idx"),
            models.Index(fields=["consumer", "state", "next_attempt_at"], name="eventfailure_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.consumer}: event #{self.event_id} {self.state} after {self.attempts} attempt(s)"
