"""How many subscription confirmation mails Vigil sends: per address, per page and in all.

Anyone may type anyone's address into a subscribe form, from as many networks as they
like, so the per-network limit in the view does not stop mail bombing. Three fixed-window
counters in Redis do: an address gets at most VIGIL_CONFIRMATIONS_PER_ADDRESS_PER_DAY
mails, a page sends at most VIGIL_CONFIRMATIONS_PER_PAGE_PER_HOUR and the whole
installation VIGIL_CONFIRMATIONS_PER_HOUR (which also protects the mail server's
reputation).

When Redis cannot count, no mail goes out (fail closed): a Redis outage must not turn the
form into an open mail relay, and a visitor can simply try again later.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

import redis
from django.conf import settings

from core.metrics import confirmations_refused
from core.redis_client import get_redis

log = logging.getLogger(__name__)

# Checks every counter, then increments them all, in one step: a refused mail uses up no
# allowance, and two requests at once cannot both take the last one.
_RESERVE = """
for i, key in ipairs(KEYS) do
    if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then
        return i
    end
end
for i, key in ipairs(KEYS) do
    if redis.call('INCR', key) == 1 then
        redis.call('EXPIRE', key, ARGV[#KEYS + i])
    end
end
return 0
"""

DAY = 24 * 3600
HOUR = 3600

REFUSALS = {
    "address": "This address has been sent {limit} confirmation emails today, the most we send to one address; "
               "check the inbox (and spam folder) for an earlier one, or try again tomorrow.",
    "page": "This page has sent many confirmation emails in the last hour; please try again in an hour.",
    "global": "We are sending many confirmation emails right now; please try again in an hour.",
    "unavailable": "Subscriptions cannot be confirmed right now; please try again in a few minutes.",
}


def reserve_confirmation(*, page_id: int, email: str, now: datetime) -> str | None:
    """Take one confirmation mail from every allowance; the sentence to show the visitor when
    one is used up (or cannot be counted), else None: the mail may go."""
    address = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]  # no addresses in Redis keys
    epoch = int(now.timestamp())
    limits = [
        ("address", f"vigil:confirm:address:{address}:{epoch // DAY}", settings.VIGIL_CONFIRMATIONS_PER_ADDRESS_PER_DAY, DAY),
        ("page", f"vigil:confirm:page:{page_id}:{epoch // HOUR}", settings.VIGIL_CONFIRMATIONS_PER_PAGE_PER_HOUR, HOUR),
        ("global", f"vigil:confirm:all:{epoch // HOUR}", settings.VIGIL_CONFIRMATIONS_PER_HOUR, HOUR),
    ]
    try:
        refused_at = int(get_redis().eval(_RESERVE, len(limits), *(key for _, key, _, _ in limits),
                                          *(limit for _, _, limit, _ in limits), *(window for _, _, _, window in limits)))
    except redis.RedisError as exc:
        log.warning("confirmation mail not sent: Redis cannot count confirmations (%s)", exc)
        confirmations_refused.labels(reason="unavailable").inc()
        return REFUSALS["unavailable"]
    if refused_at == 0:
        return None
    reason, _key, limit, _window = limits[refused_at - 1]
    confirmations_refused.labels(reason=reason).inc()
    return REFUSALS[reason].format(limit=limit)
