"""Request bodies above the limit are refused with 413 before they are read, by the Procfile's web
server (granian), daphne and gunicorn.

Anyone can send a body to any path before authentication runs; a server that buffers
a 1 GB body for each such request is down after a few of them.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from pathlib import Path

import pytest
import requests

from api.tokens import token_issue
from incidents.models import Component
from tests.faults.helpers import start_web
from tests.processes import BIN, Process, free_port, process_env, start_procfile_web, wait_for_http

pytestmark = pytest.mark.django_db(transaction=True)

MiB = 1024 * 1024


def peak_memory_mib(process: Process) -> float:
    """The highest resident set size so far (VmHWM), in MiB, of the process and its worker processes
    (granian serves from children of the process it starts)."""
    total = 0.0
    pending = [process.popen.pid]
    while pending:
        pid = pending.pop()
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue  # a thread or process that ended meanwhile
    return total


def _response(sock: socket.socket, timeout: float = 15) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1."), f"no HTTP answer: {data[:300]!r}"
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", len(body)))
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return int(lines[0].split()[1]), headers, body


def declared_body(url: str, path: str, length: int, content_type: str = "application/x-www-form-urlencoded"):
    """Declare a body of `length` bytes, send only its first kilobyte, and read the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode() + b"x" * 1024)
        return _response(sock)


def streamed_body(url: str, path: str, total: int, content_type: str = "application/x-www-form-urlencoded"):
    """Send a chunked body of up to `total` bytes, stopping as soon as the server answers."""
    host, port = url.removeprefix("http://").split(":")
    chunk = b"x" * (64 * 1024)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        sent = 0
        try:
            while sent < total:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(frame)
                sent += len(chunk)
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _response(sock)


@pytest.fixture(params=["procfile", "daphne"])
def asgi_web(request, tmp_path):
    """The ASGI app under the Procfile's web line (what `make run` serves) and under daphne."""
    web, url = start_procfile_web(tmp_path) if request.param == "procfile" else start_web(tmp_path)
    yield web, url
    web.stop()


@pytest.fixture
def gunicorn(tmp_path):
    port = free_port()
    web = Process("gunicorn", [str(BIN / "gunicorn"), "portal.wsgi:application", "-b", f"127.0.0.1:{port}", "-k", "gthread",
                               "--workers", "1", "--threads", "4"], process_env(), tmp_path)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/ready", web)
    yield web, url
    web.stop()


def _api_token(admin_user) -> dict[str, str]:
    _token, clear = token_issue(user=admin_user, name="body limit test", scope="write")
    return {"Authorization": f"Bearer {clear}"}


def test_the_asgi_server_refuses_a_huge_content_length_without_waiting_for_the_body(asgi_web):
    _web, url = asgi_web
    status, headers, body = declared_body(url, "/accounts/login/", 1024 * MiB)
    assert status == 413
    assert headers["content-type"].startswith("text/plain")
    assert "Request body too large: this server accepts at most 1 MiB" in body.decode()

    status, headers, body = declared_body(url, "/api/v1/components", 1024 * MiB, "application/json")
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert "larger than 10 MiB" in json.loads(body)["detail"]


def test_the_asgi_server_refuses_a_streamed_body_past_the_limit_and_its_memory_stays_flat(asgi_web, admin_user):
    web, url = asgi_web
    assert requests.get(f"{url}/ready", timeout=10).status_code == 200
    before = peak_memory_mib(web)
    started = time.monotonic()
    status, _headers, body = streamed_body(url, "/accounts/login/", 200 * MiB)
    assert status == 413, body[:300]
    assert b"Request body too large" in body
    status, _headers, body = streamed_body(url, "/api/v1/components", 200 * MiB, "application/json")
    assert status == 413 and "larger than 10 MiB" in json.loads(body)["detail"]
    assert time.monotonic() - started < 20
    assert peak_memory_mib(web) - before < 40, "the server's memory grew with the refused body"

    # The server still serves, and a body within the limit is read whole.
    assert requests.get(f"{url}/ready", timeout=10).status_code == 200
    created = requests.post(f"{url}/api/v1/components", json={"name": "Checkout", "description": "d" * 500_000},
                            headers=_api_token(admin_user), timeout=30)
    assert created.status_code in (201, 422), created.text[:300]
    assert created.status_code == 201 or "description" in created.json()["fields"]


