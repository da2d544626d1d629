from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from slo import services


@shared_task(name="slo.refresh_all")
def refresh_all() -> int:
    return services.refresh_all(now=timezone.now())


@shared_task(name="slo.mail_monthly_report")
def mail_monthly_report() -> int:
    from slo.reports import mail_last_month

    return mail_last_month(now=timezone.now())


@shared_task(name="slo.mail_daily_digest")
def mail_daily_digest() -> int:
    from slo.digest import mail_daily_digest as mail

    return mail(now=timezone.now())
