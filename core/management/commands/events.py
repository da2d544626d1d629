"""manage.py events: the event consumers, what they failed on, and retrying it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core import events
from core.models import EventFailure


class Command(BaseCommand):
    help = ("Show the event consumers and the events they failed on (default), retry failed events "
            "(`events retry ID...` or `events retry --all-quarantined`), or run every consumer until nothing is pending (`events run`).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", choices=["list", "retry", "run"], default="list")
        parser.add_argument("ids", nargs="*", type=int, help="EventFailure ids (the first column of `events`).")
        parser.add_argument("--all-quarantined", action="store_true", help="With retry: every quarantined event.")

    def handle(self, *args: Any, action: str, ids: list[int], all_quarantined: bool, **options: Any) -> None:
        now = timezone.now()
        if action == "run":
            handled = events.drain(now=now)
            self.stdout.write(f"{handled} event(s) handled")
            return
        if action == "retry":
            if all_quarantined:
                ids = list(EventFailure.objects.filter(state=EventFailure.State.QUARANTINED).values_list("pk", flat=True))
            if not ids:
                raise CommandError("name the failures to retry (ids from `manage.py events`), or pass --all-quarantined")
            missing = set(ids) - set(EventFailure.objects.filter(pk__in=ids).values_list("pk", flat=True))
            if missing:
                raise CommandError(f"no failed event with id {', '.join(map(str, sorted(missing)))}; `manage.py events` lists them")
            total = len(ids)
            handled = failed = 0
            for index, failure_id in enumerate(ids, start=1):
                ok, bad = events.retry(failure_ids=[failure_id], now=now)
                handled, failed = handled + ok, failed + bad
                self.stdout.write(f"[{index}/{total}] failure {failure_id}: {'handled' if ok else 'failed again'}")
            self.stdout.write(f"{handled} handled, {failed} still failing")
            if failed:
                raise CommandError("some events failed again; `manage.py events` shows their errors")
            return
        self.stdout.write(f"{'consumer':<16} {'not read':>9} {'retrying':>9} {'waiting':>8} {'quarantined':>12}")
        for row in events.status():
            self.stdout.write(f"{row.name:<16} {row.pending:>9} {row.retrying:>9} {row.waiting:>8} {row.quarantined:>12}")
        failures = EventFailure.objects.exclude(state=EventFailure.State.WAITING).select_related("event")
        if failures:
            self.stdout.write("")
            self.stdout.write(f"{'id':>6}  {'consumer':<16} {'state':<12} {'attempts':>8}  event / error")
            for failure in failures:
                self.stdout.write(f"{failure.pk:>6}  {failure.consumer:<16} {failure.state:<12} {failure.attempts:>8}  "
                                  f"#{failure.event_id} {failure.event.topic} {failure.event.key}: {failure.last_error}")
