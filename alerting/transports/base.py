"""The transport interface's shared parts (they live in lib.delivery, shared with status page webhooks)."""

from lib.delivery import PERMANENT_CODES, TIMEOUT, USER_AGENT, Delivery, TransportError, post_json, retry_after, sign

__all__ = ["PERMANENT_CODES", "TIMEOUT", "USER_AGENT", "Delivery", "TransportError", "post_json", "retry_after", "sign"]
