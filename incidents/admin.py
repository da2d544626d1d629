from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from core.admin import AuditedModelAdmin
from incidents.models import (
    ActionItem,
    AutoIncidentRule,
    Component,
    ComponentGroup,
    ComponentImpact,
    Incident,
    IncidentUpdate,
    Maintenance,
    OpsChecklist,
    OpsChecklistItem,
    Postmortem,
    SeverityPolicy,
)
from incidents.services import severity_policy_save


@admin.register(ComponentGroup)
class ComponentGroupAdmin(AuditedModelAdmin):
    list_display = ["name", "position", "is_public"]
    list_editable = ["position"]
    search_fields = ["name"]


@admin.register(Component)
class ComponentAdmin(AuditedModelAdmin):
    list_display = ["name", "group", "status", "derived_status", "is_public", "position", "monitor_count"]
    list_filter = ["status", "is_public", "group"]
    search_fields = ["name", "description"]
    readonly_fields = ["status", "derived_status", "status_changed_at"]

    @admin.display(description="Monitors")
    def monitor_count(self, obj: Component) -> int:
        return obj.monitors.count()


class ComponentImpactInline(admin.TabularInline):
    model = ComponentImpact
    extra = 0
    autocomplete_fields = ["component"]


class IncidentUpdateInline(admin.StackedInline):
    """Read-only: updates are posted and edited in the console, which keeps their history."""

    model = IncidentUpdate
    extra = 0
    can_delete = False
    fields = ["created_at", "status", "author_name", "message", "edited_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(AuditedModelAdmin):
    list_display = ["title", "severity", "status", "is_public", "started_at", "resolved_at", "commander", "console_link"]
    list_filter = ["status", "impact", "is_public", "auto_managed"]
    search_fields = ["title", "updates__message"]
    date_hierarchy = "started_at"
    readonly_fields = ["status", "identified_at", "monitoring_at", "resolved_at", "version", "auto_rule", "auto_managed", "created_by"]
    inlines = [ComponentImpactInline, IncidentUpdateInline]

    @admin.display(description="Console")
    def console_link(self, obj: Incident) -> str:
        return format_html('<a href="{}">open</a>', obj.get_absolute_url())


class ActionItemInline(admin.TabularInline):
    model = ActionItem
    extra = 1


@admin.register(Postmortem)
class PostmortemAdmin(AuditedModelAdmin):
    list_display = ["incident", "status", "author", "published_at"]
    list_filter = ["status"]
    search_fields = ["incident__title", "summary", "root_cause"]
    inlines = [ActionItemInline]


@admin.register(Maintenance)
class MaintenanceAdmin(AuditedModelAdmin):
    list_display = ["title", "starts_at", "ends_at", "time_zone", "status", "recurrence", "suppress_alerts", "exclude_from_slo"]
    list_filter = ["status", "suppress_alerts", "exclude_from_slo", "is_public"]
    search_fields = ["title", "message"]
    filter_horizontal = ["components"]
    date_hierarchy = "starts_at"


@admin.register(AutoIncidentRule)
class AutoIncidentRuleAdmin(AuditedModelAdmin):
    list_display = ["component", "enabled", "trigger_status", "impact", "on_recovery", "is_public"]
    list_filter = ["enabled", "impact", "on_recovery"]
    autocomplete_fields = ["component"]


@admin.register(SeverityPolicy)
class SeverityPolicyAdmin(admin.ModelAdmin):
    """Response targets per severity; who is paged is the alert rule "Incidents declared SEV-n (severity policy)"."""

    list_display = ["severity", "ack_within_seconds", "first_update_within_seconds", "postmortem_within_seconds"]

    def save_model(self, request: HttpRequest, obj: SeverityPolicy, form: Any, change: bool) -> None:
        saved = severity_policy_save(impact=obj.severity, ack_within_seconds=obj.ack_within_seconds,
                                     first_update_within_seconds=obj.first_update_within_seconds,
                                     postmortem_within_seconds=obj.postmortem_within_seconds, by=request.user)
        obj.pk = saved.pk


class OpsChecklistItemInline(admin.TabularInline):
    model = OpsChecklistItem
    extra = 1


@admin.register(OpsChecklist)
class OpsChecklistAdmin(AuditedModelAdmin):
    """The team's recurring checklists; sign-offs happen on /checklists/."""

    list_display = ["name", "cadence", "team", "position"]
    inlines = [OpsChecklistItemInline]
