"""A small async HTTP/1.1 keep-alive load client: N connections, fixed duration, latencies."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _connection(host: str, port: int, paths: Callable[[], str], until: float, result: LoadResult, extra: str = "") -> None:
    reader = writer = None
    while time.monotonic() < until:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            path = paths()
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n{extra}\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")  # type: ignore[union-attr]
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)  # type: ignore[union-attr]
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status >= 500:
                result.errors += 1
            if close:
                writer.close()
                reader = writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            result.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


def run_load(host: str, port: int, paths: list[str], *, connections: int, seconds: float,
             headers: dict[str, str] | None = None) -> LoadResult:
    """`headers` are sent with every request, e.g. {"Accept-Encoding": "gzip"} as browsers do."""
    cycle = itertools.cycle(paths)
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    result = LoadResult()

    async def main() -> None:
        until = time.monotonic() + seconds
        started = time.monotonic()
        await asyncio.gather(*(_connection(host, port, lambda: next(cycle), until, result, extra) for _ in range(connections)))
        result.seconds = time.monotonic() - started

    asyncio.run(main())
    return result
