"""HTTP(S) checks: status codes, keyword present/absent, JSON condition, latency.

settings (all optional):
  method: GET | HEAD | POST | PUT | PATCH | DELETE | OPTIONS   (default GET)
  headers: {name: value}        body: string sent as the request body
  auth: {type: basic, username, password} | {type: bearer, token}
  expected_status: [200, "200-299", ...]                       (default ["200-299"])
  keyword: text that must appear   keyword_absent: text that must not appear
  json_path: condition, e.g. '$.status == "healthy"' (lib/json_condition.py)
  latency_warn_ms: slower -> degraded    latency_down_ms: slower -> down
  warn_for_seconds / down_for_seconds: a slow answer counts only once slowness held that long
      (monitors.checkers.thresholds.hold); the latency is the number an HTTP check measures,
      stored in latency_ms and charted on the monitor page with these two lines
  follow_redirects: true   max_redirects: 5   verify_tls: true
  max_body_bytes: 1048576 (bytes read at most; the rest is never downloaded)
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from requests.utils import get_encoding_from_headers

from core.secrets import resolve
from lib.json_condition import ConditionError
from lib.json_condition import parse as parse_condition
from monitors.checkers import thresholds
from monitors.checkers.base import CheckSession, Deadline, Result, degraded, describe_error, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_MAX_BODY = 1024 * 1024
CHUNK = 16 * 1024


def parse_status_ranges(spec: Any) -> list[tuple[int, int]]:
    """[200, "300-399"] -> [(200, 200), (300, 399)]; raises ValueError naming the bad item."""
    items = spec if isinstance(spec, list) else [spec]
    ranges = []
    for item in items:
        text = str(item).strip()
        low, _, high = text.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"{item!r} is not a status code or range like 200 or \"200-299\"") from None
        if not (100 <= first <= last <= 599):
            raise ValueError(f"{item!r} is outside 100-599 or its range is reversed")
        ranges.append((first, last))
    return ranges


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not target.startswith(("http://", "https://")):
        errors["target"] = f"{target!r} is not an http:// or https:// URL"
    method = str(settings.get("method", "GET")).upper()
    if method not in METHODS:
        errors["settings"] = f"method {method!r} is not one of {', '.join(METHODS)}"
    try:
        parse_status_ranges(settings.get("expected_status", ["200-299"]))
    except ValueError as exc:
        errors["settings"] = f"expected_status: {exc}"
    if settings.get("json_path"):
        try:
            parse_condition(str(settings["json_path"]))
        except ConditionError as exc:
            errors["settings"] = f"json_path: {exc}"
    for key in ("latency_warn_ms", "latency_down_ms", "max_body_bytes", "max_redirects"):
        value = settings.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            errors["settings"] = f"{key} must be a whole number of 0 or more, got {value!r}"
    warn, crit = settings.get("latency_warn_ms"), settings.get("latency_down_ms")
    if isinstance(warn, int) and isinstance(crit, int) and warn >= crit:
        errors["settings"] = f"latency_warn_ms ({warn}) must be below latency_down_ms ({crit})"
    problem = thresholds.validate_for(settings)
    if problem:
        errors["settings"] = problem
    auth = settings.get("auth")
    if auth is not None and (not isinstance(auth, dict) or auth.get("type") not in ("basic", "bearer")):
        errors["settings"] = "auth must be {type: basic, username, password} or {type: bearer, token}"
    headers = settings.get("headers", {})
    if not isinstance(headers, dict):
        errors["settings"] = "headers must be an object of name: value"
    return errors


@dataclass(frozen=True)
class Response:
    """What the checks read of an HTTP answer (the body is read by fetch, within the limits)."""

    status_code: int
    reason: str
    encoding: str | None  # as requests chose it from Content-Type, so text decodes as before
    headers: Mapping[str, str]


def _request_options(settings: dict[str, Any], timeout: float, session: CheckSession, *, monitor_name: str) -> dict[str, Any]:
    headers = {str(k): str(v) for k, v in (settings.get("headers") or {}).items()}
    options: dict[str, Any] = {
        "headers": headers,
        # A connection not made within 10 s (or the timeout) fails; the whole check is bounded by fetch's deadline.
        "timeout": aiohttp.ClientTimeout(total=None, sock_connect=min(timeout, 10.0), sock_read=timeout),
        "allow_redirects": bool(settings.get("follow_redirects", True)),
        "max_redirects": int(settings.get("max_redirects", 5)),
        "ssl": session.http_ssl_context(bool(settings.get("verify_tls", True))),
    }
    if settings.get("body") is not None:
        options["data"] = str(settings["body"]).encode()
    auth = settings.get("auth") or {}
    if auth.get("type") == "basic":
        # Sent as a header, which is dropped when a redirect leaves the origin (as requests did).
        username = resolve(auth.get("username", ""), what=f"monitor {monitor_name!r}: settings.auth.username")
        password = resolve(auth.get("password", ""), what=f"monitor {monitor_name!r}: settings.auth.password")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{username}:{password}".encode("latin1")).decode()  # as requests encodes it
    elif auth.get("type") == "bearer":
        headers["Authorization"] = "Bearer " + resolve(auth.get("token", ""), what=f"monitor {monitor_name!r}: settings.auth.token")
    return options


Fetched = tuple[Result | None, Response | None, bytes, bool, int]


def fetch(monitor: Monitor, session: CheckSession, needs_body: bool) -> Fetched:
    """fetch_async from a thread: the request runs on the session's loop."""
    return session.run(fetch_async(monitor, session, needs_body))


