"""Start real Vigil processes (celery worker, beat, web) against the test database."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def process_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that uses the test database and the test Redis."""
    env = dict(os.environ)
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        user = db.get("USER") or "postgres"
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        env["DATABASE_URL"] = f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    if not settings.VIGIL_EMBEDDED_REDIS:
        env["REDIS_URL"] = settings.REDIS_URL
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings_test"
    env["VIGIL_ENV"] = "test"
    env["VIGIL_DATA_DIR"] = str(settings.VIGIL_DATA_DIR)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}):\n{self.output()[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not print {text!r} within {timeout}s:\n{self.output()[-3000:]}")

    def terminate(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        self.log.close()
        _wait_for_other_sessions_to_close()


def stop_all(*processes: Process) -> None:
    """Stop several processes at once (none sees the others go first)."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop()


def _wait_for_other_sessions_to_close(timeout: float = 5.0) -> None:
    """PostgreSQL ends a killed client's session a moment later; the test database can
    only be dropped at teardown once those sessions are gone."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.1)


def start_worker(log_dir: Path, name: str = "worker", queues: str = "vigil,checks.default", concurrency: int = 1, **env: str) -> Process:
    args = [str(BIN / "celery"), "-A", "portal", "worker", "--loglevel=INFO", f"--concurrency={concurrency}",
            f"--queues={queues}", f"--hostname={name}@%h", "--without-gossip", "--without-mingle"]
    process = Process(name, args, process_env(**env), log_dir)
    process.wait_for("ready.", timeout=60)
    return process


def start_beat(log_dir: Path, name: str = "beat", **env: str) -> Process:
    schedule = log_dir / f"{name}-schedule"
    args = [str(BIN / "celery"), "-A", "portal", "beat", "--loglevel=INFO", f"--schedule={schedule}"]
    return Process(name, args, process_env(**env), log_dir)


def wait_until(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(message)


def free_port() -> int:
    """A port nothing listens on right now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_http(url: str, process: Process, timeout: float = 40, status: int | None = None) -> None:
    """Wait until `url` answers (with `status`, when given); fail at once, with its output, if the
    process exits first."""
    def answering() -> bool:
        if process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited:\n{process.output()[-3000:]}")
        try:
            answer = requests.get(url, timeout=1)
        except requests.RequestException:
            return False
        return status is None or answer.status_code == status

    wait_until(answering, timeout, f"{process.name} did not answer {url}:\n{process.output()[-3000:]}")


def start_procfile_web(log_dir: Path, **env: str) -> tuple[Process, str]:
    """The web process exactly as the Procfile starts it in production."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    port = free_port()
    args = [arg.replace("${PORT:-8000}", str(port)) for arg in shlex.split(line.removeprefix("web:"))]
    args[0] = str(BIN / Path(args[0]).name)
    process = Process("web", args, process_env(**env), log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/ready", process)
    return process, url
