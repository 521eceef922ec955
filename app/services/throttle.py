"""Throttles: how often one address (or account) did something in a sliding window, kept in the store so every worker counts alike."""
import hashlib
import time
from datetime import datetime, timezone

from ..storage.base import timestamp
from .errors import RateLimited


def _key(scope, who):
    return hashlib.sha256(f"{scope}|{who}".encode()).hexdigest()[:32]


def recent(uow, scope, who, window, now=None):
    """The times (Unix seconds) of the hits within the window."""
    now = now or time.time()
    record = uow.throttles.get(_key(scope, who))
    return [t for t in (record or {}).get("hits", []) if now - t < window]


def check(uow, scope, who, limit, window, detail, now=None):
    """RateLimited (with Retry-After) once `limit` hits fall within the window."""
    now = now or time.time()
    hits = recent(uow, scope, who, window, now)
    if len(hits) >= limit:
        raise RateLimited(window - (now - min(hits)) + 0.999, detail)


def hit(uow, scope, who, window, now=None):
    """Count one more hit (in the caller's unit of work); how many are now within the window."""
    now = now or time.time()
    hits = recent(uow, scope, who, window, now) + [now]
    uow.throttles.save({"id": _key(scope, who), "hits": hits,
                        "updated_at": timestamp(datetime.fromtimestamp(now, timezone.utc))})
    return len(hits)