async def fetch_async(monitor: Monitor, session: CheckSession, needs_body: bool) -> Fetched:
    """Run the request within the monitor's hard timeout, on the session's loop.

    Returns (failure or None, response, body read, whether the body was cut, elapsed ms). The
    timeout is a hard total: a server that drips one byte a second is cut off when it passes.
    """
    settings = monitor.settings or {}
    timeout = monitor.timeout_seconds
    deadline = Deadline(timeout)
    max_body = int(settings.get("max_body_bytes", DEFAULT_MAX_BODY))
    method = str(settings.get("method", "GET")).upper()
    options = _request_options(settings, timeout, session, monitor_name=monitor.name)
    options["proxy"] = session.http_proxy_for(monitor.target)
    body = bytearray()
    truncated = False
    answer: aiohttp.ClientResponse | None = None
    try:
        async with asyncio.timeout(timeout):
            try:
                answer = await session.http_client().request(method, monitor.target, **options)
            except aiohttp.TooManyRedirects:
                return down(f"too many redirects (more than {options['max_redirects']})", latency_ms=deadline.elapsed_ms()), None, b"", False, deadline.elapsed_ms()
            except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
                return down(f"TLS error: {describe_error(exc)}", latency_ms=deadline.elapsed_ms()), None, b"", False, deadline.elapsed_ms()
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                if deadline.expired():
                    return down(f"no response within {timeout:g}s", latency_ms=deadline.elapsed_ms()), None, b"", False, deadline.elapsed_ms()
                return down(describe_error(exc), latency_ms=deadline.elapsed_ms()), None, b"", False, deadline.elapsed_ms()
            try:
                declared = int(answer.headers.get("Content-Length", "0") or 0)
            except ValueError:
                declared = 0
            try:
                if needs_body or declared <= max_body:
                    while len(body) < max_body:
                        chunk = await answer.content.read(min(CHUNK, max_body - len(body)))
                        if not chunk:
                            break
                        body.extend(chunk)
                    else:
                        truncated = True
                else:
                    truncated = True
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                answer.close()
                return down(f"connection broke while reading the body: {describe_error(exc)}", latency_ms=deadline.elapsed_ms(),
                            status_code=answer.status), _response(answer), bytes(body), truncated, deadline.elapsed_ms()
    except TimeoutError:
        if answer is None:
            return down(f"no response within {timeout:g}s", latency_ms=deadline.elapsed_ms()), None, b"", False, deadline.elapsed_ms()
        answer.close()
        return (down(f"response not complete within {timeout:g}s (got {len(body)} bytes)", latency_ms=deadline.elapsed_ms(),
                     status_code=answer.status), _response(answer), bytes(body), truncated, deadline.elapsed_ms())
    if truncated:
        answer.close()  # never download the rest of a huge body
    else:
        answer.release()  # keep-alive: the connection goes back to the pool
    return None, _response(answer), bytes(body), truncated, deadline.elapsed_ms()


