from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from api.models import ApiToken
from api.tokens import token_issue, token_revoke


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "scope", "expires_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made here and shown once; afterwards only their prefix is known."""

    form = ApiTokenForm
    list_display = ["name", "user", "scope", "prefix_shown", "created_at", "expires_at", "last_used_at", "state"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "user__username", "prefix"]
    actions = ["revoke"]

    @admin.display(description="Token starts with")
    def prefix_shown(self, token: ApiToken) -> str:
        return f"vigil_{token.prefix}_…"

    @admin.display(description="State")
    def state(self, token: ApiToken) -> str:
        if token.revoked_at:
            return "revoked"
        if token.expires_at and token.expires_at <= timezone.now():
            return "expired"
        return "active"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A token is never edited: its scope and owner are what the holder was given. Revoke and make another.
        return ["user", "name", "scope", "expires_at"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            return
        token, clear = token_issue(user=form.cleaned_data["user"], name=form.cleaned_data["name"], scope=form.cleaned_data["scope"],
                                   expires_at=form.cleaned_data.get("expires_at"), by=request.user)
        obj.pk = token.pk
        messages.warning(request, f"Copy the token now; it is not shown again: {clear}")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead, so the audit trail keeps the token

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        now = timezone.now()
        for token in queryset:
            token_revoke(token=token, by=request.user, now=now)
        self.message_user(request, f"{queryset.count()} token(s) revoked; they stop working at once.")
