"""`manage.py slo_report 2026-10`: the monthly SLO report in the terminal, and as files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.template.loader import render_to_string
from django.utils import timezone

from slo import reports


class Command(BaseCommand):
    help = "Print the SLO report of a month and write it as HTML, CSV and JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("month", help="YYYY-MM, e.g. 2026-10")
        parser.add_argument("--out", default="reports", help="Folder for the files (default: ./reports)")

    def handle(self, *args: Any, month: str, out: str, **options: Any) -> None:
        try:
            year, number = reports.parse_month(month)
        except reports.BadMonth as exc:
            raise CommandError(str(exc)) from None
        from slo.models import SLO

        now = timezone.now()
        total = SLO.objects.count()
        rows = []
        for index, row in enumerate(reports.service_reports(SLO.objects.select_related("component").order_by("name"), year, number,
                                                            now=now), start=1):
            self.stderr.write(f"  [{index}/{total}] {row.slo}")
            rows.append(row)
        width = max([len(r.slo) for r in rows] + [7])
        self.stdout.write(f"SLO report {month}\n")
        self.stdout.write(f"{'service'.ljust(width)}  objective  achieved   met     budget spent  downtime  incidents")
        for r in rows:
            achieved = "no data" if r.achieved is None else f"{r.achieved:.3f}%"
            met = "-" if r.met is None else ("met" if r.met else "MISSED")
            line = (f"{r.slo.ljust(width)}  {r.objective:>8}%  {achieved:>9}  {met:<6}  {r.budget_spent_percent:>11.1f}%  "
                    f"{r.downtime_minutes:>6.1f} m  {r.incidents:>9}")
            self.stdout.write(self.style.ERROR(line) if r.met is False else line)
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        from datetime import datetime

        html = render_to_string("slo/report_mail.html", {"reports": rows, "month": month, "start": datetime(year, number, 1)})
        (folder / f"slo-report-{month}.html").write_text(html)
        (folder / f"slo-report-{month}.csv").write_text(reports.as_csv(rows))
        (folder / f"slo-report-{month}.json").write_text(json.dumps(reports.as_json(year, number, rows), indent=2))
        self.stdout.write(self.style.SUCCESS(f"Wrote {folder}/slo-report-{month}.html, .csv and .json"))
