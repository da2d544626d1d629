"""The daily digest email: yesterday's incidents, alerts and SLO burn, and the checklists overdue.

Opt-in (DigestSubscription); beat runs `mail_daily_digest` hourly and it mails each day once,
from 07:00 UTC, about the day before (DigestMailing is claimed first, like the monthly report)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.template.loader import render_to_string

from alerting.models import Alert
from incidents.models import Incident
from incidents.selectors import checklist_states
from slo.models import SLO, DigestMailing, DigestSubscription, SLOSnapshot

log = logging.getLogger("vigil.slo")
SEND_FROM_HOUR = 7


def digest_context(day: date, now: datetime) -> dict[str, Any]:
    """What the digest for `day` (a UTC day) says, read from the database as it is at `now`."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    # Open at some time that day: started before its end, not resolved before its start.
    incidents = list(Incident.objects.filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=start), started_at__lt=end).order_by("-started_at"))
    alerts = Alert.objects.filter(fired_at__gte=start, fired_at__lt=end).select_related("rule").order_by("fired_at")
    slos = []
    for slo in SLO.objects.order_by("name"):
        figures = SLOSnapshot.objects.filter(slo=slo, at__gte=start, at__lt=end).aggregate(worst_burn=Max("burn_1h"))
        latest = SLOSnapshot.objects.filter(slo=slo, at__lt=end).order_by("-at").first()
        if latest is not None:
            slos.append({"slo": slo, "worst_burn": figures["worst_burn"] or 0.0, "remaining": latest.remaining_ratio, "status": latest.status})
    return {
        "day": day, "incidents": incidents, "alert_count": alerts.count(), "alerts": list(alerts[:20]),
        "slos": slos, "overdue": [state for state in checklist_states(now) if state.overdue],
    }


def render_digest(day: date, now: datetime) -> tuple[str, str, str]:
    """(subject, text, html)."""
    context = digest_context(day, now)
    subject = f"Vigil daily digest {day:%Y-%m-%d}: {len(context['incidents'])} incident(s), {context['alert_count']} alert(s)"
    return subject, render_to_string("slo/digest.txt", context), render_to_string("slo/digest_mail.html", context)


def mail_daily_digest(*, now: datetime) -> int:
    """Mail yesterday's digest to everyone opted in, once. Returns how many were mailed."""
    if now.hour < SEND_FROM_HOUR:
        return 0
    day = (now - timedelta(days=1)).date()
    try:
        with transaction.atomic():
            mailing, _created = DigestMailing.objects.select_for_update().get_or_create(day=day)
            if mailing.sent_at is not None:
                return 0
            recipients = [s.user.email for s in DigestSubscription.objects.filter(active=True).select_related("user") if s.user.email]
            if recipients:
                subject, text, html = render_digest(day, now)
                message = EmailMultiAlternatives(subject=subject, body=text, bcc=recipients)
                message.attach_alternative(html, "text/html")
                message.send()
            mailing.sent_at, mailing.recipients = now, len(recipients)
            mailing.save(update_fields=["sent_at", "recipients"])
            log.info("daily digest for %s mailed to %d person(s)", day, len(recipients))
            return len(recipients)
    except IntegrityError:
        return 0
