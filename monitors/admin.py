from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone

from core.admin import AuditedModelAdmin
from core.models import AuditLog
from core.secrets import mask_secrets, restore_masked
from monitors import services
from monitors.bounds import BOUNDS, RETRY_INTERVAL_DEFAULT_TEXT, default_retry_interval
from monitors.models import Monitor, Region, Rollup, StateChange, Tag

ADMIN = AuditLog.Source.ADMIN


class MonitorForm(forms.ModelForm):
    """Secrets in settings are write-only: shown masked, kept when the mask comes back."""

    class Meta:
        model = Monitor
        fields = ["name", "kind", "target", "settings", "component", "tags", "paused", "interval_seconds", "timeout_seconds", "retries",
                  "retry_interval_seconds", "recovery_confirmations", "regions", "quorum", "heartbeat_period_seconds",
                  "heartbeat_grace_seconds", "heartbeat_schedule", "heartbeat_time_zone"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for bound in BOUNDS:  # the browser knows the limits too; the model says the same when they are broken
            if bound.field in self.fields:
                self.fields[bound.field].widget.attrs.update({"max": bound.maximum, **({} if bound.above_minimum else {"min": bound.minimum})})
                self.fields[bound.field].help_text = f"{self.fields[bound.field].help_text} Allowed: {bound.allowed()}.".strip()
        if "retry_interval_seconds" in self.fields:  # left empty: the default, which follows the interval
            self.fields["retry_interval_seconds"].required = False
            self.fields["retry_interval_seconds"].help_text += f" {RETRY_INTERVAL_DEFAULT_TEXT} Leave empty for the default."
            if self.instance.pk is None:
                self.initial["retry_interval_seconds"] = None
        if "heartbeat_time_zone" in self.fields:  # left empty (or absent from a scripted post): UTC
            self.fields["heartbeat_time_zone"].required = False
        if self.instance.pk and "settings" in self.fields:
            self.initial["settings"] = mask_secrets(self.instance.settings)
            self.fields["settings"].help_text += " Secrets show as ******** and stay unchanged unless you type a new value; prefer env:NAME."

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        interval, retry = data.get("interval_seconds"), data.get("retry_interval_seconds")
        if "retry_interval_seconds" not in self.fields or not interval:
            return data
        # The default follows the interval, as monitor_upsert does: left empty, or left at the old interval's default.
        stored = self.instance if self.instance.pk else None
        still_default = stored is not None and retry == stored.retry_interval_seconds == default_retry_interval(stored.interval_seconds)
        if retry is None or still_default:
            data["retry_interval_seconds"] = default_retry_interval(interval)
        return data

    def clean_heartbeat_time_zone(self) -> str:
        return self.cleaned_data.get("heartbeat_time_zone") or "UTC"

    def clean_settings(self) -> Any:
        value = self.cleaned_data.get("settings")
        original = Monitor.objects.filter(pk=self.instance.pk).values_list("settings", flat=True).first() if self.instance.pk else None
        return restore_masked(value, original or {})


@admin.register(Region)
class RegionAdmin(AuditedModelAdmin):
    list_display = ["name", "label", "queue"]
    search_fields = ["name", "label"]


@admin.register(Tag)
class TagAdmin(AuditedModelAdmin):
    search_fields = ["name"]


class StateChangeInline(admin.TabularInline):
    model = StateChange
    fields = ["at", "old_state", "new_state", "reason", "is_flapping"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StateChange]:
        recent = StateChange.objects.order_by("-at").values_list("pk", flat=True)
        return super().get_queryset(request).filter(pk__in=list(recent[:1000]))


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):  # not AuditedModelAdmin: monitors.services audits every write
    form = MonitorForm
    list_display = ["name", "kind", "state", "is_flapping", "last_checked_at", "last_latency_ms", "uptime_24h", "component", "paused"]
    list_filter = ["state", "kind", "paused", "is_flapping", "regions", "tags", "component"]
    search_fields = ["name", "target", "last_message"]
    filter_horizontal = ["regions", "tags"]
    readonly_fields = ["state", "state_since", "state_reason", "is_flapping", "last_checked_at", "last_outcome",
                       "last_latency_ms", "last_status_code", "last_message", "next_due_at", "ping_url", "last_ping_at"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "target", "settings", "component", "tags", "paused"]}),
        ("Schedule and confirmation", {"fields": ["interval_seconds", "timeout_seconds", "retries", "retry_interval_seconds",
                                                  "recovery_confirmations", "regions", "quorum"]}),
        ("Heartbeat", {"fields": ["ping_url", "heartbeat_period_seconds", "heartbeat_schedule", "heartbeat_time_zone",
                                  "heartbeat_grace_seconds", "last_ping_at"],
                       "classes": ["collapse"]}),
        ("Current state", {"fields": ["state", "state_since", "state_reason", "is_flapping", "last_checked_at", "last_outcome",
                                      "last_latency_ms", "last_status_code", "last_message", "next_due_at"]}),
    ]
    inlines = [StateChangeInline]
    actions = ["pause", "resume", "check_now", "duplicate"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)

        class EgressCheckedForm(form):  # type: ignore[misc, valid-type]
            def _post_clean(self) -> None:
                super()._post_clean()
                try:  # the form error monitor_upsert would raise on save: the saver's role limits the networks
                    services.monitor_refuse_outside_egress(monitor=self.instance, by=request.user)
                except ValidationError as exc:
                    self._update_errors(exc)

        return EgressCheckedForm

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        self._uptime: dict[int, float] = {}
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Monitor]:
        return super().get_queryset(request).select_related("component")

    @admin.display(description="Uptime 24 h")
    def uptime_24h(self, obj: Monitor) -> str:
        # One rollup query for the whole page, on first use (hourly rollups, never raw rows).
        cache = getattr(self, "_uptime", None)
        if cache is None:
            cache = self._uptime = {}
        if not cache:
            since = timezone.now() - timedelta(hours=24)
            rows = Rollup.objects.filter(period=Rollup.Period.HOUR, start__gte=since).values("monitor_id").annotate(
                total=Sum("total"), ok=Sum("ok"), degraded=Sum("degraded")).values_list("monitor_id", "total", "ok", "degraded").order_by()
            cache.update({pk: (ok + degraded) / total * 100 for pk, total, ok, degraded in rows if total})
            cache.setdefault(-1, 0.0)  # marks the page as loaded even when no monitor has rollups
        value = cache.get(obj.pk)
        return "–" if value is None else f"{value:.2f}%"

    @admin.display(description="Ping URL")
    def ping_url(self, obj: Monitor) -> str:
        if obj.ping_url is None or obj.pk is None:
            return "(heartbeat monitors only)"
        return obj.ping_url

    # Every write goes through monitors.services, as the API's and config import's do: the "paused"
    # box pauses the way the pause action does (a state change, the component follows).
    def save_model(self, request: HttpRequest, obj: Monitor, form: Any, change: bool) -> None:
        changed = {name: form.cleaned_data.get(name) for name in form.changed_data}
        if "tags" in changed:
            changed["tags"] = [tag.name for tag in changed["tags"]]
        services.monitor_upsert(monitor=obj, changes=changed, by=request.user, now=timezone.now(), audit_source=ADMIN, request=request)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Regions and tags were set by monitor_upsert; the form's save_m2m would set them a second time.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Monitor) -> None:
        services.monitor_delete(monitor=obj, by=request.user, audit_source=ADMIN, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Monitor]) -> None:
        for monitor in queryset:
            services.monitor_delete(monitor=monitor, by=request.user, audit_source=ADMIN, request=request)

    @admin.action(description="Pause selected monitors", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Monitor]) -> None:
        count = services.monitor_set_paused(monitor_ids=queryset.values_list("pk", flat=True), paused=True, now=timezone.now(),
                                            by=request.user, audit_source=ADMIN, request=request)
        self.message_user(request, f"Paused {count} monitor(s).", messages.SUCCESS)

    @admin.action(description="Resume selected monitors", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Monitor]) -> None:
        count = services.monitor_set_paused(monitor_ids=queryset.values_list("pk", flat=True), paused=False, now=timezone.now(),
                                            by=request.user, audit_source=ADMIN, request=request)
        self.message_user(request, f"Resumed {count} monitor(s).", messages.SUCCESS)

    @admin.action(description="Check selected monitors now", permissions=["change"])
    def check_now(self, request: HttpRequest, queryset: QuerySet[Monitor]) -> None:
        count = services.monitor_check_now(monitor_ids=queryset.values_list("pk", flat=True), now=timezone.now())
        self.message_user(request, f"{count} monitor(s) will be checked within a second or two.", messages.SUCCESS)

    @admin.action(description="Duplicate selected monitors", permissions=["add"])
    def duplicate(self, request: HttpRequest, queryset: QuerySet[Monitor]) -> None:
        now = timezone.now()
        copies = [services.monitor_clone(original=original, by=request.user, now=now, audit_source=ADMIN, request=request)
                  for original in queryset]
        created = len(copies)
        self.message_user(request, f"Created {created} paused cop{'y' if created == 1 else 'ies'}; review and resume them.", messages.SUCCESS)
