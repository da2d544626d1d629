"""Email through Django's mail settings, HTML and text."""

from __future__ import annotations

import smtplib
from typing import Any

from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.template.loader import render_to_string

from alerting.messages import AlertMessage
from alerting.transports.base import Delivery, TransportError
from core.outbox import ContentError
from lib.text import header_line


def send(channel: Any, message: AlertMessage, notification: Any) -> Delivery:
    context = {"message": message}
    prefix = "[RESOLVED] " if message.resolved else f"[{message.severity.upper()}] "
    mail = EmailMultiAlternatives(
        # A title can come from a monitor's name, an SLO or an Alertmanager label: one line, always.
        subject=header_line(prefix + message.title, limit=200),
        body=render_to_string("alerting/email.txt", context),
        to=list(channel.config["to"]),
        headers={"X-Vigil-Notification": str(notification.uid), "X-Vigil-Dedup-Key": message.dedup_key},
    )
    mail.attach_alternative(render_to_string("alerting/email.html", context), "text/html")
    try:
        mail.send()
    except BadHeaderError as exc:
        raise ContentError(f"mail not sent: a header Vigil built is invalid: {exc}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise TransportError(f"the mail server refused the recipients: {exc}", permanent=True) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransportError(f"mail not sent: {exc.__class__.__name__}: {exc}") from None
    return Delivery(None, f"mailed {len(mail.to)} recipient(s)")
