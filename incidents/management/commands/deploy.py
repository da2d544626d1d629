"""manage.py deploy VERSION --component NAME | --service TEXT [--by WHO] [--url URL] [--at ISO]: record a deploy marker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from incidents import services
from incidents.models import Component


class Command(BaseCommand):
    help = "Record a deploy marker (for CI): shown on charts, in the incident console's 'what changed' and on the dashboard."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="What was deployed, e.g. v2.3.1 or a commit.")
        parser.add_argument("--component", help="The component's name.")
        parser.add_argument("--service", default="", help="Free text, when no component fits.")
        parser.add_argument("--by", default="", help="Who or what deployed, e.g. $CI_JOB_URL's job name.")
        parser.add_argument("--url", default="", help="The release, pipeline or diff.")
        parser.add_argument("--at", help="When (ISO 8601, e.g. 2026-11-20T14:02:00Z); default now.")

    def handle(self, *args: Any, version: str, component: str | None, service: str, by: str, url: str, at: str | None,
               **options: Any) -> None:
        now = timezone.now()
        target = None
        if component:
            target = Component.objects.filter(name=component).first()
            if target is None:
                names = ", ".join(Component.objects.order_by("name").values_list("name", flat=True)[:20]) or "none yet"
                raise CommandError(f"--component: there is no component named {component!r} (known: {names})")
        when = None
        if at:
            try:
                when = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                raise CommandError(f"--at: {at!r} is not an ISO 8601 time; write it like 2026-11-20T14:02:00Z") from None
            if when.tzinfo is None:
                raise CommandError(f"--at: {at!r} has no time zone; add Z (UTC) or an offset like +01:00")
        try:
            deploy = services.deploy_record(version=version, service=service, component=target, deployed_by=by, url=url, at=when,
                                            by=None, now=now)
        except ValidationError as exc:
            problems = "; ".join(f"{'--' + field if field != '__all__' else ''}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(problems.replace("--service:", "--service/--component:")) from None
        self.stdout.write(f"recorded deploy {deploy.pk}: {deploy}")
