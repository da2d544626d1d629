"""Alerting benchmark (issue 7): from a monitor's state change to the notification
received by a local webhook, through the real worker and beat, with group_wait 0.
Baseline in the same run: one direct POST to the same receiver.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.engine import BIN, _start, _stop
from bench.harness import QUICK, Check, Row, median, percentile, progress, setup_django


class Receiver:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json

                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                stamp = time.monotonic()
                try:
                    for alert in json.loads(body).get("alerts", []):
                        owner.received.setdefault(alert["labels"].get("monitor", ""), stamp)
                except ValueError:
                    pass
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def state_change_to_notification() -> Row:
    import requests
    from django.utils import timezone

    from alerting.models import AlertRule, Channel
    from monitors import services as monitor_services
    from monitors.checkers.base import Result
    from monitors.models import Monitor

    receiver = Receiver()
    direct = []
    for _ in range(20):
        started = time.monotonic()
        requests.post(receiver.url, json={"alerts": []}, timeout=5)
        direct.append(time.monotonic() - started)
    count = 30 if QUICK else 100
    channel = Channel.objects.create(name="bench-hook", kind="webhook", config={"url": receiver.url})
    rule = AlertRule.objects.create(name="bench down", states=["down"], group_by=["monitor"], group_wait_seconds=0,
                                    group_interval_seconds=300, repeat_interval_seconds=3600)
    rule.channels.add(channel)
    monitors = Monitor.objects.bulk_create([Monitor(name=f"alert-{i}", kind="tcp", target="127.0.0.1:1", retries=0,
                                                    recovery_confirmations=1) for i in range(count)])
    now = timezone.now()
    monitor_services.record_results(region_name="default", now=now, checked=[
        monitor_services.Checked(m.pk, now, Result("ok")) for m in monitors])
    worker = _start([str(BIN / "celery"), "-A", "portal", "worker", "--concurrency=2", "--queues=vigil", "--without-gossip",
                     "--without-mingle", "--loglevel=WARNING"])
    beat = _start([str(BIN / "celery"), "-A", "portal", "beat", "--loglevel=WARNING", "-s", "/tmp/vigil-bench-beat-schedule"])
    try:
        time.sleep(8)  # both processes up, the "up" changes handled
        progress(f"{count} monitors go down one after another; timing each until its webhook arrives")
        sent: dict[str, float] = {}
        for index, monitor in enumerate(monitors):
            at = now + timedelta(minutes=1, seconds=index)
            sent[monitor.name] = time.monotonic()
            monitor_services.record_results(region_name="default", now=timezone.now(), checked=[
                monitor_services.Checked(monitor.pk, at, Result("down", message="connection refused"))])
            time.sleep(0.05)
        deadline = time.monotonic() + 60
        while len(receiver.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        _stop(beat)
        _stop(worker)
        receiver.server.shutdown()
    latencies = [receiver.received[name] - sent[name] for name in sent if name in receiver.received]
    missing = count - len(latencies)
    p50, p99 = median(latencies), percentile(latencies, 0.99)
    return Row("state change -> webhook received (group_wait 0)", p99, "s p99",
               [Check("p99", "<=", 5, p99, "s"), Check("missing", "<=", 0, missing)], median(direct),
               "one direct POST to the receiver", p99 / median(direct) if direct else None,
               f"p50 {p50:.2f} s over {len(latencies)} alerts, {missing} missing; path: result -> StateChange -> worker task "
               f"-> alert -> beat tick (1 s) -> outbox -> delivery task -> POST")


def run() -> list[Row]:
    setup_django()
    return [state_change_to_notification()]
