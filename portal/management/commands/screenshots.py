"""manage.py screenshots [--out docs/]: the README's screenshots, taken from the real pages.

It loads the demo data (seed_demo, once), serves the app with daphne on a free local
port, and photographs the public status page (a past incident's day hovered) and the
incident console of the demo's resolved incident with Debian's chromium through
Playwright. `make screenshots` runs it against a throwaway database."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.services import assign_role
from incidents.models import Incident
from portal.embedded_redis import ensure_running
from portal.management.commands.seed_demo import SAMPLE_INCIDENT_TITLE
from statuspage.tasks import rebuild_all

CHROMIUM = "/usr/bin/chromium"


class Command(BaseCommand):
    help = "Regenerate docs/screenshot-status-page.png and docs/screenshot-incident.png from the real pages (demo data)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--out", default=str(Path(settings.BASE_DIR) / "docs"), help="Where the PNG files go (default docs/).")

    def handle(self, *args: Any, out: str, **options: Any) -> None:
        if not os.path.exists(CHROMIUM):
            raise CommandError("screenshots need Debian's chromium: `make browser` (apt-get install chromium)")
        redis_process = None
        if settings.VIGIL_EMBEDDED_REDIS:
            redis_process = ensure_running(settings.VIGIL_EMBEDDED_REDIS_SOCKET)
        try:
            self._run(Path(out))
        finally:
            if redis_process is not None:
                redis_process.terminate()
        self.stdout.write(self.style.SUCCESS(f"Wrote {out}/screenshot-status-page.png and {out}/screenshot-incident.png"))

    def _run(self, out: Path) -> None:
        call_command("seed_demo", stdout=self.stdout)
        incident = Incident.objects.filter(title=SAMPLE_INCIDENT_TITLE).first()
        if incident is None:
            raise CommandError("the demo's past incident is missing; run this against a fresh database (make screenshots does)")
        rebuild_all()
        username, password = "screenshots", secrets.token_urlsafe(18)
        user, _created = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.save()
        assign_role(user=user, role="responder")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen([str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
                                  cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            self._wait_for(port)
            self._shoot(base, out, incident.pk, incident.started_at, username, password)
        finally:
            server.terminate()
            server.wait(timeout=10)
            user.delete()

    def _wait_for(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise CommandError("daphne did not start within 30 s")

    def _shoot(self, base: str, out: Path, incident_pk: int, started: Any, username: str, password: str) -> None:
        from playwright.sync_api import sync_playwright

        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        out.mkdir(parents=True, exist_ok=True)
        days_ago = (timezone.now().date() - started.date()).days
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
            page = browser.new_context(viewport={"width": 1100, "height": 900}, color_scheme="light").new_page()
            page.goto(f"{base}/status/")
            page.wait_for_load_state("networkidle")
            bar = page.locator(".uptime-bars").nth(1).locator(".bar").nth(89 - days_ago)
            bar.hover()
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "screenshot-status-page.png"), full_page=False)
            page.goto(f"{base}/accounts/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/dashboard/")
            page.goto(f"{base}/incidents/{incident_pk}/")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / "screenshot-incident.png"), full_page=False)
            browser.close()
