from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db import models
from django.forms import ModelForm
from django.http import HttpRequest

from core.models import AuditLog
from core.services import audit_record


class AuditedModelAdmin(admin.ModelAdmin):
    """Every add, change and delete through the admin lands in the AuditLog."""

    def save_model(self, request: HttpRequest, obj: models.Model, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        changed = {name: form.cleaned_data.get(name) for name in form.changed_data}
        audit_record(actor=request.user, action="update" if change else "create", target=obj, changes=changed,
                     request=request, source=AuditLog.Source.ADMIN)

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        audit_record(actor=request.user, action="delete", target=obj, request=request, source=AuditLog.Source.ADMIN)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            audit_record(actor=request.user, action="delete", target=obj, request=request, source=AuditLog.Source.ADMIN)
        super().delete_queryset(request, queryset)


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_name", "action", "object_type", "object_repr", "source", "ip_address"]
    list_filter = ["action", "source", "object_type"]
    search_fields = ["actor_name", "object_repr", "object_id", "request_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class VigilUserAdmin(UserAdmin):
    """The admin role manages people (roles are groups), but only a superuser makes a superuser,
    grants single permissions, or changes or deletes a superuser's account (its password included):
    otherwise an admin could make itself, or a friend, all-powerful."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ("is_superuser", "user_permissions")
        return fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


admin.site.unregister(User)
admin.site.register(User, VigilUserAdmin)
