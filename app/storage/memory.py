"""An in-memory store: the tables, indexes and transactions the JSON backend persists, and the fake for unit tests."""
import itertools
import threading
from contextlib import contextmanager

from .base import COLLECTIONS, FILE_LOGS, LockTimeout, UniqueViolation
from .declarations import COLLECTIONS as DECLARED
from . import repositories
from .repositories import _path


def product_code_key(value):
    """Products' barcode index key: UPC-A and its EAN-13 form (leading 0) are one code."""
    if not value:
        return None
    value = str(value).strip()
    if len(value) == 12 and value.isdigit():
        return "0" + value
    return value


def _lower(value):
    return value.lower() if isinstance(value, str) and value else None


def _exact(value):
    return value or None


# a Unique declaration's key kind -> the function giving a value's key (None: no key)
KEY_FUNCTIONS = {"exact": _exact, "lower": _lower, "code": product_code_key}
# collection -> field -> key function; a record's key must be unique in its collection
UNIQUE = {name: {u.field: KEY_FUNCTIONS[u.key] for u in decl.unique}
          for name, decl in DECLARED.items() if decl.unique and not decl.log}
# collections whose ids come from new_id, so sort by creation: Tables.newest_id follows them
TIME_ORDERED_IDS = frozenset(name for name, decl in DECLARED.items() if decl.time_ids and not decl.log)
# collection -> fields: non-unique look-ups kept as ordered id lists
INDEXED = {name: tuple(decl.lookups) for name, decl in DECLARED.items() if decl.lookups and not decl.log}
# collection -> subset name -> predicate: the ids of the records it holds for are kept
SUBSETS = {name: dict(decl.subsets) for name, decl in DECLARED.items() if decl.subsets and not decl.log}


_SERIALS = itertools.count(1)


class Tables:
    """Committed state: records per collection plus their indexes.

    Logs are kept here (as lists) only by the memory store; the JSON store keeps them in
    files and gives each transaction a reader over those (see jsonfile.LogFiles)."""

    def __init__(self):
        self.records = {name: {} for name in COLLECTIONS}
        self.unique = {c: {f: {} for f in fields} for c, fields in UNIQUE.items()}
        # look-ups: value -> {id: None}, the ids in the order they came (a dict, so a record
        # leaving it costs the same with 10 or 100,000 beside it; a list's remove walked them)
        self.indexed = {c: {f: {} for f in fields} for c, fields in INDEXED.items()}
        self.subsets = {c: {name: set() for name in subsets} for c, subsets in SUBSETS.items()}
        self.search = {}
        self.list_cache, self.list_cache_tx = {}, None
        self.derived = {}  # collection -> (its version, what lists derive from it: repositories.listing)
        self.tx = 0
        self.newest_id = ""  # the greatest id a record was inserted under (TIME_ORDERED_IDS)
        self.changed_tx = {}  # collection -> the last transaction that changed it
        self.logs = MemoryLogs()
        # this state's number in the process, never reused (an id() is, once the state is gone):
        # the versions caches are keyed by (serial, transaction) and must not mistake a new store
        # for an old one
        self.serial = next(_SERIALS)

    def apply(self, collection, record_id, record):
        table = self.records.get(collection)
        if table is None:
            return  # a log's entry in a journal line: logs are not kept in memory
        if self.derived:
            self.derived.pop(collection, None)  # built from the records as they were
        old = table.get(record_id)
        for fname, keyf in UNIQUE.get(collection, {}).items():
            if old is not None and record is not None and old.get(fname) == record.get(fname):
                continue  # most changes (stock, price) keep a record's keys
            old_key = keyf(old.get(fname)) if old is not None else None
            new_key = keyf(record.get(fname)) if record is not None else None
            if old_key == new_key:
                continue
            index = self.unique[collection][fname]
            if old_key is not None and index.get(old_key) == record_id:
                del index[old_key]
            if new_key is not None:
                index[new_key] = record_id
        for fname in INDEXED.get(collection, ()):
            index = self.indexed[collection][fname]
            old_value = old.get(fname) if old is not None else None
            new_value = record.get(fname) if record is not None else None
            if old is not None and old_value != new_value:
                ids = index.get(old_value)
                if ids:
                    ids.pop(record_id, None)
            if record is not None and (old is None or old_value != new_value):
                index.setdefault(new_value, {})[record_id] = None
        for name, holds in SUBSETS.get(collection, {}).items():
            if record is not None and holds(record):
                self.subsets[collection][name].add(record_id)
            elif old is not None:
                self.subsets[collection][name].discard(record_id)
        if record is None:
            table.pop(record_id, None)
            for (coll, _), cache in self.search.items():
                if coll == collection:
                    cache.pop(record_id, None)
        else:
            table[record_id] = record
            if old is None and record_id > self.newest_id and collection in TIME_ORDERED_IDS:
                self.newest_id = record_id


