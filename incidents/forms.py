from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from django import forms
from django.utils import timezone

from core.text import multi_line, single_line
from incidents.models import Component, ComponentStatus, Incident, Maintenance

NOT_AFFECTED = ""
COMPONENT_CHOICES = [(NOT_AFFECTED, "Not affected"), *ComponentStatus.choices]
UPDATE_STATUSES = [choice for choice in Incident.Status.choices if choice[0] != Incident.Status.POSTMORTEM]


class ComponentImpactFields:
    """One select per component: its status for this incident (or not affected)."""

    def add_component_fields(self, current: dict[int, str]) -> None:
        self.component_rows = []
        for component in Component.objects.select_related("group").order_by("group__position", "position", "name"):
            name = f"component_{component.pk}"
            self.fields[name] = forms.ChoiceField(  # type: ignore[attr-defined]
                choices=COMPONENT_CHOICES, required=False, initial=current.get(component.pk, NOT_AFFECTED), label=component.name
            )
            self.component_rows.append((component, name))

    def chosen_components(self) -> dict[int, str]:
        chosen = {}
        for component, name in self.component_rows:
            value = self.cleaned_data.get(name)  # type: ignore[attr-defined]
            if value:
                chosen[component.pk] = value
        return chosen


class DeclareIncidentForm(ComponentImpactFields, forms.Form):
    title = forms.CharField(max_length=200, validators=[single_line], help_text="What users notice, e.g. “Checkout fails for some customers”.")
    impact = forms.ChoiceField(choices=Incident.Impact.choices, initial=Incident.Impact.MAJOR)
    status = forms.ChoiceField(choices=[c for c in UPDATE_STATUSES if c[0] != "resolved"], initial="investigating")
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=10_000, validators=[multi_line],
                              help_text="Markdown. Shown on the status page if public.")
    is_public = forms.BooleanField(required=False, initial=True, label="Show on public status pages")
    notify = forms.BooleanField(required=False, initial=True, label="Notify subscribers")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_component_fields({})


class UpdateIncidentForm(ComponentImpactFields, forms.Form):
    status = forms.ChoiceField(choices=UPDATE_STATUSES)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=10_000, validators=[multi_line],
                              help_text="Markdown.")
    notify = forms.BooleanField(required=False, initial=True, label="Notify subscribers")
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, incident: Incident, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].initial = incident.status if incident.is_open else Incident.Status.RESOLVED
        self.fields["version"].initial = incident.version
        self.add_component_fields(dict(incident.impacts.values_list("component_id", "status")))


class EditUpdateForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=10_000, validators=[multi_line])
    version = forms.IntegerField(widget=forms.HiddenInput)


class ComponentsField(forms.ModelMultipleChoiceField):
    """Ticked components by id. An id no database column can hold is a field error here, before
    the lookup (SQLite's driver raises OverflowError on it, which Django does not catch)."""

    def _check_values(self, value: Any) -> Any:
        for pk in value:
            text = str(pk).strip()
            if not text.isdigit() or not 0 < int(text) < 2**31:
                raise forms.ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk})
        return super()._check_values(value)


class MaintenanceForm(forms.ModelForm):
    starts_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
                                    help_text="In the time zone below.")
    ends_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    components = ComponentsField(queryset=Component.objects.all(), required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Maintenance
        fields = ["title", "message", "components", "starts_at", "ends_at", "time_zone", "recurrence", "auto_transition",
                  "suppress_alerts", "exclude_from_slo", "is_public"]
        widgets = {"message": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk and instance.time_zone:
            zone = zoneinfo.ZoneInfo(instance.time_zone)
            self.initial["starts_at"] = instance.starts_at.astimezone(zone).replace(tzinfo=None)
            self.initial["ends_at"] = instance.ends_at.astimezone(zone).replace(tzinfo=None)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        name = data.get("time_zone") or "UTC"
        try:
            zone = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.add_error("time_zone", f"{name!r} is not a known time zone; use an IANA name like Europe/Berlin.")
            return data
        for field in ("starts_at", "ends_at"):
            value: datetime | None = data.get(field)
            if value is not None:
                # The browser sends wall-clock time; read it in the chosen zone.
                data[field] = timezone.make_aware(timezone.make_naive(value) if timezone.is_aware(value) else value, zone)
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "The end must be after the start.")
        return data


class PostmortemForm(forms.Form):
    """The postmortem page: every field optional (only those posted change), a new action item."""

    TEXT_FIELDS = ("summary", "impact", "timeline", "root_cause", "lessons")

    summary = forms.CharField(required=False, strip=False, max_length=20_000, validators=[multi_line])
    impact = forms.CharField(required=False, strip=False, max_length=20_000, validators=[multi_line])
    timeline = forms.CharField(required=False, strip=False, max_length=20_000, validators=[multi_line])
    root_cause = forms.CharField(required=False, strip=False, max_length=20_000, validators=[multi_line], label="Root cause")
    lessons = forms.CharField(required=False, strip=False, max_length=20_000, validators=[multi_line])
    new_action = forms.CharField(required=False, max_length=300, validators=[single_line], label="New action item")
    new_action_due = forms.DateField(required=False, label="Due", error_messages={"invalid": "Enter a date like 2026-12-31."})
