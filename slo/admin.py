from __future__ import annotations

from django.contrib import admin

from slo.models import SLO, ReportMailing, ReportSubscription, SLOSnapshot


@admin.register(SLO)
class SLOAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "objective", "window", "component", "owner"]
    list_filter = ["kind", "window"]
    search_fields = ["name"]
    filter_horizontal = ["monitors"]


@admin.register(SLOSnapshot)
class SLOSnapshotAdmin(admin.ModelAdmin):
    list_display = ["slo", "at", "sli", "remaining_ratio", "burn_1h", "status"]
    list_filter = ["slo", "status"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


admin.site.register(ReportSubscription)
admin.site.register(ReportMailing)
