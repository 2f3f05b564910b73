"""Websites the chat widget was refused on: remembered for the settings page, where one click allows them.

A widget embedded on a site that is not on the company's allow-list shows nothing to the visitor;
without this, the company would never learn why. The last KEEP refused origins per company are kept
in Redis for a week (nothing is kept when Redis is down: it is a hint, not a record).
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timezone

import redis

from ..infra import queues
from ..infra.models import Company

log = logging.getLogger(__name__)
KEEP = 10
TTL_SECONDS = 7 * 24 * 3600
ORIGIN = re.compile(r"^https?://[a-z0-9.-]{1,253}(:[0-9]{1,5})?$")


def _key(company: Company) -> str:
    return f"widget-refused-origins:{company.id}"


def record(company: Company, origin: str) -> None:
    origin = (origin or "").strip().rstrip("/").lower()
    if not ORIGIN.match(origin):
        return  # "null", file://, garbage: nothing anyone could allow
    try:
        pipe = queues.connection().pipeline()
        pipe.zadd(_key(company), {origin: time.time()})
        pipe.zremrangebyrank(_key(company), 0, -(KEEP + 1))
        pipe.expire(_key(company), TTL_SECONDS)
        pipe.execute()
    except redis.RedisError:
        log.debug("could not remember the refused origin %s", origin, exc_info=True)


def recent(company: Company) -> list[tuple[str, datetime]]:
    """(origin, last refused) pairs, newest first, without the origins allowed since."""
    try:
        rows = queues.connection().zrevrange(_key(company), 0, KEEP - 1, withscores=True)
    except redis.RedisError:
        return []
    allowed = {o.rstrip("/").lower() for o in company.allowed_origins or []}
    found = [(member.decode() if isinstance(member, bytes) else member, score) for member, score in rows]
    return [(origin, datetime.fromtimestamp(score, timezone.utc)) for origin, score in found if origin not in allowed]


def forget(company: Company, origin: str) -> None:
    try:
        queues.connection().zrem(_key(company), origin)
    except redis.RedisError:
        pass
