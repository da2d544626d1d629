"""Outbound deliveries (alert transports, status page webhooks): the error type that says
whether to retry, a bounded JSON POST that classifies answers, Retry-After, and the
HMAC-SHA256 signature every Vigil webhook carries. No Django here."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from lib.egress import AllowList, EgressRefused, pinned_session

TIMEOUT = (5, 10)  # connect, read
USER_AGENT = "Vigil-Alerts/1"
# 4xx codes a retry cannot fix; 408 and 429 are temporary.
PERMANENT_CODES = {400, 401, 403, 404, 405, 410, 413, 422}


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.retry_after = retry_after


@dataclass
class Delivery:
    code: int | None = None
    detail: str = ""


def retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 1.0), 3600.0)


def post_json(url: str, payload: Any, *, headers: dict[str, str] | None = None, body: bytes | None = None,
              allow: AllowList | None = None) -> Delivery:
    """POST JSON; never follows a redirect. With `allow`, connect only to addresses it permits
    (lib.egress: checked on the resolved address at connect time); a refusal is permanent."""
    import json

    data = body if body is not None else json.dumps(payload, separators=(",", ":")).encode()
    try:
        with (pinned_session(allow) if allow is not None else requests.Session()) as session:
            response = session.post(url, data=data, timeout=TIMEOUT, allow_redirects=False,
                                    headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})})
    except EgressRefused as exc:
        raise TransportError(f"refused by the egress policy: {exc}", permanent=True) from None
    except requests.Timeout:
        raise TransportError("the receiver did not answer within 10 s") from None
    except requests.RequestException as exc:
        raise TransportError(f"could not reach the receiver: {exc.__class__.__name__}") from None
    if 200 <= response.status_code < 300:
        return Delivery(response.status_code, response.text[:200])
    raise TransportError(
        f"the receiver answered HTTP {response.status_code}: {response.text[:120]}",
        permanent=response.status_code in PERMANENT_CODES, code=response.status_code,
        retry_after=retry_after(response.headers.get("Retry-After")) if response.status_code in (429, 503) else None,
    )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of `timestamp + "." + body`: sent as X-Vigil-Signature: sha256=<hex>."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
