"""Vigil's project package: settings, urls, Celery app, self-health, roles and audit."""

from portal.celery import app as celery_app

__all__ = ["celery_app"]