class MemoryLogs:
    """The logs of the memory store: a list per log, in commit order."""

    def __init__(self):
        self.entries = {name: [] for name in FILE_LOGS}

    def extend(self, collection, records):
        self.entries[collection].extend(records)

    def newest_first(self, collection):
        return reversed(self.entries[collection])

    def oldest_first(self, collection):
        return iter(self.entries[collection])

    def count(self, collection):
        return len(self.entries[collection])

    def find(self, collection, entry_id):
        return next((r for r in self.entries[collection] if r["id"] == entry_id), None)


class Transaction:
    """Reads see committed state plus this transaction's own writes; writes stay staged until commit."""

    def __init__(self, tables, logs=None):
        self.tables = tables
        self.logs = logs if logs is not None else tables.logs
        self.writes = {}  # (collection, id) -> record or None, in order
        self.appends = []  # (log, record), in order

    def get(self, collection, record_id):
        key = (collection, record_id)
        if key in self.writes:
            return self.writes[key]
        return self.tables.records[collection].get(record_id)

    def find_unique(self, collection, fname, value):
        keyf = UNIQUE[collection][fname]
        key = keyf(value)
        if key is None:
            return None
        for (coll, rid), rec in reversed(list(self.writes.items())):
            if coll == collection and rec is not None and keyf(rec.get(fname)) == key:
                return rec
        rid = self.tables.unique[collection][fname].get(key)
        if rid is None:
            return None
        rec = self.get(collection, rid)
        if rec is not None and keyf(rec.get(fname)) == key:
            return rec
        return None

    def find_indexed(self, collection, fname, value):
        ids = list(self.tables.indexed[collection][fname].get(value, ()))
        seen = set(ids)
        for (coll, rid), rec in self.writes.items():
            if coll == collection and rid not in seen and rec is not None:
                ids.append(rid)
                seen.add(rid)
        out = []
        for rid in ids:
            rec = self.get(collection, rid)
            if rec is not None and rec.get(fname) == value:
                out.append(rec)
        return out

    def subset(self, collection, name):
        """The records of the collection's declared subset `name` (those its predicate holds for),
        in creation order, as this transaction sees them: read without walking the others."""
        holds = SUBSETS[collection][name]
        ids = set(self.tables.subsets[collection][name])
        for (coll, rid), rec in self.writes.items():
            if coll != collection:
                continue
            if rec is not None and holds(rec):
                ids.add(rid)
            else:
                ids.discard(rid)
        return [self.get(collection, rid) for rid in sorted(ids)]

    def scan(self, collection):
        """Every record, in creation order (ids sort by creation time)."""
        table = self.tables.records[collection]
        if not any(c == collection for c, _ in self.writes):
            return table.values()
        merged = dict(table)
        for (coll, rid), rec in self.writes.items():
            if coll != collection:
                continue
            if rec is None:
                merged.pop(rid, None)
            else:
                merged[rid] = rec
        return merged.values()

    def count(self, collection):
        return len(self.scan(collection))

    def state(self):
        """(this process's tables, their last transaction), or None once this transaction wrote."""
        if self.writes or self.appends:
            return None
        return (self.tables.serial, self.tables.tx)

    def version_of(self, collection):
        """A token that changes whenever a commit this process can see changes the collection;
        None while this transaction has staged writes to it."""
        if any(c == collection for c, _ in self.writes):
            return None
        return (self.tables.serial, self.tables.changed_tx.get(collection, 0))

    def derived(self, collection):
        """A dict for what list queries derive from the collection (its records in a sort's order,
        a search text index, a filter's matches), kept until a commit changes that collection;
        None while this transaction has staged writes to it."""
        version = self.version_of(collection)
        if version is None:
            return None
        kept = self.tables.derived.get(collection)
        if kept is None or kept[0] != version:
            kept = self.tables.derived[collection] = (version, {})
        return kept[1]

    def list_cache(self, collection):
        """Answers to list queries, valid for the committed state this process has (any commit,
        here or read from another process, moves tables.tx and empties it); None while this
        transaction has staged writes to the collection."""
        if any(c == collection for c, _ in self.writes):
            return None
        tables = self.tables
        if tables.list_cache_tx != tables.tx or len(tables.list_cache) > 512:
            tables.list_cache, tables.list_cache_tx = {}, tables.tx
        return tables.list_cache

    def search_text(self, collection, fields):
        """record -> its lower-cased search text over fields, cached per stored record object
        (a changed record is a new object, so the cache can never answer for an old one)."""
        cache = self.tables.search.setdefault((collection, tuple(fields)), {})

        def text_of(record):
            hit = cache.get(record["id"])
            if hit is not None and hit[0] is record:
                return hit[1]
            text = "\x1f".join(str(_path(record, f) or "").lower() for f in fields)
            cache[record["id"]] = (record, text)
            return text
        return text_of

    def put(self, collection, record):
        unique = UNIQUE.get(collection)
        old = self.get(collection, record["id"]) if unique else None
        for fname, keyf in (unique or {}).items():
            key = keyf(record.get(fname))
            if key is None or (old is not None and keyf(old.get(fname)) == key):
                continue  # no key, or the record keeps its own
            other = self.find_unique(collection, fname, record.get(fname))
            if other is not None and other["id"] != record["id"]:
                raise UniqueViolation(fname)
        self.writes[(collection, record["id"])] = record

    def delete(self, collection, record_id):
        self.writes[(collection, record_id)] = None

    # ---- logs
    def append(self, collection, record):
        self.appends.append((collection, record))

    def log_newest_first(self, collection):
        """A log's entries, newest first: this transaction's own appends, then the committed ones."""
        own = [r for c, r in reversed(self.appends) if c == collection]
        if own:
            yield from own
        yield from self.logs.newest_first(collection)

    def log_oldest_first(self, collection):
        yield from self.logs.oldest_first(collection)
        for c, r in self.appends:
            if c == collection:
                yield r

    def log_find(self, collection, entry_id):
        """A log's entry by id: this transaction's own appends, then the committed ones."""
        for c, r in self.appends:
            if c == collection and r["id"] == entry_id:
                return r
        return self.logs.find(collection, entry_id)

    def log_count(self, collection):
        return self.logs.count(collection) + sum(1 for c, _ in self.appends if c == collection)

    def ops(self):
        return [[c, rid, rec] for (c, rid), rec in self.writes.items()]


