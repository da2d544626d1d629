"""One form for a monitor (create and edit), its fields following the kind, with "Test now"
before saving, and in the same form the component, the status pages and the alert route.
Saving goes through monitors.services.monitor_upsert, as the admin, the API and config do."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from alerting import services as alerting_services
from alerting.models import Channel
from core.roles import RESPONDER, role_required
from incidents.models import Component
from monitors import services
from monitors.checkers import run_check
from monitors.checkers.base import CheckSession
from monitors.models import Monitor
from statuspage import services as page_services
from statuspage.models import StatusPage

# What the target means for each kind (label, example); a heartbeat has none: it is pinged.
TARGETS = {
    Monitor.Kind.HTTP: ("URL", "https://example.com/health"),
    Monitor.Kind.HEALTH_JSON: ("URL of the health document", "https://example.com/health"),
    Monitor.Kind.TLS: ("Host and port", "example.com:443"),
    Monitor.Kind.TCP: ("Host and port", "db.internal:5432"),
    Monitor.Kind.DNS: ("Name to resolve", "example.com"),
    Monitor.Kind.POSTGRES: ("Connection URL (env:NAME reads it from the environment)", "env:PAYMENTS_DB_URL"),
    Monitor.Kind.REDIS: ("Connection URL (env:NAME reads it from the environment)", "redis://cache.internal:6379/0"),
    Monitor.Kind.METRIC: ("Prometheus query URL", "http://prometheus:9090"),
}
# Kinds that judge a number against warn_above/down_above/... (monitors.checkers.thresholds), and
# those whose breaches wait for warn_for_seconds/down_for_seconds (HTTP: its latency limits).
THRESHOLD_KINDS = (Monitor.Kind.METRIC, Monitor.Kind.HEALTH_JSON, Monitor.Kind.POSTGRES, Monitor.Kind.REDIS, Monitor.Kind.HEARTBEAT)
FOR_KINDS = (*THRESHOLD_KINDS, Monitor.Kind.HTTP)
THRESHOLD_FIELDS = ("warn_above", "down_above", "warn_below", "down_below")
FOR_FIELDS = ("warn_for_seconds", "down_for_seconds")
EDITABLE = ("name", "kind", "target", "interval_seconds", "timeout_seconds", "retries", "component", "heartbeat_period_seconds",
            "heartbeat_grace_seconds", "settings")


class MonitorForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Monitor.Kind.choices, initial=Monitor.Kind.HTTP)
    target = forms.CharField(max_length=500, required=False)
    # Not required: a heartbeat's form has no such fields, and a blank one keeps the model's default.
    interval_seconds = forms.IntegerField(min_value=1, initial=60, required=False, label="Check every (seconds)")
    timeout_seconds = forms.FloatField(min_value=0.1, initial=10, required=False, label="Timeout (seconds)")
    retries = forms.IntegerField(min_value=0, initial=1, required=False, label="Retries before down")
    heartbeat_period_seconds = forms.IntegerField(min_value=1, required=False, initial=86400, label="Expect a ping every (seconds)")
    heartbeat_grace_seconds = forms.IntegerField(min_value=0, required=False, initial=3600, label="Grace (seconds)")
    settings = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Settings (JSON, optional)",
                               help_text='Kind-specific, e.g. {"expected_status": [200], "latency_warn_ms": 1000}.')
    # Kept in settings (the same keys config files and the API write); shown for the kinds that judge a number.
    warn_above = forms.FloatField(required=False, label="Warning above", help_text="Degraded when the value is above this.")
    down_above = forms.FloatField(required=False, label="Critical above", help_text="Down when the value is above this.")
    warn_below = forms.FloatField(required=False, label="Warning below", help_text="Degraded when the value is below this.")
    down_below = forms.FloatField(required=False, label="Critical below", help_text="Down when the value is below this.")
    warn_for_seconds = forms.FloatField(required=False, min_value=0, label="Warning after (seconds)",
                                        help_text="A warning counts once the value has been past its limit this long.")
    down_for_seconds = forms.FloatField(required=False, min_value=0, label="Critical after (seconds)",
                                        help_text="Down once the value has been past the critical limit this long.")
    component = forms.ModelChoiceField(queryset=Component.objects.order_by("name"), required=False,
                                       help_text="The monitor's state sets this component's status.")
    status_pages = forms.ModelMultipleChoiceField(queryset=StatusPage.objects.order_by("slug"), required=False,
                                                  widget=forms.CheckboxSelectMultiple, help_text="Show the component on these pages.")
    channels = forms.ModelMultipleChoiceField(queryset=Channel.objects.filter(enabled=True).order_by("name"), required=False,
                                              widget=forms.CheckboxSelectMultiple, label="Alert these channels when it is down",
                                              help_text="After a minute down; a rule of its own, editable in the admin.")
    paused = forms.BooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self.data.get("kind") or self.initial.get("kind") or Monitor.Kind.HTTP
        label, example = TARGETS.get(kind, ("Target", ""))
        self.fields["target"].label = label
        self.fields["target"].widget.attrs["placeholder"] = example
        self.selected_kind = kind
        self.judges_a_number = kind in THRESHOLD_KINDS
        self.waits_for_breaches = kind in FOR_KINDS

    def clean_settings(self) -> dict[str, Any]:
        text = self.cleaned_data.get("settings", "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f'not JSON ({exc.msg} at character {exc.pos}); write it like {{"expected_status": [200]}}') from None
        if not isinstance(value, dict):
            raise ValidationError('settings are a JSON object, e.g. {"expected_status": [200]}')
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("status_pages") and not data.get("component"):
            self.add_error("status_pages", "choose a component first: a page shows components, and the monitor's state reaches it through one")
        if data.get("kind") != Monitor.Kind.HEARTBEAT and not (data.get("target") or "").strip():
            self.add_error("target", f"a {Monitor.Kind(data.get('kind', 'http')).label} monitor needs a target, e.g. {TARGETS.get(data.get('kind', ''), ('', 'https://example.com'))[1]}")
        return data

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {name: data.get(name) for name in EDITABLE}
        values["target"] = (values["target"] or "").strip()
        if data["kind"] != Monitor.Kind.HEARTBEAT:
            values.pop("heartbeat_period_seconds"), values.pop("heartbeat_grace_seconds")
        for name in ("interval_seconds", "timeout_seconds", "retries", "heartbeat_period_seconds", "heartbeat_grace_seconds"):
            if name in values and values[name] is None:
                values.pop(name)  # the model's default (or, editing, the value it has)
        values["settings"] = self._with_thresholds(dict(values.get("settings") or {}), data["kind"])
        values["paused"] = data.get("paused", False)
        return values

    def _with_thresholds(self, settings: dict[str, Any], kind: str) -> dict[str, Any]:
        """The threshold fields the kind shows replace those keys of the settings (a blank field removes its key)."""
        shown = (THRESHOLD_FIELDS if kind in THRESHOLD_KINDS else ()) + (FOR_FIELDS if kind in FOR_KINDS else ())
        for name in shown:
            value = self.cleaned_data.get(name)
            if value is None:
                settings.pop(name, None)
            else:
                settings[name] = int(value) if float(value).is_integer() else value
        return settings


def _initial(monitor: Monitor) -> dict[str, Any]:
    initial = {name: getattr(monitor, name) for name in EDITABLE}
    shown = (THRESHOLD_FIELDS if monitor.kind in THRESHOLD_KINDS else ()) + (FOR_FIELDS if monitor.kind in FOR_KINDS else ())
    rest = {key: value for key, value in (monitor.settings or {}).items() if key not in shown}
    initial.update({name: (monitor.settings or {}).get(name) for name in shown})
    initial["settings"] = json.dumps(rest) if rest else ""
    initial["paused"] = monitor.paused
    initial["status_pages"] = list(StatusPage.objects.filter(components=monitor.component_id)) if monitor.component_id else []
    rule = alerting_services.monitor_route_rule(monitor)
    initial["channels"] = list(rule.channels.all()) if rule else []
    return initial


def _apply_errors(form: MonitorForm, exc: ValidationError | ValueError) -> None:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, [f"{field}: {e}" if field not in form.fields else e for e in errors])
    else:
        form.add_error(None, "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))


@role_required(RESPONDER)
@require_http_methods(["GET", "POST"])
def monitor_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    monitor = get_object_or_404(Monitor, pk=pk) if pk else None
    clone = request.GET.get("clone")
    if request.method == "GET":
        source = monitor or (get_object_or_404(Monitor, pk=clone) if clone else None)
        initial = _initial(source) if source else {}
        if clone and source:
            initial["name"] = f"{source.name} (copy)"
        if request.htmx and "kind" in request.GET:
            # The kind changed: the fields that depend on it, as typed so far.
            typed = {name: field.initial for name, field in MonitorForm.base_fields.items() if field.initial is not None}
            typed.update(request.GET.dict())
            form = MonitorForm(typed)
            return render(request, "dashboard/monitor_form.html#kind-fields", {"form": form})
        return render(request, "dashboard/monitor_form.html", {"form": MonitorForm(initial=initial), "monitor": monitor})
    form = MonitorForm(request.POST)
    status = 400
    if "refresh" in request.POST:  # no JavaScript: the kind changed, show its fields
        form.errors.clear()
        return render(request, "dashboard/monitor_form.html", {"form": form, "monitor": monitor})
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                saved = services.monitor_upsert(monitor=monitor, changes=form.changes(), by=request.user, now=timezone.now(),
                                                audit_source="console", request=request)
                if data.get("component"):
                    for page in data["status_pages"]:
                        ids = list(page.page_components.order_by("position", "pk").values_list("component_id", flat=True))
                        if data["component"].pk not in ids:
                            page_services.page_save(page=page, component_ids=[*ids, data["component"].pk])
                alerting_services.monitor_route_set(monitor=saved, channels=list(data["channels"]), by=request.user)
        except (ValidationError, ValueError) as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Saved {saved.name}.")
            return redirect(saved)
    return render(request, "dashboard/monitor_form.html", {"form": form, "monitor": monitor}, status=status)


@role_required(RESPONDER)
@require_POST
def monitor_test(request: HttpRequest) -> HttpResponse:
    """Run the check once with what the form says, before anything is saved, and show what it saw."""
    form = MonitorForm(request.POST)
    context: dict[str, Any] = {"form": form}
    if form.is_valid() and form.cleaned_data["kind"] == Monitor.Kind.HEARTBEAT:
        context["problem"] = "A heartbeat is checked by its pings; save it and send the first ping to its URL."
    elif form.is_valid():
        values = form.changes()
        values.pop("paused")
        candidate = Monitor(**values)  # unsaved: the check runs on exactly what the form says
        try:
            candidate.full_clean(exclude=["name"])
            services.monitor_refuse_outside_egress(monitor=candidate, by=request.user)
        except (ValidationError, ValueError) as exc:
            context["problem"] = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        else:
            context["result"] = run_check(candidate, CheckSession(), timezone.now())
    else:
        context["problem"] = "; ".join(f"{form.fields[f].label if f in form.fields else f}: {' '.join(e)}" for f, e in form.errors.items())
    return render(request, "dashboard/monitor_form.html#test-result", context)


@role_required(RESPONDER)
@require_POST
def monitor_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Pause, resume or delete from the monitor's page (clone is the form with its values)."""
    monitor = get_object_or_404(Monitor, pk=pk)
    action = request.POST.get("action")
    if action in ("pause", "resume"):
        services.monitor_set_paused(monitor_ids=[monitor.pk], paused=action == "pause", now=timezone.now(), by=request.user,
                                    audit_source="console", request=request)
        messages.success(request, f"{monitor.name} {'paused' if action == 'pause' else 'resumed'}.")
        return redirect(monitor)
    if action == "delete":
        with transaction.atomic():
            services.monitor_delete(monitor=monitor, by=request.user, audit_source="console", request=request)
        messages.success(request, f"Deleted {monitor.name}.")
        return redirect("monitor-list")
    messages.error(request, "Unknown action: use pause, resume or delete.")
    return redirect(monitor)
