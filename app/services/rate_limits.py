"""Per-caller limits over a sliding window, counted in the store, so every worker shares one count.

One record per limited caller (`rate_limits`, id "<limit>:<key>") holds the times of its recent
hits. A hit is checked and counted in the caller's unit of work: on the JSON store under its
cross-process lock, on PostgreSQL under the record id's advisory lock (the collection is keyed),
so two workers never both let the last allowed hit through. The assistant uses it per signed-in
user or client address; the storefront's per-key limit can use the same.
"""
import time
from datetime import datetime, timezone

from ..storage.base import timestamp
from .errors import RateLimited

WINDOW = 60.0


def limit_id(limit, key):
    return f"{limit}:{key}"[:200]


def hit(uow, limit, key, allowed, window=WINDOW, now=None):
    """Count one hit of `key` against `limit`; RateLimited (with the seconds to wait), counting
    nothing, when `allowed` hits are already in the last `window` seconds."""
    now = time.time() if now is None else now
    record_id = limit_id(limit, key)
    record = uow.rate_limits.get(record_id) or {"id": record_id, "hits": []}
    recent = [t for t in record["hits"] if now - t < window]
    if len(recent) >= allowed:
        raise RateLimited(window - (now - min(recent)),
                          f"At most {allowed} requests in {int(window)} seconds; wait a little.")
    record["hits"] = recent + [float(now)]
    record["updated_at"] = timestamp()
    # forget callers quiet for a whole window (their hits are all out of it)
    uow.rate_limits.purge_before(timestamp(datetime.fromtimestamp(now - window, timezone.utc)),
                                 field="updated_at")
    uow.rate_limits.save(record)
    return len(record["hits"])

