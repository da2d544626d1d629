"""Public status pages, their prebuilt snapshots, and subscribers with a delivery outbox."""

from __future__ import annotations

import hashlib
import re
import zoneinfo
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from core.outbox import OutboxRow
from core.text import single_line
from incidents.models import Component

HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Write the brand colour as #rrggbb, e.g. #1f6feb.")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StatusPage(models.Model):
    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private (login or access token)"

    class Clock(models.TextChoices):
        H24 = "24h", "24-hour (14:30 CET)"
        H12 = "12h", "12-hour (2:30 PM CET)"

    slug = models.SlugField(max_length=50, unique=True, help_text="The page lives at /status/ followed by this slug, e.g. /status/acme/.")
    title = models.CharField(max_length=120, validators=[single_line])
    description = models.CharField(max_length=300, blank=True, validators=[single_line])
    logo_url = models.URLField(blank=True, help_text="An image URL shown in the header (a static file or your CDN).")
    brand_colour = models.CharField(max_length=7, default="#1f6feb", validators=[HEX_COLOUR])
    time_zone = models.CharField(max_length=64, default="UTC", help_text="Times on the page are shown in this IANA time zone.")
    clock = models.CharField(max_length=3, choices=Clock.choices, default=Clock.H24,
                             help_text="How the page writes times; the zone's abbreviation always follows.")
    components = models.ManyToManyField(Component, through="StatusPageComponent", related_name="status_pages", blank=True)
    is_default = models.BooleanField(default=False, help_text="Served at /status/ and /api/v2/. Only one page can be the default.")
    domain = models.CharField(
        max_length=253, blank=True, null=True, unique=True,
        help_text="A request whose Host is this domain (e.g. status.example.com) gets this page at /. Add it to ALLOWED_HOSTS too.",
    )
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.PUBLIC)
    # The shared access token of a private page is shown once when it is made; only its hash is kept.
    access_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    footer_links = models.JSONField(default=list, blank=True, help_text='A list of {"label": ..., "url": ...}.')
    support_url = models.URLField(blank=True)
    allow_subscriptions = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True), name="statuspage_one_default"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_private(self) -> bool:
        return self.visibility == self.Visibility.PRIVATE

    def clean(self) -> None:
        errors: dict[str, str] = {}
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = f"{self.time_zone!r} is not a known time zone; use an IANA name like Europe/Berlin."
        if self.domain:
            self.domain = self.domain.strip().lower().rstrip(".")
            if not DOMAIN.match(self.domain):
                errors["domain"] = f"{self.domain!r} is not a host name; write it like status.example.com (no scheme, no path)."
        else:
            self.domain = None
        links = self.footer_links
        if not isinstance(links, list) or not all(
            isinstance(link, dict) and isinstance(link.get("label"), str) and isinstance(link.get("url"), str)
            and link["url"].startswith(("https://", "http://", "/")) for link in links
        ):
            errors["footer_links"] = 'Footer links must be a list like [{"label": "Support", "url": "https://example.com/help"}].'
        if errors:
            raise ValidationError(errors)

    def check_access_token(self, token: str) -> bool:
        import hmac

        return bool(self.access_token_hash) and hmac.compare_digest(self.access_token_hash, hash_token(token))


class StatusPageComponent(models.Model):
    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="page_components")
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["page", "component"], name="statuspage_component_unique")]

    def __str__(self) -> str:
        return f"{self.page}: {self.component}"


class StatusSnapshot(models.Model):
    """The last good build of a page, kept in the database so any web host can serve it
    when the cache is empty (the same documents are also written to a file)."""

    page = models.OneToOneField(StatusPage, on_delete=models.CASCADE, related_name="snapshot")
    built_at = models.DateTimeField()
    build_ms = models.PositiveIntegerField(default=0)
    # {document name: {"body": str, "type": content type, "etag": str}}
    documents = models.JSONField(default=dict)
    # {document name: {"error": str, "since": ISO time}}: documents the last rebuild could not
    # build (they keep their last good copy in `documents`); read by /health, /metrics, /ops/.
    failures = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"snapshot of {self.page} at {self.built_at:%Y-%m-%d %H:%M:%S}"


class Subscriber(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="subscribers")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    email = models.EmailField(help_text="Where the confirmation goes (and the updates, for email subscribers).")
    webhook_url = models.URLField(blank=True, max_length=500)
    # Signs webhook bodies (HMAC-SHA256); shown once on confirmation, masked afterwards.
    webhook_secret = models.CharField(max_length=64, blank=True)
    components = models.ManyToManyField(Component, blank=True, related_name="+", help_text="None chosen: every component.")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["page", "confirmed_at"], name="subscriber_page_confirmed_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.webhook_url or self.email}"

    @property
    def is_active(self) -> bool:
        return bool(self.confirmed_at) and not self.unsubscribed_at and not self.disabled_at


class SubscriberEvent(models.Model):
    """Something subscribers hear about once: an incident update or a maintenance step.

    `key` makes it once: the receiver and the catch-up sweep both get_or_create by it."""

    key = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=24)  # incident.update, maintenance.scheduled/started/completed
    incident_update = models.ForeignKey("incidents.IncidentUpdate", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    maintenance = models.ForeignKey("incidents.Maintenance", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    component_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        # The fan-out sweep reads events not fanned out yet.
        indexes = [models.Index(fields=["created_at"], condition=models.Q(fanned_out_at__isnull=True), name="subscriber_event_pending_idx")]

    def __str__(self) -> str:
        return self.key


class SubscriberDelivery(OutboxRow):
    """One subscriber's copy of one event in the outbox (core.outbox): delivered with retries
    and recorded. Receivers see its id as the delivery id, the same on every retry."""

    max_attempts = 8
    first_retry = timedelta(seconds=30)
    longest_wait = timedelta(hours=1)

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(SubscriberEvent, on_delete=models.CASCADE, related_name="deliveries")

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "subscriber deliveries"
        constraints = [models.UniqueConstraint(fields=["subscriber", "event"], name="delivery_once_per_subscriber")]
        # deliver_due claims pending rows whose time has come.
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.event} -> {self.subscriber} ({self.status})"
