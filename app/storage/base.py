"""The storage protocol every backend implements: records, queries, repositories, units of work."""
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .declarations import DECLARED

# collections of records (kept whole by the memory and JSON stores), and the append-only logs
COLLECTIONS = tuple(c.name for c in DECLARED if not c.log)
LOGS = tuple(c.name for c in DECLARED if c.log)
# logs an earlier release kept as collections (records in a snapshot file and journal ops): the
# JSON store hands their records over once (JsonFileStore.legacy_records) and the app's
# start-up step moves them into the log (section 13's notifications: app.bootstrap)
LEGACY_TABLES = ("notifications",)
# collection -> the log its retired records go to (Collection.retire), and every log the memory
# and JSON stores keep in files or lists: the declared ones and those
RETIRED_LOGS = {c.name: c.retired_log for c in DECLARED if c.retire}
FILE_LOGS = LOGS + tuple(RETIRED_LOGS.values())

class _Unknown:
    """How a changed record was before, when the backend did not see it (never read with its lock)."""

    def __repr__(self):
        return "UNKNOWN"


UNKNOWN = _Unknown()

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# Crockford's digits to the ones int(text, 32) reads
_FROM_CROCKFORD = str.maketrans(_CROCKFORD, "0123456789abcdefghijklmnopqrstuv")
# every two Crockford digits, by the 10 bits they write, and where each pair sits in an id
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_PAIR_SHIFTS = tuple(range(120, -1, -10))
_last = [0, 0]
_told = [""]  # the id ids_after was last given


def new_id():
    """A 26-character URL-safe id that sorts by creation time (monotonic ULID layout)."""
    millis = time.time_ns() // 1_000_000
    if millis <= _last[0]:
        millis, rand = _last[0], _last[1] + 1
    else:
        rand = int.from_bytes(os.urandom(10), "big") >> 1
    _last[0], _last[1] = millis, rand
    value = (millis << 80) | (rand & ((1 << 80) - 1))
    # 26 Crockford digits of 5 bits (130 bits), made two at a time
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def id_seconds(record_id):
    """The Unix second an id made by new_id (after any "prefix_") was made in; None if it is not one."""
    digits = record_id.rpartition("_")[2][:10] if isinstance(record_id, str) else ""
    if len(digits) != 10:
        return None
    try:
        return int(digits.translate(_FROM_CROCKFORD), 32) // 1000
    except ValueError:
        return None


def ids_after(newest):
    """Make every later new_id of this process sort after `newest`, an id another process made.

    new_id alone is monotonic within a process; two processes making ids in the same
    millisecond order them by chance. A store that serialises its writers calls this under its
    write lock with the newest id committed so far, so ids (and so a ledger listed by id)
    follow the order of commits across processes too. Told the same id again, it returns at once."""
    if newest == _told[0] or len(newest) != 26:
        return
    _told[0] = newest
    try:
        value = int(newest.translate(_FROM_CROCKFORD), 32)
    except ValueError:
        return
    seen = [value >> 80, value & ((1 << 80) - 1)]
    if seen > _last:
        _last[:] = seen


def level_key(product_id, location_id):
    """The id of a product's stock level (stock_levels) at a location."""
    return f"{product_id}:{location_id}"


def utcnow():
    return datetime.now(timezone.utc)


_now_text = [None, ""]  # (second, its timestamp): a request stamps several records


def timestamp(moment=None):
    """ISO 8601 UTC with a Z, to the second: the one shape every stored timestamp has."""
    if moment is None:
        second = int(time.time())
        if _now_text[0] != second:
            _now_text[:] = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return _now_text[1]
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# hook(uow), run by every writing unit of work's commit before it writes anything: what a change
# makes beside its events (section 13's notifications and webhook deliveries, stock crossings)
BEFORE_COMMIT = []


def run_before_commit(uow):
    for hook in BEFORE_COMMIT:
        hook(uow)


@dataclass
class Query:
    """What a list endpoint asks of a repository; every backend answers it the same way.

    filters: field -> value (equality; a list means "any of"); special keys are
    documented by each repository (e.g. products' `low_stock`).
    q: case-insensitive substring over `q_fields`.
    since/until: inclusive bounds on `created_at`, as ISO timestamps.
    sort: [(field, descending)], ties broken by id (creation order).
    """

    filters: dict = field(default_factory=dict)
    q: str | None = None
    q_fields: tuple = ()
    since: str | None = None
    until: str | None = None
    sort: list = field(default_factory=list)
    limit: int = 50
    offset: int = 0


class StoreError(Exception):
    """A backend failed in a way the client cannot fix (lock timeout, lost connection)."""


class LockTimeout(StoreError):
    pass


class UniqueViolation(Exception):
    """A unique field (sku, barcode, username) is taken; `field` names it."""

    def __init__(self, field):
        super().__init__(field)
        self.field = field