def test_the_asgi_server_refuses_a_declared_body_that_is_sent_whole(asgi_web):
    web, url = asgi_web
    before = peak_memory_mib(web)
    try:
        answer = requests.post(f"{url}/accounts/login/", data=b"x" * (64 * MiB), timeout=30,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 413
    except requests.ConnectionError:
        pass  # the server may close before the client has sent everything; what matters is the memory
    assert peak_memory_mib(web) - before < 40
    assert requests.get(f"{url}/ready", timeout=10).status_code == 200


def test_the_api_answers_a_body_between_djangos_cap_and_its_own_limit_with_json_not_500(asgi_web, admin_user):
    _web, url = asgi_web
    big_but_allowed = requests.post(f"{url}/api/v1/components", json={"name": "Checkout", "description": "d" * (3 * MiB)},
                                    headers=_api_token(admin_user), timeout=30)
    assert big_but_allowed.status_code < 500, big_but_allowed.text[:300]
    assert big_but_allowed.headers["Content-Type"].startswith("application/json")
    too_big = requests.post(f"{url}/api/v1/components", data=b"{" + b" " * (11 * MiB) + b"}", headers={
        **_api_token(admin_user), "Content-Type": "application/json"}, timeout=30)
    assert too_big.status_code == 413
    assert "VIGIL_MAX_API_BODY_BYTES" in too_big.json()["detail"]
    assert not Component.objects.exists()


def test_gunicorn_refuses_big_bodies_and_still_reads_a_streamed_one_within_the_limit(gunicorn, admin_user):
    _web, url = gunicorn
    status, _headers, body = declared_body(url, "/accounts/login/", 1024 * MiB)
    assert status == 413 and b"Request body too large" in body
    status, _headers, body = streamed_body(url, "/api/v1/components", 50 * MiB, "application/json")
    assert status == 413 and "larger than 10 MiB" in json.loads(body)["detail"]

    def chunks():
        yield b'{"name": '
        yield b'"Checkout"}'

    created = requests.post(f"{url}/api/v1/components", data=chunks(), timeout=30,
                            headers={**_api_token(admin_user), "Content-Type": "application/json"})
    assert created.status_code == 201, created.text[:300]
    assert Component.objects.filter(name="Checkout").exists()


def _asgi_call(path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes, int]:
    """Run the project's ASGI HTTP application (as any ASGI server would) and count the chunks it pulled."""
    from django.core.asgi import get_asgi_application

    from core.body_limit import BodyLimitASGI

    app = BodyLimitASGI(get_asgi_application())
    pending = list(chunks)
    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        if not pending:
            await asyncio.sleep(3600)
        pulled += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
             "scheme": "http", "http_version": "1.1", "asgi": {"version": "3.0"}}
    asyncio.run(app(scope, receive, send))
    start = next(message for message in sent if message["type"] == "http.response.start")
    return start["status"], b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body"), pulled


def test_the_asgi_guard_refuses_for_any_asgi_server_without_reading_past_the_limit():
    status, body, pulled = _asgi_call("/accounts/login/", [(b"content-length", str(1024 * MiB).encode())], [b"x" * MiB] * 4)
    assert (status, pulled) == (413, 0)
    assert b"Request body too large" in body
    status, body, pulled = _asgi_call("/api/v1/components", [(b"content-type", b"application/json")], [b" " * MiB] * 40)
    assert status == 413 and "VIGIL_MAX_API_BODY_BYTES" in json.loads(body)["detail"]
    assert pulled == 11  # stopped at the first chunk past 10 MiB
