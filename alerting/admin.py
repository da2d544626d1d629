from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from alerting import integrations, services
from alerting.models import (
    Alert,
    AlertGroup,
    AlertRule,
    Channel,
    EscalationPolicy,
    EscalationStep,
    Integration,
    Notification,
    OnCallMember,
    OnCallOverride,
    OnCallSchedule,
    Silence,
)


def _mask(value: Any) -> str:
    text = str(value)
    scheme, found, _rest = text.partition("://")
    if found and scheme not in ("http", "https"):
        # An Apprise URL holds its tokens right after the scheme (tgram://BOT_TOKEN/..., json://user:password@...).
        return f"{scheme}://…"
    return f"{text[:12]}…" if len(text) > 12 else "…"


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "enabled", "masked_config"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    actions = ["send_test_notification"]

    @admin.display(description="Configuration")
    def masked_config(self, channel: Channel) -> str:
        return ", ".join(f"{k}={_mask(v) if k in Channel.SECRET_KEYS else v}" for k, v in (channel.config or {}).items())

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and "config" in form.base_fields:
            form.base_fields["config"].help_text = ("Secrets are write-only: the saved URL or key is not shown again. "
                                                    "Enter the whole configuration to change it.")

        class EgressCheckedForm(form):  # type: ignore[misc, valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                config = cleaned.get("config")
                if self.instance.pk and isinstance(config, dict):
                    # A masked secret posted back unchanged keeps the stored one, before the model
                    # validates it (a masked Apprise URL would not parse).
                    saved = Channel.objects.get(pk=self.instance.pk).config or {}
                    cleaned["config"] = {k: (saved.get(k) if k in Channel.SECRET_KEYS and isinstance(v, str) and v.endswith("…") else v)
                                         for k, v in config.items()}
                return cleaned

            def _post_clean(self) -> None:
                super()._post_clean()
                try:  # the saver's role decides which networks the URL may point at (core.egress)
                    services.channel_refuse_outside_egress(channel=self.instance, by=request.user)
                except ValidationError as exc:
                    self._update_errors(exc)

        return EgressCheckedForm

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        channel = super().get_object(request, object_id, from_field)
        if channel is not None and request.method == "GET":
            channel.config = {k: (_mask(v) if k in Channel.SECRET_KEYS else v) for k, v in (channel.config or {}).items()}
        return channel

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: bool) -> None:
        if change:
            saved = Channel.objects.get(pk=obj.pk).config
            # A masked value posted back unchanged keeps the stored secret.
            obj.config = {k: (saved.get(k) if k in Channel.SECRET_KEYS and isinstance(v, str) and v.endswith("…") else v)
                          for k, v in (obj.config or {}).items()}
        super().save_model(request, obj, form, change)

    @admin.action(description="Send a test notification")
    def send_test_notification(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset:
            services.send_test(channel=channel, now=timezone.now())
        self.message_user(request, f"{queryset.count()} test notification(s) queued; see Notifications for the result.")


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "severity", "states", "for_seconds"]
    list_filter = ["enabled", "severity"]
    search_fields = ["name"]
    filter_horizontal = ["monitors", "components", "tags", "channels"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["summary", "severity", "status", "first_seen", "last_seen", "count", "acknowledged_by"]
    list_filter = ["status", "severity", "rule"]
    search_fields = ["summary", "dedup_key"]
    readonly_fields = [f.name for f in Alert._meta.fields]
    actions = ["acknowledge_alerts"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Acknowledge (stops escalation)")
    def acknowledge_alerts(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        count = services.acknowledge(alerts=queryset, by=request.user, now=timezone.now())
        self.message_user(request, f"{count} alert(s) acknowledged.")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "kind", "status", "attempts", "response_code", "created_at", "sent_at", "last_error"]
    list_filter = ["status", "kind", "channel"]
    readonly_fields = ["uid", "channel", "group", "kind", "message", "status", "attempts", "next_attempt_at", "sent_at",
                       "response_code", "last_error", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ["comment", "starts_at", "ends_at", "created_by"]

    def save_model(self, request: HttpRequest, obj: Silence, form: Any, change: bool) -> None:
        if obj.created_by_id is None:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


admin.site.register(AlertGroup)


class OnCallMemberInline(admin.TabularInline):
    model = OnCallMember
    extra = 0


class OnCallOverrideInline(admin.TabularInline):
    model = OnCallOverride
    extra = 0


@admin.register(OnCallSchedule)
class OnCallScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "handoff_weekday", "handoff_time", "on_call_now"]
    inlines = [OnCallMemberInline, OnCallOverrideInline]

    @admin.display(description="On call now")
    def on_call_now(self, schedule: OnCallSchedule) -> str:
        person = schedule.on_call(timezone.now())
        return person.get_username() if person else "nobody"


class EscalationStepInline(admin.TabularInline):
    model = EscalationStep
    extra = 0
    filter_horizontal = ["channels"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "repeat"]
    inlines = [EscalationStepInline]


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "rule", "enabled", "has_token", "endpoint"]
    actions = ["issue_token"]

    @admin.display(description="Endpoint")
    def endpoint(self, integration: Integration) -> str:
        return integration.endpoint_path

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        integration = super().get_object(request, object_id, from_field)
        if integration is not None and request.method == "GET" and integration.signing_secret:
            integration.signing_secret = _mask(integration.signing_secret)
        return integration

    def save_model(self, request: HttpRequest, obj: Integration, form: Any, change: bool) -> None:
        if change and obj.signing_secret.endswith("…"):
            obj.signing_secret = Integration.objects.get(pk=obj.pk).signing_secret  # the masked value came back unchanged
        services.integration_save(integration=obj, by=request.user)

    @admin.display(boolean=True, description="Token")
    def has_token(self, integration: Integration) -> bool:
        return integration.has_token

    @admin.action(description="Issue a new token (shown once)")
    def issue_token(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            if integration.kind not in Integration.TOKEN_KINDS:
                self.message_user(request, f"{integration.name}: {integration.get_kind_display()} signs its webhooks with its own "
                                           "secret (the signing secret field); it needs no token.")
                continue
            token = integrations.issue_token(integration)
            where = ("Grafana contact point > Optional Webhook settings > Authorization header credentials"
                     if integration.kind == Integration.Kind.GRAFANA else "Alertmanager: http_config.authorization.credentials")
            self.message_user(request, f"{integration.name}: new token {token} (shown once; the old one stops working). {where}: {token}")
