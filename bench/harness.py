"""Shared bench plumbing: a dedicated PostgreSQL database and Redis db, result rows, the table."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vigil_bench")
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


@dataclass
class Row:
    benchmark: str
    figure: float
    unit: str
    target: str
    baseline: float | None
    baseline_name: str
    ratio: float | None
    meets: bool
    note: str = ""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def environment() -> dict[str, str]:
    """The environment every bench process (this one and the servers it starts) uses."""
    data_dir = os.environ.get("VIGIL_DATA_DIR") or tempfile.mkdtemp(prefix="vigil-bench-")
    return {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "VIGIL_ENV": "test",
        "VIGIL_DATA_DIR": data_dir,
        "DATABASE_URL": BENCH_DATABASE_URL,
        "REDIS_URL": BENCH_REDIS_URL,
        "VIGIL_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def recreate_database() -> None:
    import psycopg

    name = BENCH_DATABASE_URL.rsplit("/", 1)[1]
    admin = BENCH_DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name])
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    os.environ.update(environment())
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()  # an earlier benchmark's connection would block DROP DATABASE
    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from core.redis_client import get_redis

    get_redis().flushdb()


def print_table(rows: list[Row]) -> None:
    headers = ["benchmark", "figure", "target", "baseline", "ratio", "verdict"]
    lines = []
    for row in rows:
        baseline = "" if row.baseline is None else f"{row.baseline:,.1f} {row.unit} ({row.baseline_name})"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        lines.append([row.benchmark, f"{row.figure:,.1f} {row.unit}", row.target, baseline, ratio, "meets" if row.meets else "MISSES"])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
    for row in rows:
        if row.note:
            print(f"  * {row.benchmark}: {row.note}")
    sys.stdout.flush()


def save(name: str, rows: list[Row]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpus": os.cpu_count(), "quick": QUICK, "rows": [asdict(r) for r in rows]}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))


def progress(message: str) -> None:
    print(f"  … {message}", flush=True)
