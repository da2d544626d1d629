from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from core.services import audit_record
from statuspage import services
from statuspage.models import StatusPage, StatusPageComponent, StatusSnapshot, Subscriber, SubscriberDelivery, SubscriberEvent


class StatusPageComponentInline(admin.TabularInline):
    model = StatusPageComponent
    extra = 0
    autocomplete_fields = ["component"]
    ordering = ["position"]


@admin.register(StatusPage)
class StatusPageAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "is_default", "visibility", "domain", "subscriber_count", "built"]
    list_filter = ["visibility", "is_default"]
    search_fields = ["title", "slug", "domain"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [StatusPageComponentInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["rebuild_now", "issue_access_token"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "description", "is_default", "visibility", "domain"]}),
        ("Look", {"fields": ["logo_url", "brand_colour", "time_zone", "clock", "footer_links", "support_url"]}),
        ("Subscriptions", {"fields": ["allow_subscriptions"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StatusPage]:
        from django.db.models import Count

        return super().get_queryset(request).select_related("snapshot").annotate(subscriber_total=Count("subscribers"))

    @admin.display(description="Subscribers", ordering="subscriber_total")
    def subscriber_count(self, page: StatusPage) -> int:
        return page.subscriber_total  # type: ignore[attr-defined]

    @admin.display(description="Snapshot")
    def built(self, page: StatusPage) -> str:
        snapshot = getattr(page, "snapshot", None)
        return f"{snapshot.built_at:%Y-%m-%d %H:%M:%S} ({snapshot.build_ms} ms)" if snapshot else "not built yet"

    def save_model(self, request: HttpRequest, obj: StatusPage, form: Any, change: bool) -> None:
        from django.db import transaction


        with transaction.atomic():
            services.page_save(page=obj)
            audit_record(actor=request.user, action="statuspage.save" if change else "statuspage.create", target=obj,
                         changes=form.cleaned_data if form else {}, request=request, source="admin")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.pages_changed(slugs=[form.instance.slug])

    @admin.action(description="Rebuild the snapshot now")
    def rebuild_now(self, request: HttpRequest, queryset: QuerySet[StatusPage]) -> None:
        from statuspage.snapshot import publish_routes, rebuild

        publish_routes()
        for page in queryset:
            docs = rebuild(page)
            self.message_user(request, f"{page.title}: rebuilt ({len(docs)} documents).")

    @admin.action(description="Issue a new access token (private pages; shown once)")
    def issue_access_token(self, request: HttpRequest, queryset: QuerySet[StatusPage]) -> None:
        for page in queryset:
            if not page.is_private:
                self.message_user(request, f"{page.title} is public: it needs no token.", messages.WARNING)
                continue
            token = services.page_issue_access_token(page=page)
            self.message_user(request, f"{page.title}: new access token {token} (shown once; the old one stops working). "
                                       f"Share links as /status/{page.slug}/?token={token}", messages.SUCCESS)


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["__str__", "page", "kind", "confirmed_at", "unsubscribed_at", "disabled_at", "consecutive_failures"]
    list_filter = ["page", "kind", ("confirmed_at", admin.EmptyFieldListFilter), ("disabled_at", admin.EmptyFieldListFilter)]
    search_fields = ["email", "webhook_url"]
    readonly_fields = ["page", "kind", "email", "webhook_url", "masked_secret", "created_at", "confirmed_at",
                       "unsubscribed_at", "consecutive_failures", "disabled_at", "disabled_reason"]
    exclude = ["webhook_secret"]
    actions = ["re_enable"]

    @admin.display(description="Webhook secret")
    def masked_secret(self, subscriber: Subscriber) -> str:
        return f"{subscriber.webhook_secret[:4]}…{'*' * 8}" if subscriber.webhook_secret else "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # people subscribe themselves (double opt-in)

    @admin.action(description="Re-enable delivery")
    def re_enable(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        count = queryset.update(disabled_at=None, disabled_reason="", consecutive_failures=0)
        self.message_user(request, f"{count} subscriber(s) re-enabled.")


@admin.register(SubscriberDelivery)
class SubscriberDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "subscriber", "status", "attempts", "response_code", "next_attempt_at", "sent_at", "last_error"]
    list_filter = ["status"]
    list_select_related = ["event", "subscriber"]
    search_fields = ["subscriber__email", "subscriber__webhook_url", "event__key"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SubscriberEvent)
class SubscriberEventAdmin(admin.ModelAdmin):
    list_display = ["key", "kind", "created_at", "fanned_out_at"]
    search_fields = ["key"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StatusSnapshot)
class StatusSnapshotAdmin(admin.ModelAdmin):
    list_display = ["page", "built_at", "build_ms", "document_count"]
    exclude = ["documents"]

    @admin.display(description="Documents")
    def document_count(self, snapshot: StatusSnapshot) -> int:
        return len(snapshot.documents)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