class MemoryStore:
    """The store without files: one process, a thread lock. Used by unit tests."""

    name = "memory"
    on_commit = None  # called with each writing unit of work just before it commits (the audit log)

    def __init__(self):
        self.tables = Tables()
        self._lock = threading.RLock()

    def unit_of_work(self):
        return repositories.UnitOfWork(self)

    def reader(self):
        return repositories.UnitOfWork(self, readonly=True)

    @contextmanager
    def transaction(self):
        if not self._lock.acquire(timeout=10):
            raise LockTimeout("store lock timed out")
        try:
            yield Transaction(self.tables)
        finally:
            self._lock.release()

    @contextmanager
    def snapshot(self):
        yield Transaction(self.tables)

    def commit(self, tx):
        number = self.tables.tx + 1
        for collection, record_id, record in tx.ops():
            self.tables.apply(collection, record_id, record)
            self.tables.changed_tx[collection] = number
        for collection, record in tx.appends:
            self.tables.logs.extend(collection, [record])
        self.tables.tx = number
        tx.writes, tx.appends = {}, []

    def events_after(self, event_id, limit=100):
        """Committed events after event_id (None: from the first), in commit order."""
        return repositories.entries_after(self.tables.logs.oldest_first("events"), event_id, limit)

    def wait_for_events(self, timeout):
        import time
        time.sleep(timeout)
        return False

    def check(self):
        return True

    def close(self):
        pass