def _response(answer: aiohttp.ClientResponse) -> Response:
    return Response(answer.status, answer.reason or "", get_encoding_from_headers(answer.headers), answer.headers)


def slow_result(settings: dict[str, Any], elapsed_ms: int, status_code: int) -> Result | None:
    """A breach of the latency limits (details["breach"], so warn_for_seconds / down_for_seconds
    apply to it), or None when the answer was fast enough."""
    slow = latency_verdict(settings, elapsed_ms)
    if slow is None:
        return None
    outcome, message = slow
    breach = "down" if outcome == "down" else "warn"
    return Result(outcome, latency_ms=elapsed_ms, status_code=status_code, message=message, details={"breach": breach})


def latency_verdict(settings: dict[str, Any], elapsed_ms: int) -> tuple[str, str] | None:
    crit, warn = settings.get("latency_down_ms"), settings.get("latency_warn_ms")
    if crit is not None and elapsed_ms > crit:
        return "down", f"slow: {elapsed_ms} ms > {crit} ms"
    if warn is not None and elapsed_ms > warn:
        return "degraded", f"slow: {elapsed_ms} ms > {warn} ms"
    return None


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    return session.run(check_async(monitor, session, now))


async def check_async(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    """The check on the session's loop: a worker runs a whole batch of these at once."""
    settings = monitor.settings or {}
    needs_body = bool(settings.get("keyword") or settings.get("keyword_absent") or settings.get("json_path"))
    failure, response, body, truncated, elapsed = await fetch_async(monitor, session, needs_body)
    if failure is not None:
        return failure
    assert response is not None
    code = response.status_code
    ranges = parse_status_ranges(settings.get("expected_status", ["200-299"]))
    if not any(low <= code <= high for low, high in ranges):
        reason = response.reason or ""
        return down(f"HTTP {code} {reason}".strip() + f" (expected {_describe_ranges(ranges)})", latency_ms=elapsed, status_code=code)
    text = body.decode(response.encoding or "utf-8", errors="replace") if needs_body else ""
    cut_note = f" (only the first {len(body)} bytes were read)" if truncated else ""
    keyword = settings.get("keyword")
    if keyword and str(keyword) not in text:
        return down(f"keyword {str(keyword)!r} not found{cut_note}", latency_ms=elapsed, status_code=code)
    absent = settings.get("keyword_absent")
    if absent and str(absent) in text:
        return down(f"unwanted keyword {str(absent)!r} found", latency_ms=elapsed, status_code=code)
    if settings.get("json_path"):
        condition = parse_condition(str(settings["json_path"]))
        try:
            document = json.loads(text)
        except ValueError:
            return down(f"body is not JSON{cut_note}", latency_ms=elapsed, status_code=code)
        holds, value = condition.evaluate(document)
        if not holds:
            return down(f"{condition.text} failed (found {json.dumps(value)[:60]})", latency_ms=elapsed, status_code=code)
    return slow_result(settings, elapsed, code) or ok(f"HTTP {code}", latency_ms=elapsed, status_code=code)


def _describe_ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)


__all__ = ["check", "check_async", "degraded", "fetch", "fetch_async", "latency_verdict", "slow_result", "validate"]
