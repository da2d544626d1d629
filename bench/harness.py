"""Shared bench plumbing: a dedicated PostgreSQL database and Redis db, result rows, the table."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vigil_bench")
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


@dataclass
class Check:
    """One condition of a row's target; the printed target is made of these, so the verdict is
    exactly what is printed."""

    what: str  # "figure", "ratio", "p95", "errors" ...
    op: str  # ">=" or "<="
    limit: float
    measured: float | None
    unit: str = ""

    def met(self) -> bool:
        if self.measured is None or self.measured != self.measured:  # None or NaN: not measured
            return False
        return self.measured >= self.limit if self.op == ">=" else self.measured <= self.limit

    def text(self) -> str:
        limit = f"{self.limit:,.0f}" if self.limit == int(self.limit) and abs(self.limit) >= 10 else f"{self.limit:g}"
        suffix = "x" if self.what == "ratio" else (f" {self.unit}" if self.unit else "")
        return f"{self.what} {self.op} {limit}{suffix}"


@dataclass
class Row:
    benchmark: str
    figure: float | None  # None: could not be measured
    unit: str
    checks: list[Check]  # empty: the figure is reported, not judged
    baseline: float | None
    baseline_name: str
    ratio: float | None
    note: str = ""
    target: str = field(init=False)
    verdict: str = field(init=False)

    def __post_init__(self) -> None:
        self.target = " and ".join(check.text() for check in self.checks) or "reported"
        if self.figure is None or self.figure != self.figure:
            self.verdict = "NOT MEASURED"
        elif not self.checks:
            self.verdict = "reported"
        else:
            self.verdict = "meets" if all(check.met() for check in self.checks) else "MISSES"

    @property
    def meets(self) -> bool:
        return self.verdict in ("meets", "reported")


def not_measured(benchmark: str, unit: str, checks: list[Check], why: str) -> Row:
    """A row that could not be measured: printed, and it fails."""
    return Row(benchmark, None, unit, checks, None, "", None, f"not measured: {why}")


def figure_check(op: str, limit: float, figure: float | None, unit: str) -> Check:
    return Check("figure", op, limit, figure, unit)


def ratio_check(op: str, limit: float, ratio: float | None) -> Check:
    return Check("ratio", op, limit, ratio)


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
    headers = ["benchmark", "figure", "target", "peer or baseline (same run)", "ratio", "verdict"]
    lines = []
    for row in rows:
        baseline = "" if row.baseline is None else f"{row.baseline:,.1f} {row.unit} ({row.baseline_name})"
        ratio = "" if row.ratio is None else f"{row.ratio:.3f}x"
        figure = "not measured" if row.verdict == "NOT MEASURED" else f"{row.figure:,.1f} {row.unit}"
        lines.append([row.benchmark, figure, row.target, baseline, ratio, row.verdict])
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


def machine_facts() -> dict[str, str]:
    """CPU model, cores and memory of this machine, printed with the table and in docs/benchmarks.md."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
        memory = f"{memory_kib / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = "unknown"
    return {"cpu": model, "cores": str(os.cpu_count()), "memory": memory, "os": platform.platform(), "python": platform.python_version()}


def save(name: str, rows: list[Row]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine_facts(), "quick": QUICK, "rows": [asdict(r) for r in rows]}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))


def progress(message: str) -> None:
    print(f"  … {message}", flush=True)
