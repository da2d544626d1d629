"""Writes for status pages and subscriptions: pages, access tokens, subscribers, the outbox."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

from core import outbox
from core.egress import subscriber_allow
from core.metrics import count_delivery
from incidents.models import Component, IncidentUpdate, Maintenance
from lib.delivery import TransportError, post_json, sign
from lib.egress import EgressRefused, check_url
from lib.text import header_line
from statuspage.confirmation_limits import reserve_confirmation
from statuspage.models import StatusPage, StatusPageComponent, Subscriber, SubscriberDelivery, SubscriberEvent, hash_token

log = logging.getLogger("vigil.statuspage")

CONFIRM_SALT = "vigil.statuspage.confirm"
UNSUBSCRIBE_SALT = "vigil.statuspage.unsubscribe"
CONFIRM_MAX_AGE = 7 * 24 * 3600
DISABLE_AFTER_FAILURES = 5
RESERVED_SLUGS = {"api", "history", "incidents", "live", "subscribe", "unsubscribe", "badges", "static", "admin", "ws"}


class SubscriptionError(Exception):
    """A subscription request that cannot be honoured; the message is for the visitor."""


# --- Pages --------------------------------------------------------------------------------------


@transaction.atomic
def page_save(*, page: StatusPage, component_ids: Iterable[int] | None = None) -> StatusPage:
    from django.core.exceptions import ValidationError

    if page.slug in RESERVED_SLUGS:
        raise ValidationError({"slug": f"{page.slug!r} is reserved for the page's own paths; pick another slug, e.g. {page.slug}-status."})
    page.full_clean()
    if page.is_default:
        StatusPage.objects.filter(is_default=True).exclude(pk=page.pk).update(is_default=False)
    page.save()
    if component_ids is not None:
        StatusPageComponent.objects.filter(page=page).delete()
        StatusPageComponent.objects.bulk_create(
            [StatusPageComponent(page=page, component_id=cid, position=index) for index, cid in enumerate(component_ids)]
        )
    pages_changed(slugs=[page.slug])
    return page


def page_issue_access_token(*, page: StatusPage) -> str:
    """A new shared token for a private page; the old one stops working. Shown once."""
    token = secrets.token_urlsafe(24)
    StatusPage.objects.filter(pk=page.pk).update(access_token_hash=hash_token(token))
    page.access_token_hash = hash_token(token)
    pages_changed(slugs=[page.slug])
    return token


def pages_changed(*, slugs: list[str] | None = None) -> None:
    """Publish the routing table and rebuild the pages, after the transaction commits."""
    from statuspage.tasks import request_rebuild

    def publish() -> None:
        from statuspage.snapshot import publish_routes

        try:
            publish_routes()
        except Exception as exc:  # noqa: BLE001 - the periodic rebuild publishes them again
            log.warning("status routes not published: %s", exc)
        request_rebuild(slugs)

    transaction.on_commit(publish)


# --- Subscriptions ----------------------------------------------------------------------------


def confirm_token(subscriber: Subscriber) -> str:
    return signing.dumps({"s": subscriber.pk}, salt=CONFIRM_SALT)


def unsubscribe_token(subscriber: Subscriber) -> str:
    return signing.dumps({"s": subscriber.pk}, salt=UNSUBSCRIBE_SALT)


def _page_link(page: StatusPage, path: str) -> str:
    from statuspage.snapshot import page_url

    return page_url(page) + path


@transaction.atomic
def subscribe(*, page: StatusPage, kind: str, email: str, webhook_url: str = "", component_ids: Iterable[int] = (),
              now: datetime) -> Subscriber:
    if not page.allow_subscriptions:
        raise SubscriptionError("This page does not take subscriptions.")
    if kind == Subscriber.Kind.WEBHOOK and webhook_url:
        _refuse_internal_webhook(webhook_url)
    email = email.strip().lower()
    subscriber = Subscriber.objects.filter(page=page, kind=kind, email=email, webhook_url=webhook_url, confirmed_at__isnull=True,
                                           unsubscribed_at__isnull=True).first()
    if subscriber is None:
        subscriber = Subscriber(page=page, kind=kind, email=email, webhook_url=webhook_url)
        if kind == Subscriber.Kind.WEBHOOK:
            subscriber.webhook_secret = secrets.token_hex(32)
        subscriber.full_clean()
    if email and (refusal := reserve_confirmation(page_id=page.pk, email=email, now=now)):
        raise SubscriptionError(refusal)
    if subscriber.pk is None:
        subscriber.save()
    allowed = set(page_component_ids(page))
    subscriber.components.set([cid for cid in component_ids if cid in allowed])
    transaction.on_commit(lambda: _send_confirmation(subscriber.pk))
    return subscriber


def _refuse_internal_webhook(url: str) -> None:
    """A visitor's webhook may reach only what VIGIL_EGRESS_SUBSCRIBER_ALLOW permits (public addresses by
    default). Said here for a clear form error; every delivery checks again on the address it connects to,
    so a name that resolves elsewhere later (DNS rebinding) is refused then. A name that does not
    resolve now passes: the delivery refuses or reaches it."""
    try:
        check_url(url, subscriber_allow())
    except EgressRefused as exc:
        if exc.kind:
            raise ValidationError({"webhook_url": f"{exc.shown} is a {exc.kind} address; webhooks can only go to "
                                                  "public internet addresses, e.g. https://example.com/hooks/status."}) from None


def page_component_ids(page: StatusPage) -> list[int]:
    from statuspage.snapshot import page_components

    return [c.pk for c in page_components(page)]


def _send_confirmation(subscriber_id: int) -> None:
    subscriber = Subscriber.objects.select_related("page").get(pk=subscriber_id)
    link = _page_link(subscriber.page, f"subscribe/confirm/{confirm_token(subscriber)}/")
    context = {"page": subscriber.page, "subscriber": subscriber, "link": link}
    message = EmailMultiAlternatives(
        subject=header_line(f"Confirm your subscription to {subscriber.page.title}"),
        body=render_to_string("statuspage/email/confirm.txt", context),
        to=[subscriber.email],
    )
    message.attach_alternative(render_to_string("statuspage/email/confirm.html", context), "text/html")
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - the visitor can ask again; nothing else depends on it
        log.warning("confirmation mail to subscriber %s failed: %s", subscriber_id, exc)


def _load(token: str, salt: str, max_age: int | None) -> Subscriber:
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise SubscriptionError("This link has expired; subscribe again to get a new one.") from None
    except signing.BadSignature:
        raise SubscriptionError("This link is not valid; copy the whole link from the email.") from None
    subscriber = Subscriber.objects.select_related("page").filter(pk=payload.get("s")).first()
    if subscriber is None:
        raise SubscriptionError("This subscription no longer exists.")
    return subscriber


@transaction.atomic
def confirm(*, token: str, now: datetime) -> tuple[Subscriber, bool]:
    """Confirm a subscription; returns it and whether this was the first confirmation
    (the only time a webhook's signing secret is shown)."""
    subscriber = _load(token, CONFIRM_SALT, CONFIRM_MAX_AGE)
    if subscriber.unsubscribed_at:
        raise SubscriptionError("This subscription was cancelled; subscribe again to get updates.")
    first = subscriber.confirmed_at is None
    if first:
        subscriber.confirmed_at = now
        subscriber.save(update_fields=["confirmed_at"])
        # A newer confirmed subscription replaces an older one for the same address.
        Subscriber.objects.filter(page=subscriber.page, kind=subscriber.kind, email=subscriber.email,
                                  webhook_url=subscriber.webhook_url, confirmed_at__isnull=False,
                                  unsubscribed_at__isnull=True).exclude(pk=subscriber.pk).update(unsubscribed_at=now)
    return subscriber, first


def unsubscribe_preview(*, token: str) -> Subscriber:
    return _load(token, UNSUBSCRIBE_SALT, None)


@transaction.atomic
def unsubscribe(*, token: str, now: datetime) -> Subscriber:
    subscriber = _load(token, UNSUBSCRIBE_SALT, None)
    if subscriber.unsubscribed_at is None:
        subscriber.unsubscribed_at = now
        subscriber.save(update_fields=["unsubscribed_at"])
        SubscriberDelivery.objects.filter(subscriber=subscriber, status=SubscriberDelivery.Status.PENDING).update(
            status=SubscriberDelivery.Status.FAILED, last_error="unsubscribed before delivery"
        )
    return subscriber


# --- Events and the outbox --------------------------------------------------------------------


def record_update_event(update: IncidentUpdate) -> SubscriberEvent | None:
    if not update.notify_subscribers or not update.incident.is_public:
        return None
    # Every component the incident has touched (a resolving update has no overrides left).
    touched = set(update.incident.impacts.values_list("component_id", flat=True))
    for affected in update.incident.updates.values_list("affected_components", flat=True):
        touched |= {item["component"] for item in affected or [] if isinstance(item.get("component"), int)}
    event, _ = SubscriberEvent.objects.get_or_create(
        key=f"update:{update.pk}",
        defaults={"kind": "incident.update", "incident_update": update, "component_ids": sorted(touched), "created_at": update.created_at},
    )
    return event


MAINTENANCE_STEPS = {
    Maintenance.Status.SCHEDULED: "maintenance.scheduled",
    Maintenance.Status.IN_PROGRESS: "maintenance.started",
    Maintenance.Status.COMPLETED: "maintenance.completed",
}


def record_maintenance_event(maintenance: Maintenance, *, now: datetime, status: str | None = None) -> SubscriberEvent | None:
    """What subscribers hear of a maintenance reaching `status` (by default, the one it has now)."""
    status = status or maintenance.status
    kind = MAINTENANCE_STEPS.get(Maintenance.Status(status))
    if kind is None or not maintenance.is_public:
        return None
    event, _ = SubscriberEvent.objects.get_or_create(
        key=f"maintenance:{maintenance.pk}:{status}",
        defaults={"kind": kind, "maintenance": maintenance,
                  "component_ids": list(maintenance.components.values_list("pk", flat=True)), "created_at": now},
    )
    return event


def fan_out(*, now: datetime, limit: int = 100) -> int:
    """Write one delivery row per (active subscriber, pending event) that concerns them."""
    made = 0
    for event in SubscriberEvent.objects.filter(fanned_out_at__isnull=True).order_by("created_at")[:limit]:
        with transaction.atomic():
            claimed = SubscriberEvent.objects.filter(pk=event.pk, fanned_out_at__isnull=True).update(fanned_out_at=now)
            if not claimed:
                continue  # another worker took it
            subscribers = Subscriber.objects.filter(confirmed_at__isnull=False, unsubscribed_at__isnull=True, disabled_at__isnull=True)
            subscribers = subscribers.prefetch_related("components", "page__page_components")
            rows = []
            for subscriber in subscribers:
                if _concerns(subscriber, event):
                    rows.append(SubscriberDelivery(subscriber=subscriber, event=event, next_attempt_at=now))
            SubscriberDelivery.objects.bulk_create(rows, ignore_conflicts=True)
            made += len(rows)
    return made


def _concerns(subscriber: Subscriber, event: SubscriberEvent) -> bool:
    affected = set(event.component_ids or [])
    page_ids = {row.component_id for row in subscriber.page.page_components.all()}
    if page_ids and affected and not (affected & page_ids):
        return False  # the event is about components this page does not show
    chosen = {c.pk for c in subscriber.components.all()}
    return not chosen or not affected or bool(chosen & affected)


def claim_due(*, now: datetime, limit: int) -> list[int]:
    """Claim deliveries whose time has come (and ones a dead worker left in `sending`)."""
    return outbox.claim_due(SubscriberDelivery, now=now, limit=limit)


def deliver(*, delivery_id: int, now: datetime) -> str:
    """Send one claimed delivery by mail or webhook (core.outbox records it); a subscriber whose
    deliveries keep failing for good is disabled."""
    delivery = SubscriberDelivery.objects.select_related("subscriber__page", "event__incident_update__incident", "event__maintenance").get(pk=delivery_id)
    subscriber = delivery.subscriber

    def transmit() -> int | None:
        if not subscriber.is_active:
            raise TransportError("subscriber is no longer active", permanent=True)
        return _send(delivery)

    outcome = outbox.send(delivery, transmit, now=now)
    if outcome is None:
        return delivery.status  # not claimed (or already done): never send twice
    if outcome.result == "failed" and subscriber.is_active and outcome.receiver_at_fault:
        # A failure of Vigil's own making (a header it could not build) is not the subscriber's.
        _count_failure(subscriber, outcome.error, now)
    elif outcome.result == "sent" and subscriber.consecutive_failures:
        Subscriber.objects.filter(pk=subscriber.pk).update(consecutive_failures=0)
    count_delivery(f"subscriber_{subscriber.kind}", outcome.result)
    return outcome.result


def _count_failure(subscriber: Subscriber, reason: str, now: datetime) -> None:
    failures = subscriber.consecutive_failures + 1
    fields: dict[str, Any] = {"consecutive_failures": failures}
    if failures >= DISABLE_AFTER_FAILURES:
        fields.update(disabled_at=now, disabled_reason=f"{failures} deliveries failed in a row; last: {reason}"[:300])
        log.warning("subscriber %s disabled after %d failed deliveries", subscriber.pk, failures)
    Subscriber.objects.filter(pk=subscriber.pk).update(**fields)


def event_payload(delivery: SubscriberDelivery) -> dict[str, Any]:
    """The JSON a webhook receives, shaped like Statuspage's webhook notifications."""
    from statuspage import v2
    from statuspage.snapshot import load_page_data

    page = delivery.subscriber.page
    event = delivery.event
    data = load_page_data(page, now=event.created_at)
    payload: dict[str, Any] = {
        "meta": {"unsubscribe": _page_link(page, f"unsubscribe/{unsubscribe_token(delivery.subscriber)}/"),
                 "documentation": "https://github.com/vigil/vigil/blob/main/docs/status-pages.md#webhooks",
                 "generated_at": v2.stamp(event.created_at, data.tz), "event": event.kind, "delivery_id": str(delivery.pk)},
        "page": {"id": page.slug, "status_indicator": v2.overall_status(data)["indicator"],
                 "status_description": v2.overall_status(data)["description"]},
    }
    if event.incident_update is not None:
        incident = next((i for i in data.incidents if i.pk == event.incident_update.incident_id), None)
        payload["incident"] = v2.incident_json(incident, data) if incident else {"id": str(event.incident_update.incident_id)}
    elif event.maintenance is not None:
        payload["scheduled_maintenance"] = v2.maintenance_json(event.maintenance, data)
    return payload


def _send(delivery: SubscriberDelivery) -> int | None:
    subscriber = delivery.subscriber
    if subscriber.kind == Subscriber.Kind.WEBHOOK:
        body = json.dumps(event_payload(delivery), separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Vigil-Webhook/1",
            "X-Vigil-Event": delivery.event.kind,
            "X-Vigil-Delivery": str(delivery.pk),
            "X-Vigil-Timestamp": timestamp,
            "X-Vigil-Signature": "sha256=" + sign(subscriber.webhook_secret, timestamp, body),
        }
        return post_json(subscriber.webhook_url, None, headers=headers, body=body, allow=subscriber_allow()).code
    _send_email(delivery)
    return None


def _send_email(delivery: SubscriberDelivery) -> None:
    subscriber = delivery.subscriber
    page = subscriber.page
    event = delivery.event
    unsubscribe = _page_link(page, f"unsubscribe/{unsubscribe_token(subscriber)}/")
    context: dict[str, Any] = {"page": page, "event": event, "unsubscribe": unsubscribe, "page_link": _page_link(page, "")}
    if event.incident_update is not None:
        incident = event.incident_update.incident
        context.update(incident=incident, update=event.incident_update, link=_page_link(page, f"incidents/{incident.pk}/"))
        subject = header_line(f"[{page.title}] {incident.title}: {event.incident_update.get_status_display()}")
    else:
        maintenance = event.maintenance
        assert maintenance is not None
        context.update(maintenance=maintenance, link=_page_link(page, ""))
        step = {"maintenance.scheduled": "Scheduled", "maintenance.started": "In progress", "maintenance.completed": "Completed"}[event.kind]
        subject = header_line(f"[{page.title}] Maintenance {step.lower()}: {maintenance.title}")
        context["step"] = step
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("statuspage/email/notification.txt", context),
        to=[subscriber.email],
        headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                 "X-Vigil-Delivery": str(delivery.pk)},
    )
    message.attach_alternative(render_to_string("statuspage/email/notification.html", context), "text/html")
    try:
        message.send()
    except BadHeaderError as exc:
        raise outbox.ContentError(f"mail not sent: a header Vigil built is invalid: {exc}"[:300]) from None
    except Exception as exc:  # noqa: BLE001 - SMTP errors are temporary unless the address is refused
        import smtplib

        permanent = isinstance(exc, smtplib.SMTPRecipientsRefused)
        raise TransportError(f"mail not sent: {exc.__class__.__name__}: {exc}"[:300], permanent=permanent) from None


def rate_limited(*, key: str, limit: int, seconds: int) -> bool:
    """True when `key` was seen more than `limit` times in the window (cache down: not limited)."""
    bucket = f"ratelimit:{key}:{int(time.time() // seconds)}"
    try:
        count = cache.get_or_set(bucket, 0, timeout=seconds)
        count = cache.incr(bucket)
    except Exception:  # noqa: BLE001
        return False
    return count > limit


def component_choices(page: StatusPage) -> list[Component]:
    from statuspage.snapshot import page_components

    return page_components(page)


def delivery_rate() -> int:
    return int(getattr(settings, "VIGIL_SUBSCRIBER_SEND_RATE", 20))
