"""Real peers measured in the same run as Vigil: Debian's nginx-light, prometheus-blackbox-exporter,
and wrk to load both sides the same way (`make bench-peers` installs them when root).

A peer that is not installed gives None, and the row built on it says "not measured" and fails."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.harness import ROOT

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
BLACKBOX = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
WRK = shutil.which("wrk")


@dataclass
class WrkResult:
    per_second: float
    errors: int  # socket errors plus non-2xx/3xx answers
    p99_ms: float


def wrk(url: str, *, seconds: int, connections: int = 64, threads: int = 2, headers: dict[str, str] | None = None) -> WrkResult | None:
    if WRK is None:
        return None
    args = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        return None
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return WrkResult(float(rps.group(1)), errors + (int(non_2xx.group(1)) if non_2xx else 0),
                     float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"))


def documented_nginx_block(public_dir: Path, upstream: str) -> str:
    """The nginx configuration docs/deployment.md gives for serving status pages as files."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text[text.index("## Status pages as files"):]
    start = section.index("```nginx") + len("```nginx")
    block = section[start:section.index("```", start)]
    return block.replace("/var/lib/vigil/statuspage/public", str(public_dir)).replace("127.0.0.1:8000", upstream)


def start_nginx(port: int, server_body: str) -> subprocess.Popen[bytes] | None:
    """nginx on 127.0.0.1:port with its own prefix and temp paths, one worker per core."""
    if NGINX is None:
        return None
    prefix = Path(tempfile.mkdtemp(prefix="vigil-bench-nginx-"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes auto;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        "events { worker_connections 4096; }\nhttp {\naccess_log off;\nkeepalive_requests 100000;\n"
        f"client_body_temp_path {prefix}/body;\nproxy_temp_path {prefix}/proxy;\nfastcgi_temp_path {prefix}/fastcgi;\n"
        f"uwsgi_temp_path {prefix}/uwsgi;\nscgi_temp_path {prefix}/scgi;\n"
        f"server {{\nlisten 127.0.0.1:{port};\n{server_body}\n}}\n}}\n")
    return subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_blackbox(port: int) -> subprocess.Popen[bytes] | None:
    if BLACKBOX is None:
        return None
    folder = Path(tempfile.mkdtemp(prefix="vigil-bench-blackbox-"))
    (folder / "blackbox.yml").write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n")
    return subprocess.Popen([BLACKBOX, f"--config.file={folder / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def procfile_web_args(port: int) -> list[str]:
    """The Procfile's web line (what `make run` starts), on this port."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    args = [arg.replace("${PORT:-8000}", str(port)) for arg in shlex.split(line.removeprefix("web:"))]
    args[0] = str(ROOT / args[0])
    return args


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its children so far (for CPU per check)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total

