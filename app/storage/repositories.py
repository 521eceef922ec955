"""Repositories over a staged transaction: the interface services use, shared by the memory and JSON-file stores."""
import calendar
from bisect import bisect_left, bisect_right
from heapq import heappop, heappush, merge as heap_merge, nsmallest
from collections import Counter
from decimal import Decimal, InvalidOperation
from datetime import datetime, time, timedelta, timezone
from itertools import islice, takewhile
from operator import itemgetter
from zoneinfo import ZoneInfo

from .base import Query, StoreError, id_seconds, level_key, new_id, run_before_commit, timestamp
from .declarations import COLLECTIONS as DECLARED


def clone(value):
    """A deep copy of a JSON-shaped value, so callers never mutate committed state.
    (A record is copied whole in C, then only its containers are copied again: most fields
    are strings and numbers. Half the time of copying field by field.)"""
    kind = type(value)
    if kind is dict:
        out = value.copy()
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                out[key] = clone(item)
        return out
    if kind is list:
        return [clone(item) if type(item) is dict or type(item) is list else item for item in value]
    if isinstance(value, dict):  # a dict or list of another kind: copied as a plain one
        return {key: clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) for item in value]
    return value


def _numeric(value):
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _path(record, dotted):
    """record["a"]["b"] for "a.b"; None when any step is missing."""
    value = record
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def filter_predicates(filters, special):
    """One predicate per filter: a special one by its name, else equality (a list: any of)."""
    preds = []
    for fname, wanted in filters.items():
        if fname in special:
            preds.append(special[fname](wanted))
        elif isinstance(wanted, (list, tuple, set)):
            preds.append(lambda r, f=fname, w=set(wanted): r.get(f) in w)
        else:
            preds.append(lambda r, f=fname, w=wanted: r.get(f) == w)
    return preds


def evaluate(records, query: Query, numeric=(), special=None, text_of=None):
    """Filter, search, sort and page records the way every backend must; returns (page, total).

    records must come in creation (id) order; text_of(record), when given, is the lower-cased
    search text of query.q_fields (a cache), else it is built from the fields."""
    preds = filter_predicates(query.filters, special or {})
    if query.q:
        needle = query.q.lower()
        if text_of is None:
            fields = query.q_fields
            preds.append(lambda r: any(needle in str(_path(r, f) or "").lower() for f in fields))
        else:
            preds.append(lambda r: needle in text_of(r))
    if query.since:
        preds.append(lambda r, s=query.since: r["created_at"] >= s)
    if query.until:
        preds.append(lambda r, u=query.until: r["created_at"] <= u)
    sort = list(query.sort) or [("id", False)]
    first_desc = sort[0][1]
    start, stop = query.offset, query.offset + query.limit
    if sort == [("id", first_desc)]:
        # creation order already: walk it (backwards for newest first), keep only the page
        ordered = reversed(records) if first_desc else iter(records)
        if not preds:
            total = len(records)
            return list(islice(ordered, start, stop)), total
        page, total = [], 0
        for r in ordered:
            if all(p(r) for p in preds):
                if start <= total < stop:
                    page.append(r)
                total += 1
        return page, total
    matched = [r for r in records if all(p(r) for p in preds)]
    if first_desc:
        matched.reverse()
    for fname, desc in reversed(sort):
        if fname == "id":
            continue
        if fname in numeric:
            keyf = lambda r, f=fname: (r.get(f) is None, _numeric(r.get(f)) if r.get(f) is not None else 0)
        else:
            keyf = lambda r, f=fname: (r.get(f) is None, r.get(f) if r.get(f) is not None else "")
        matched.sort(key=keyf, reverse=desc)
    total = len(matched)
    return matched[start:stop], total


def log_matches(entries, query: Query, special=None, time_field="created_at"):
    """Every entry of `entries` (in time order, either way) the query's filters, q and
    since/until match, as a generator: a CSV export of a long log never holds it whole."""
    preds = filter_predicates(query.filters, special or {})
    if query.q:
        needle, fields = query.q.lower(), query.q_fields
        preds.append(lambda r: any(needle in str(_path(r, f) or "").lower() for f in fields))
    newest_first = not query.sort or query.sort[0][1]
    since, until = query.since and query.since[:19], query.until and query.until[:19]
    for r in entries:
        moment = (r.get(time_field) or "")[:19]
        if since and moment < since:
            if newest_first:
                return
            continue
        if until and moment > until:
            if newest_first:
                continue
            return
        if all(p(r) for p in preds):
            yield r
def _sort_key(fname, numeric):
    if fname in numeric:
        return lambda r, f=fname: (r.get(f) is None, _numeric(r.get(f)) if r.get(f) is not None else 0)
    return lambda r, f=fname: (r.get(f) is None, r.get(f) if r.get(f) is not None else "")


def sorted_records(records, sort, numeric=()):
    """Every record in the order of sort ([(field, descending)], ties by creation order, as
    evaluate orders them); records in creation order."""
    sort = list(sort) or [("id", False)]
    ordered = list(records)
    if sort[0][1]:
        ordered.reverse()
    for fname, desc in reversed(sort):
        if fname != "id":
            ordered.sort(key=_sort_key(fname, numeric), reverse=desc)
    return ordered


KEPT_MOST = 256  # orders, indexes and matches kept per collection version
KEPT_REFERENCES, KEPT_PER_RECORD = 50_000, 8  # and the references they may hold: 50,000 + 8 a record
KEPT_SIZE = "\x00size"
SEARCH_SEPARATORS = ("\x00", "\x1f")


class Listing:
    """What list queries derive from one version of a collection, built on first use and kept
    (in the store's Tables, see memory.Transaction.derived) until a commit changes that
    collection: its records in each asked-for sort's order, a search index per set of q fields
    (the lower-cased texts of every record in one string, so `q` is one C-speed find per match),
    and the ordered matches of each filter set asked for. A page is then a slice: a random offset,
    a sort and a filter cost O(page) after the first request for them."""

    def __init__(self, kept, records, numeric, special):
        self.kept, self.records, self.numeric, self.special = kept, records, numeric, special

    def _keep(self, key, value, size):
        """Keep value under key (size: the references it holds), forgetting everything kept so far
        when there would be too much: a worker's memory stays bounded however many sorts and
        filters clients ask for."""
        kept = self.kept
        used = kept.get(KEPT_SIZE, 0) + size
        if len(kept) > KEPT_MOST or used > KEPT_REFERENCES + KEPT_PER_RECORD * len(self.records()):
            kept.clear()
            used = size
        kept[KEPT_SIZE] = used
        kept[key] = value
        return value

    def ordered(self, sort):
        key = ("order", repr(sort))
        hit = self.kept.get(key)
        if hit is None:
            hit = sorted_records(self.records(), sort, self.numeric)
            self._keep(key, hit, len(hit))
        return hit

    def positions(self, sort):
        key = ("position", repr(sort))
        hit = self.kept.get(key)
        if hit is None:
            hit = {id(r): n for n, r in enumerate(self.ordered(sort))}
            self._keep(key, hit, len(hit))
        return hit

    def searched(self, needle, fields):
        """The records whose text over fields holds needle (lower-cased), in creation order."""
        key = ("text", tuple(fields))
        index = self.kept.get(key)
        if index is None:
            records = list(self.records())
            starts, texts, at = [], [], 0
            for r in records:
                text = "\x1f".join(str(_path(r, f) or "").lower() for f in fields)
                starts.append(at)
                texts.append(text)
                at += len(text) + 1
            index = self._keep(key, ("\x00".join(texts), starts, records), 2 * len(records))
        text, starts, records = index
        hits, last = [], len(starts) - 1
        at = text.find(needle)
        while at != -1:
            n = bisect_right(starts, at) - 1
            hits.append(records[n])
            if n == last:
                break
            at = text.find(needle, starts[n + 1])
        return hits

    def stamps(self):
        """Every record's created_at in creation order, when they never go back in time (so since
        and until are a range of it); else None."""
        key = ("stamps",)
        hit = self.kept.get(key)
        if hit is None:
            stamps = [r.get("created_at") for r in self.records()]
            monotone = None not in stamps and all(a <= b for a, b in zip(stamps, stamps[1:]))
            hit = self._keep(key, (stamps if monotone else None,), len(stamps))
        return hit[0]

    def _time_range(self, query):
        """(lo, hi): the records in creation order whose created_at is within since/until are
        those from lo to hi; None when created_at does not follow creation order."""
        stamps = self.stamps()
        if stamps is None:
            return None
        lo = bisect_left(stamps, query.since) if query.since else 0
        hi = bisect_right(stamps, query.until) if query.until else len(stamps)
        return lo, max(lo, hi)

    def page(self, query: Query):
        sort = tuple(tuple(s) for s in query.sort) or (("id", False),)
        start, stop = query.offset, query.offset + query.limit
        if not (query.filters or query.q or query.since or query.until):
            ordered = self.ordered(sort)
            return ordered[start:stop], len(ordered)
        if (query.since or query.until) and not (query.filters or query.q) and len(sort) == 1 \
                and sort[0][0] == "id":
            # a time window in creation order: a range of the records, found by bisection
            window = self._time_range(query)
            if window is not None:
                lo, hi = window
                base = self.ordered((("id", False),))
                if not sort[0][1]:
                    return base[min(lo + start, hi):min(lo + stop, hi)], hi - lo
                top = hi - start
                return (base[max(lo, hi - stop):top][::-1] if top > lo else []), hi - lo
        key = ("match", repr((query.filters, query.q, tuple(query.q_fields), query.since, query.until, sort)))
        matched = self.kept.get(key)
        if matched is None:
            matched = self._match(query, sort)
            self._keep(key, matched, len(matched))
        return matched[start:stop], len(matched)

    def _match(self, query, sort):
        preds = filter_predicates(query.filters, self.special)
        if query.since:
            preds.append(lambda r, s=query.since: r["created_at"] >= s)
        if query.until:
            preds.append(lambda r, u=query.until: r["created_at"] <= u)
        needle = query.q.lower() if query.q else None
        if needle and not any(sep in needle for sep in SEARCH_SEPARATORS):
            found = [r for r in self.searched(needle, query.q_fields) if all(p(r) for p in preds)]
            position = self.positions(sort)
            found.sort(key=lambda r: position[id(r)])
            return found
        if needle:  # a needle the index cannot look for: field by field, as evaluate does
            fields = query.q_fields
            preds.append(lambda r: any(needle in str(_path(r, f) or "").lower() for f in fields))
        return [r for r in self.ordered(sort) if all(p(r) for p in preds)]


def page_log(entries, query: Query, special=None, time_field="created_at"):
    """A page of a log's entries, `entries` newest first (or oldest first when the query sorts by
    id ascending): filters, q, since/until on time_field; returns (page, total).

    Entries come in time order, so the walk stops at the first one outside since/until's side
    it is walking towards."""
    preds = filter_predicates(query.filters, special or {})
    if query.q:
        needle, fields = query.q.lower(), query.q_fields
        preds.append(lambda r: any(needle in str(_path(r, f) or "").lower() for f in fields))
    newest_first = not query.sort or query.sort[0][1]
    since, until = query.since, query.until
    start, stop = query.offset, query.offset + query.limit
    page, total = [], 0
    # bounds are to the second ("...:00Z"); an entry's time may carry milliseconds ("...:00.123Z")
    since, until = since and since[:19], until and until[:19]
    for r in entries:
        moment = (r.get(time_field) or "")[:19]
        if since and moment < since:
            if newest_first:
                break
            continue
        if until and moment > until:
            if newest_first:
                continue
            break
        if all(p(r) for p in preds):
            if start <= total < stop:
                page.append(r)
            total += 1
    return page, total


def entries_after(entries, entry_id, limit):
    """Up to `limit` entries (oldest first) that come after the one with entry_id (None: from the
    first); an id that is not there gives []."""
    it = iter(entries)
    if entry_id is not None:
        for r in it:
            if r["id"] == entry_id:
                break
        else:
            return []
    return list(islice(it, limit))


def _as_stored(record):
    return record


_NUMERIC = {}  # collection -> its numeric fields (a repository is made for each unit of work)


def _numeric_fields(decl):
    found = _NUMERIC.get(decl.name)
    if found is None:
        found = _NUMERIC[decl.name] = tuple(f.name for f in decl.fields if f.kind in ("int", "int32", "money"))
    return found


class Repository:
    """get/add/update/list/count over one declared collection, with its finders:
    `find_by_<field>` for each unique key and the declared look-ups (`for_product`)."""

    collection = ""
    special = {}
    numeric = ()  # fields that sort as numbers: those of the declaration's int and money kinds

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.collection:
            cls.numeric = _numeric_fields(DECLARED[cls.collection])

    def __init__(self, tx, readonly=False, decl=None):
        self.tx = tx
        self.decl = decl or DECLARED[self.collection]
        self.collection = self.decl.name
        self.numeric = _numeric_fields(self.decl)
        # a read-only unit of work hands out list pages as stored: nothing it serves is changed
        self.share = _as_stored if readonly else clone

    def __getattr__(self, name):
        decl = self.__dict__.get("decl")
        if decl is None:
            raise AttributeError(name)
        if name.startswith("find_by_") and name[8:] in decl.unique_by_field:
            fname = name[8:]
            return lambda value: clone(self.tx.find_unique(self.collection, fname, value))
        for fname, finder in decl.lookups.items():
            if finder == name:
                return lambda value: [clone(r) for r in self.tx.find_indexed(self.collection, fname, value)]
        raise AttributeError(name)

    def get(self, record_id):
        if not isinstance(record_id, str):
            return None
        rec = self.tx.get(self.collection, record_id)
        return clone(rec) if rec is not None else None

    def peek(self, record_id):
        """get() for a look that changes nothing: a read-only unit of work hands out the stored
        record itself (the caller must not change it), a writing one a copy."""
        if not isinstance(record_id, str):
            return None
        rec = self.tx.get(self.collection, record_id)
        return self.share(rec) if rec is not None else None

    def _stamp_new(self, record):
        """A new record's created_at (and updated_at, version 1 when versioned), unless given."""
        record.setdefault("created_at", timestamp())
        if self.decl.versioned:
            record.setdefault("updated_at", record["created_at"])
            record.setdefault("version", 1)
        return record

    def add(self, record):
        self.tx.put(self.collection, clone(self._stamp_new(record)))
        return record

    def update(self, record):
        """Store a changed record: its version grows by one and updated_at moves."""
        stored = self.tx.get(self.collection, record["id"])
        if stored is None:
            raise StoreError(f"{self.collection} {record['id']} vanished")
        record["version"] = stored["version"] + 1
        record["updated_at"] = timestamp()
        self.tx.put(self.collection, clone(record))
        return record

    def save(self, record):
        """Store a record by its id as it is (created or replaced; no stamps): keyed records."""
        self.tx.put(self.collection, clone(record))
        return record

    def delete(self, record_id):
        self.tx.delete(self.collection, record_id)

    def purge_before(self, cutoff, field="created_at"):
        """Forget the records whose `field` (a timestamp) is before cutoff."""
        for rec in list(self.tx.scan(self.collection)):
            if (rec.get(field) or "") < cutoff:
                self.tx.delete(self.collection, rec["id"])

    def list(self, query: Query):
        derived = getattr(self.tx, "derived", None)
        kept = derived(self.collection) if derived is not None else None
        if kept is not None:  # the collection as last committed: its kept orders and matches
            collection = self.collection
            listing = Listing(kept, lambda: self.tx.scan(collection), self.numeric, self.special)
            page, total = listing.page(query)
        else:  # this transaction changed the collection: the records as it sees them
            page, total = evaluate(self.tx.scan(self.collection), query, self.numeric, self.special)
        share = self.share
        return [share(r) for r in page], total

    def count(self):
        return self.tx.count(self.collection)

    def narrow(self, fields):
        """Every record, in creation order, as only these fields (simple ones: a report's
        columns), so a backend reads no more than it needs."""
        return [{name: record.get(name) for name in fields} for record in self.tx.scan(self.collection)]

    def iterate(self, query: Query, limit=None):
        """Every record the query matches (or its first `limit`), in its order, the query's own
        limit and offset aside: a CSV export, a dashboard's newest few, with no total counted."""
        everything = every_match(query)
        if limit is not None:
            everything.limit = limit
        page, _ = evaluate(self.tx.scan(self.collection), everything, self.numeric, self.special)
        share = self.share
        for record in page:
            yield share(record)


class LogRepository:
    """An append-only log: append, get by id, newest-first pages; entries never change."""

    collection = ""
    special = {}
    time_field = "created_at"

    def __init__(self, tx, readonly=False, decl=None):
        self.tx = tx
        self.decl = decl or DECLARED[self.collection]
        self.collection = self.decl.name

    def append(self, record):
        record.setdefault(self.time_field, timestamp())
        self.tx.append(self.collection, clone(record))
        return record

    def get(self, entry_id):
        if not isinstance(entry_id, str):
            return None
        found = self.tx.log_find(self.collection, entry_id)
        return clone(found) if found is not None else None

    def _entries(self, query):
        ascending = bool(query.sort) and not query.sort[0][1]
        return (self.tx.log_oldest_first(self.collection) if ascending
                else self.tx.log_newest_first(self.collection))

    def list(self, query: Query):
        entries = self._entries(query)
        if not (query.filters or query.q or query.since or query.until):
            # the whole log: its count is kept, so only the page itself is read
            page = list(islice(entries, query.offset, query.offset + query.limit))
            return [clone(r) for r in page], self.count()
        page, total = page_log(entries, query, self.special, self.time_field)
        return [clone(r) for r in page], total

    def iterate(self, query: Query, limit=None):
        """Every entry the query matches, in its order (a CSV export), read as it goes."""
        found = log_matches(self._entries(query), query, self.special, self.time_field)
        for entry in islice(found, limit):
            yield clone(entry)

    def after(self, entry_id, limit=100):
        """Committed entries after entry_id, oldest first (see entries_after)."""
        return entries_after(self.tx.log_oldest_first(self.collection), entry_id, limit)

    def count(self):
        return self.tx.log_count(self.collection)


class EventLog(LogRepository):
    """The outbox: a service records `uow.events.add("order.created", order)`; the event commits
    with its change, or not at all."""

    collection = "events"
    time_field = "at"
    # section 13: the types a role may not read, by the part before the dot
    special = {"hidden_prefixes": lambda wanted: (
        lambda r, hidden=frozenset(wanted): r["type"].partition(".")[0] not in hidden)}

    def add(self, event_type, data):
        return self.append({"id": "evt_" + new_id(), "type": event_type, "at": timestamp(),
                            "data": clone(data)})


class AuditLog(LogRepository):
    """The audit log (section 12): entries appended in the unit of work of what they record."""

    collection = "audit"
    time_field = "at"

    def append(self, record):
        """An entry as made by services.audit.entry: new objects, and the values of records this
        unit of work wrote (never changed in place once stored), so it is kept without a copy."""
        self.tx.append(self.collection, record)
        return record


class ProductRepository(Repository):
    collection = "products"
    special = {
        "low_stock": lambda wanted: (
            lambda r: (r["stock"] <= r.get("low_stock_threshold", 0)) == wanted),
        # section 14's start-up step: a category string that names no category yet
        "unlinked_category": lambda wanted: (
            lambda r: (bool((r.get("category") or "").strip()) and not r.get("category_id")) == wanted),
        # section 11: what a storefront learns of stock
        "available": lambda wanted: (lambda r: (r["stock"] > 0) == wanted),
    }

    def count_active_in(self, category_ids):
        """How many active products are in any of these categories."""
        return sum(1 for cid in set(category_ids) for r in self.tx.find_indexed(self.collection, "category_id", cid)
                   if r.get("status") == "active")

    def change_stock(self, product_id, location_id, delta):
        """Add delta to the product's quantity at the location and to its stock, together, unless
        the quantity there would go below zero; (the updated product, the quantity there after),
        or None if short there (or no such product)."""
        product = self.get(product_id)
        if product is None:
            return None
        level_id = level_key(product_id, location_id)
        level = self.tx.get("stock_levels", level_id)
        quantity = (level["quantity"] if level else 0) + delta
        if quantity < 0 or product["stock"] + delta < 0:
            return None
        levels = StockLevelRepository(self.tx)
        if level is None:
            levels.add({"id": level_id, "product_id": product_id, "location_id": location_id,
                        "quantity": quantity})
        else:
            levels.update({**level, "quantity": quantity})
        product["stock"] += delta
        return self.update(product), quantity


class StockLevelRepository(Repository):
    """How many of each product each location holds; changed only through products.change_stock."""

    collection = "stock_levels"

    def quantity(self, product_id, location_id):
        level = self.tx.get(self.collection, level_key(product_id, location_id))
        return level["quantity"] if level else 0

    def stock_at(self, location_id):
        """[{product_id, sku, title, quantity}] for every product with a quantity there other than 0."""
        out = []
        for level in self.tx.find_indexed(self.collection, "location_id", location_id):
            if level["quantity"]:
                product = self.tx.get("products", level["product_id"])
                out.append({"product_id": level["product_id"], "sku": product["sku"],
                            "title": product["title"], "quantity": level["quantity"]})
        return out


class LocationRepository(Repository):
    collection = "locations"

    def default(self):
        """The default location (there is exactly one once the store has started), or None."""
        for location in self.tx.scan(self.collection):
            if location["is_default"]:
                return clone(location)
        return None

    def for_stock(self, location_id):
        """The location, read to move stock there: no one archives it before this unit of work ends
        (the memory and JSON stores hold one lock for the whole unit of work)."""
        return self.get(location_id)

    def default_for_stock(self):
        return self.default()


def _has_line_of(wanted):
    return lambda r: any(line["product_id"] == wanted for line in r.get("lines") or ())


class TransferRepository(Repository):
    collection = "transfers"
    special = {"product_id": _has_line_of}


class StockCountRepository(Repository):
    collection = "stock_counts"
    special = {"product_id": _has_line_of}


def _purchase_order_text(wanted):
    """?q= of purchase orders: the needle in the notes or in a line's sku or title."""
    needle = wanted.lower()
    return lambda r: (needle in (r.get("notes") or "").lower() or any(
        needle in (line.get("sku") or "").lower() or needle in (line.get("title") or "").lower()
        for line in r.get("lines") or ()))


class PurchaseOrderRepository(Repository):
    collection = "purchase_orders"
    special = {"product_id": _has_line_of, "text": _purchase_order_text}


class CounterRepository(Repository):
    collection = "counters"

    def next_number(self, name, first):
        """The counter's next value, `first` the first time; it rolls back with the transaction."""
        counter = self.tx.get(self.collection, name)
        value = counter["value"] + 1 if counter else first
        self.tx.put(self.collection, {"id": name, "value": value})
        return value


def _moment_like(value):
    """A timestamp as the store writes them ("2026-11-21T10:15:00Z"): a hold filter's bound."""
    try:
        return isinstance(value, str) and len(value) == 20 and bool(_moment(value))
    except ValueError:
        return False


def _needs_customer_link(record):
    """Section 11's start-up step: an order of an earlier release (no channel), or one with a
    customer email and no customer_id."""
    return record.get("channel") is None or (
        not record.get("customer_id") and bool(((record.get("customer") or {}).get("email") or "").strip()))


class OrderRepository(Repository):
    collection = "orders"
    special = {"customer_email": lambda wanted: (
        lambda r: ((r.get("customer") or {}).get("email") or "").lower() == wanted.lower()),
        "needs_customer_link": lambda wanted: (lambda r: _needs_customer_link(r) == wanted),
        # section 11: storefront holds whose time has come (wanted: a timestamp)
        "hold_due": lambda wanted: (lambda r: _moment_like(wanted) and (r.get("hold_expires_at") or "~") <= wanted),
        "hold_after": lambda wanted: (lambda r: _moment_like(wanted) and (r.get("hold_expires_at") or "") > wanted)}

    def list(self, query: Query):
        """As Repository.list; the holds' queries (every worker asks them once a deadline comes)
        read only the orders on hold (declarations.on_hold), not the whole history (walking
        100,000 orders took a worker's first API request about half a second)."""
        filters = query.filters
        if (("hold_due" in filters or "hold_after" in filters) and filters.get("status") == "pending"
                and filters.get("channel") == "storefront"):
            page, total = evaluate(self.tx.subset(self.collection, "held"), query, self.numeric, self.special)
            share = self.share
            return [share(r) for r in page], total
        return super().list(query)

    def by_number(self, number):
        """The order with this number, or None."""
        found = self.tx.find_indexed(self.collection, "number", number) if type(number) is int else []
        return clone(found[0]) if found else None

    def next_number(self):
        return CounterRepository(self.tx).next_number("order_number", 1001)

    def sales_summary(self, first_day, last_day, tz, statuses, by):
        """The orders with one of these payment statuses made on the shop days first_day to
        last_day (dates, in time zone tz), grouped by `by` and payment status: rows of
        {key, payment_status, orders, items_sold, amount}.

        by "day": key is the shop day ("YYYY-MM-DD"), amount sums the orders' totals;
        "product" / "category": key is the line's product id / that product's current category, orders counts the orders with such a line, items_sold
        and amount sum those lines' quantity and line_total. Rows come in no particular order."""
        # one walk answers every grouping; kept until the next commit (the dashboard asks twice)
        cache = self.tx.list_cache(self.collection)
        key = ("sales_summary", first_day, last_day, tz, tuple(statuses))
        summaries = cache.get(key) if cache is not None else None
        if summaries is None:
            summaries = _sales_summaries(self.tx, first_day, last_day, tz, statuses)
            if cache is not None:
                cache[key] = summaries
        return [dict(row) for row in summaries[by]]

    def count_by_status(self):
        """{status: how many orders have it now}, for the statuses that occur."""
        return dict(Counter(map(itemgetter("status"), self.tx.scan(self.collection))))


class MovementRepository(Repository):
    collection = "stock_movements"
    special = {
        # a report's q: the movement's product is one of product_ids, or its note holds the needle
        "product_or_note": lambda wanted: (
            lambda r, ids=frozenset(wanted[1]), needle=wanted[0].lower():
                r["product_id"] in ids or needle in (r.get("note") or "").lower()),
    }

    def stock_as_of(self, moment):
        """{product_id: stock_after of its last movement made at or before moment (a timestamp)}."""
        last = {}
        for movement in self.tx.scan(self.collection):
            if movement["created_at"] <= moment:
                last[movement["product_id"]] = movement["stock_after"]
        return last

    def totals(self, query):
        """{movements, quantity_in, quantity_out, net} over every movement the query matches."""
        records, _ = evaluate(self.tx.scan(self.collection), every_match(query), self.numeric,
                              self.special)
        return movement_totals(records)


def every_match(query):
    """The query without its page: every record it matches, in its order."""
    return Query(filters=query.filters, q=query.q, q_fields=query.q_fields, since=query.since,
                 until=query.until, sort=list(query.sort), limit=10 ** 12)


def movement_totals(movements):
    quantity_in = sum(m["delta"] for m in movements if m["delta"] > 0)
    quantity_out = -sum(m["delta"] for m in movements if m["delta"] < 0)
    return {"movements": len(movements), "quantity_in": quantity_in, "quantity_out": quantity_out,
            "net": quantity_in - quantity_out}


# ---- reports (section 15): aggregates both backends answer alike, the SQL ones in postgres.py

def day_starts(first_day, last_day, tz):
    """The UTC timestamps at which each shop day from first_day to last_day begins, and the one
    after last_day (so a record's day is the last start at or before its created_at)."""
    zone = ZoneInfo(tz)
    days = (last_day - first_day).days + 2
    return [timestamp(datetime.combine(first_day + timedelta(days=n), time.min, tzinfo=zone))
            for n in range(days)]


def _sales_summaries(tx, first_day, last_day, tz, statuses):
    """The memory stores' answer to sales_summary for every `by` at once (one walk of the
    orders): {"day": rows, "product": rows, "category": rows}."""
    starts = day_starts(first_day, last_day, tz)
    low, high = starts[0], starts[-1]
    wanted = set(statuses)
    zero = Decimal(0)
    groups = {"day": {}, "product": {}, "category": {}}
    by_day, by_product, by_category = groups["day"], groups["product"], groups["category"]
    category_of = {}
    for order in tx.scan("orders"):
        created = order["created_at"]
        if created < low or created >= high:
            continue
        status = order["payment_status"]
        if status not in wanted:
            continue
        lines = order.get("items") or ()
        day = (first_day + timedelta(days=bisect_right(starts, created) - 1)).isoformat()
        group = by_day.get((day, status))
        if group is None:
            group = by_day[(day, status)] = [0, 0, zero]
        group[0] += 1
        group[1] += sum(line["quantity"] for line in lines)
        group[2] += Decimal(order["total"])
        counted = set()
        for line in lines:
            product_id, quantity, amount = line["product_id"], line["quantity"], Decimal(line["line_total"])
            group = by_product.get((product_id, status))
            if group is None:
                group = by_product[(product_id, status)] = [0, 0, zero]
            group[0] += 1  # an order has one line per product
            group[1] += quantity
            group[2] += amount
            category = category_of.get(product_id, False)
            if category is False:
                product = tx.get("products", product_id)
                category = category_of[product_id] = product.get("category") if product else None
            group = by_category.get((category, status))
            if group is None:
                group = by_category[(category, status)] = [0, 0, zero]
            if category not in counted:
                counted.add(category)
                group[0] += 1
            group[1] += quantity
            group[2] += amount
    return {by: [{"key": key, "payment_status": status, "orders": orders, "items_sold": items,
                  "amount": amount} for (key, status), (orders, items, amount) in found.items()]
            for by, found in groups.items()}


class UserRepository(Repository):
    collection = "users"

    def count_active_admins(self):
        return sum(1 for u in self.tx.scan(self.collection) if u["role"] == "admin" and u["active"])


def _moment(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


class JobRepository(Repository):
    """Background work queued in the unit of work of its cause (see app/background.py)."""

    collection = "jobs"

    def enqueue(self, kind, payload=None, run_at=None):
        job = {"id": new_id(), "kind": kind, "payload": payload, "status": "queued",
               "run_at": run_at or timestamp(), "attempts": 0, "claimed_by": None,
               "claimed_until": None, "last_error": None}
        return self.add(job)

    def any_due(self, kinds, now=None):
        """Whether claim() would find work (read under a snapshot, without the write lock)."""
        now_text = timestamp(now or datetime.now(timezone.utc))
        return any(job["kind"] in kinds and _due(job, now_text) for job in self.tx.scan(self.collection))

    def claim(self, worker, kinds, lease_seconds, limit=10, now=None):
        """Take up to `limit` due jobs of these kinds for `worker` until the lease ends: queued ones
        whose run_at has come, and claimed ones whose holder's lease ran out (it died). The
        caller commits, so two workers never hold one job (they serialise on the write lock)."""
        now = now or datetime.now(timezone.utc)
        now_text = timestamp(now)
        until = timestamp(now + timedelta(seconds=lease_seconds))
        taken = []
        for job in self.tx.scan(self.collection):
            if len(taken) >= limit:
                break
            if job["kind"] not in kinds:
                continue
            if _due(job, now_text):
                job = clone(job)
                job.update(status="claimed", claimed_by=worker, claimed_until=until,
                           attempts=job["attempts"] + 1)
                taken.append(self.update(job))
        return taken


def _due(job, now_text):
    """Queued and its time has come, or claimed by a holder whose lease ran out (it died)."""
    return (job["status"] == "queued" and job["run_at"] <= now_text) or (
        job["status"] == "claimed" and (job["claimed_until"] or "") < now_text)


class LoginAttemptRepository(Repository):
    collection = "login_attempts"

    def purge_before(self, cutoff, field="updated_at"):
        """Forget the records whose last failure is older than cutoff (a timestamp)."""
        super().purge_before(cutoff, field)


class IdempotencyRepository(Repository):
    collection = "idempotency"

    def purge_before(self, cutoff, field="created_at"):
        """Forget keys created before cutoff; records are in creation order, so stop at the first young one."""
        for rec in self.tx.scan(self.collection):
            if rec[field] >= cutoff:
                break
            self.tx.delete(self.collection, rec["id"])


class NotificationLog(LogRepository):
    """Section 13's inboxes, as a log: a notification never changes once made. Whether it is read
    lives apart: a `notification_reads` record per notification read on its own, and read-all's
    marker in the user's `notification_inboxes` record (every notification up to its
    `read_through` id is read), which also counts the user's notifications and the unread ones.

    `unread` (true or false) filters with the user_id filter beside it."""

    collection = "notifications"

    def _unread_of(self, user_id):
        inbox = self.tx.get("notification_inboxes", user_id) if isinstance(user_id, str) else None
        through = (inbox or {}).get("read_through") or ""
        reads = self.tx
        return inbox or {}, through, (lambda r: r["id"] > through
                                      and reads.get("notification_reads", r["id"]) is None)

    def list(self, query: Query):
        filters = dict(query.filters)
        wanted = filters.pop("unread", None)
        user_id = filters.get("user_id")
        inbox, through, is_unread = self._unread_of(user_id)
        newest_first = not query.sort or query.sort[0][1]
        entries = self._entries(query)
        if set(filters) == {"user_id"} and not (query.q or query.since or query.until) and newest_first:
            # the inbox counts them: only the page itself is read
            mine = (r for r in entries if r["user_id"] == user_id)
            if wanted is None:
                total = inbox.get("total", 0)
            elif wanted:
                # read-all read everything up to its marker: the walk stops there
                mine = (r for r in takewhile(lambda r: r["id"] > through, mine) if is_unread(r))
                total = inbox.get("unread", 0)
            else:
                mine = (r for r in mine if not is_unread(r))
                total = inbox.get("total", 0) - inbox.get("unread", 0)
            page = list(islice(mine, query.offset, query.offset + query.limit))
            return [clone(r) for r in page], total
        special = {**self.special, "unread": lambda want: (lambda r: is_unread(r) == bool(want))}
        if wanted is not None:
            filters["unread"] = wanted
        page, total = page_log(entries, Query(**{**query.__dict__, "filters": filters}), special,
                               self.time_field)
        return [clone(r) for r in page], total

    def for_event(self, event_id):
        """The notifications an event made, oldest first: they were appended in its transaction,
        after its id was made, so the walk from the newest stops before the event's second (ids
        not made by base.new_id: the whole log)."""
        moment, found = id_seconds(event_id), []
        for r in self.tx.log_newest_first(self.collection):
            made = id_seconds(r["id"]) if moment is not None else None
            if made is not None and made < moment:
                break
            if r.get("event_id") == event_id:
                found.append(clone(r))
        return found[::-1]


# a version of a retired record is appended within this many seconds of the moment its
# updated_at names (it is stamped inside the writer's unit of work, which holds the write lock)
RETIRE_SLACK = 2


def _epoch(text):
    """Unix seconds of "YYYY-MM-DDTHH:MM:SS..."; 0 when it is not one."""
    try:
        return calendar.timegm((int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                                int(text[14:16]), int(text[17:19]), 0, 0, 0))
    except (TypeError, ValueError):
        return 0


class _Desc(str):
    """An id that sorts the other way round (heapq is a min-heap)."""

    def __lt__(self, other):
        return str.__gt__(self, other)


class RetiringRepository(Repository):
    """A collection whose done records leave memory (Collection.retire): the live ones are records
    as in any collection; a done one is a version appended to the log `decl.retired_log` at each
    change, its newest version being the record. A change that makes it live again (a retried
    delivery) puts it back among the live ones.

    Reads answer as if every record were live: get (the live one, else the newest version: the
    log is read from its end back to the id's moment), list newest first by id (live and retired
    merged; each retired record at its place by id, though its versions were appended later:
    the walk back keeps a record until it has passed the moment the record was made, since no
    record it has not met yet can be newer), and the declared look-ups. How many records each
    look-up value has (live and retired) is kept in `counters` ("count:<collection>:<field>:<value>"),
    so a page of one webhook's deliveries reads no more of the log than the page."""

    def __init__(self, tx, readonly=False, decl=None):
        super().__init__(tx, readonly, decl)
        self.retired_log = self.decl.retired_log
        self.retire_field, values = self.decl.retire
        self.retire_values = frozenset(values)

    def is_retired(self, record):
        return record.get(self.retire_field) in self.retire_values

    def _counter_id(self, fname, value):
        return f"count:{self.collection}:{fname}:{value}"

    def _count(self, record, step):
        for fname in self.decl.lookups:
            counter_id = self._counter_id(fname, record.get(fname))
            counter = self.tx.get("counters", counter_id)
            self.tx.put("counters", {"id": counter_id, "value": (counter["value"] if counter else 0) + step})

    def _newest_retired(self, record_id):
        made = id_seconds(record_id)
        for entry in self.tx.log_newest_first(self.retired_log):
            if entry["id"] == record_id:
                return entry
            if made is not None and _epoch(entry.get("updated_at") or "") < made - RETIRE_SLACK:
                return None  # appended before the record was made
        return None

    def get(self, record_id):
        if not isinstance(record_id, str):
            return None
        rec = self.tx.get(self.collection, record_id)
        if rec is None:
            rec = self._newest_retired(record_id)
        return clone(rec) if rec is not None else None

    def add(self, record):
        self._stamp_new(record)
        if self.is_retired(record):
            self.tx.append(self.retired_log, clone(record))
        else:
            self.tx.put(self.collection, clone(record))
        self._count(record, 1)
        return record

    def update(self, record):
        live = self.tx.get(self.collection, record["id"])
        stored = live if live is not None else self._newest_retired(record["id"])
        if stored is None:
            raise StoreError(f"{self.collection} {record['id']} vanished")
        record["version"] = stored["version"] + 1
        record["updated_at"] = timestamp()
        if self.is_retired(record):
            if live is not None:
                self.tx.delete(self.collection, record["id"])
            self.tx.append(self.retired_log, clone(record))
        else:
            self.tx.put(self.collection, clone(record))
        return record

    def save(self, record):
        raise StoreError(f"{self.collection} records are added and updated, not saved as they are")

    def delete(self, record_id):
        """Forget a live record (a retired one's versions stay in its log)."""
        live = self.tx.get(self.collection, record_id)
        if live is not None:
            self.tx.delete(self.collection, record_id)
            self._count(live, -1)

    def retire_done(self):
        """Move every live record that is done into the log (a store of an earlier release kept
        them all live); how many moved."""
        done = [r for r in self.tx.scan(self.collection) if self.is_retired(r)]
        for record in done:
            self.tx.delete(self.collection, record["id"])
            self.tx.append(self.retired_log, clone(record))
        return len(done)

    def recount(self):
        """Set the look-up counts from the records (live and retired), for a store that has none."""
        counts = Counter()
        for record in self.newest_first():
            for fname in self.decl.lookups:
                counts[(fname, record.get(fname))] += 1
        for (fname, value), n in counts.items():
            self.tx.put("counters", {"id": self._counter_id(fname, value), "value": n})
        return counts

    def _retired_newest_first(self):
        """Each retired record's newest version, by id newest first (see the class)."""
        seen, waiting, live = set(), [], self.tx.get
        for entry in self.tx.log_newest_first(self.retired_log):
            moment = _epoch(entry.get("updated_at") or "")
            while waiting and (id_seconds(waiting[0][0]) or 0) > moment + RETIRE_SLACK:
                rid, held = heappop(waiting)
                if live(self.collection, rid) is None:
                    yield held
            if entry["id"] not in seen:
                seen.add(entry["id"])
                heappush(waiting, (_Desc(entry["id"]), entry))
        while waiting:
            rid, held = heappop(waiting)
            if live(self.collection, rid) is None:
                yield held

    def newest_first(self):
        """Every record, live and retired, newest (by id) first."""
        live = sorted(self.tx.scan(self.collection), key=itemgetter("id"), reverse=True)
        return heap_merge(live, self._retired_newest_first(), key=itemgetter("id"), reverse=True)

    def list(self, query: Query):
        # no sort: creation order, as every collection lists (the API asks for newest first)
        ascending = not query.sort or query.sort[0] == ("id", False)
        if query.sort and query.sort[0][0] != "id":
            raise StoreError(f"{self.collection} are listed by id")
        preds = filter_predicates(query.filters, self.special)
        if query.q:
            needle, fields = query.q.lower(), query.q_fields
            preds.append(lambda r: any(needle in str(_path(r, f) or "").lower() for f in fields))
        found = (r for r in self.newest_first() if all(p(r) for p in preds))
        only = list(query.filters)
        if not ascending and not (query.q or query.since or query.until) and len(only) == 1 \
                and only[0] in self.decl.lookups:
            counter = self.tx.get("counters", self._counter_id(only[0], query.filters[only[0]]))
            page = list(islice(found, query.offset, query.offset + query.limit))
            return [clone(r) for r in page], counter["value"] if counter else 0
        everything = list(found)
        if ascending:
            everything.reverse()
        return [clone(r) for r in everything[query.offset:query.offset + query.limit]], len(everything)

    def count(self):
        return sum(1 for _ in self.newest_first())

    def __getattr__(self, name):
        decl = self.__dict__.get("decl")
        if decl is not None:
            for fname, finder in decl.lookups.items():
                if finder == name:  # every record with the value, live and retired, oldest first
                    return lambda value, f=fname: [clone(r) for r in reversed(list(
                        r for r in self.newest_first() if r.get(f) == value))]
        return super().__getattr__(name)


def _sendable(entry, now_text):
    """A queue entry whose attempt is due and that no live lease holds."""
    return entry["due_at"] <= now_text and (entry.get("claimed_until") or "") < now_text


class WebhookQueueRepository(Repository):
    """The webhook sender's queue: one entry per pending delivery, claimed for a lease."""

    collection = "webhook_queue"

    def any_due(self, now=None):
        """Whether claim() would find work (read under a snapshot, without the write lock)."""
        now_text = timestamp(now or datetime.now(timezone.utc))
        return any(_sendable(e, now_text) for e in self.tx.scan(self.collection))

    def claim(self, worker, lease_seconds, limit=50, now=None):
        """Up to `limit` due entries (due_at come, no live lease), taken for `worker` until the lease
        ends, soonest first; the caller commits (writers serialise on the write lock)."""
        now = now or datetime.now(timezone.utc)
        now_text = timestamp(now)
        until = timestamp(now + timedelta(seconds=lease_seconds))
        due = nsmallest(limit, (e for e in self.tx.scan(self.collection) if _sendable(e, now_text)),
                     key=lambda e: (e["due_at"], e["id"]))
        taken = []
        for entry in due:
            entry = clone(entry)
            entry.update(claimed_by=worker, claimed_until=until)
            taken.append(self.update(entry))
        return taken


SPECIAL = {cls.collection: cls for cls in
           (ProductRepository, CounterRepository, OrderRepository, UserRepository, JobRepository,
            LoginAttemptRepository, IdempotencyRepository, EventLog, AuditLog, MovementRepository,
            StockLevelRepository, LocationRepository, TransferRepository, StockCountRepository,
            PurchaseOrderRepository, NotificationLog, WebhookQueueRepository)}


def repository_class(decl):
    if decl.name in SPECIAL:
        return SPECIAL[decl.name]
    if decl.retire:
        return RetiringRepository
    return LogRepository if decl.log else Repository


class UnitOfWork:
    """`with uow: ...; uow.commit()` — leaving the block without commit changes nothing.

    Repositories (uow.products, uow.orders, ...) are made on first use: most requests touch two.
    Every declared collection has one, named by its declaration's `attr`."""

    REPOSITORIES = {decl.attr: (repository_class(decl), decl) for decl in DECLARED.values()}

    def __init__(self, store, readonly=False):
        self.store = store
        self.readonly = readonly
        self._cm = None
        self._made = []
        self.audit_notes = []  # what services say the audit entry is (app/services/audit.py)

    def __enter__(self):
        self._cm = self.store.snapshot() if self.readonly else self.store.transaction()
        self.tx = self._cm.__enter__()
        self.audit_notes = []
        self.scratch = {}  # what the services note for the commit hooks (base.BEFORE_COMMIT)
        if self._made:  # repositories of an earlier use hold its transaction
            for name in self._made:
                del self.__dict__[name]
            self._made = []
        return self

    def __getattr__(self, name):
        made = self.REPOSITORIES.get(name)
        if made is None or "tx" not in self.__dict__:
            raise AttributeError(name)
        kind, decl = made
        repository = self.__dict__[name] = kind(self.tx, self.readonly, decl)
        self._made.append(name)
        return repository

    def __exit__(self, exc_type, exc, tb):
        return self._cm.__exit__(exc_type, exc, tb)

    def state(self):
        """A token that changes with every commit this process can see; None when unknown."""
        return self.tx.state()

    def version_of(self, collection):
        """A token that changes with every commit that changes this collection; None when unknown."""
        return self.tx.version_of(collection)

    def changed_records(self):
        """[(collection, id, before, after)] for every record this unit of work wrote, in the
        order first written: before None for a new record, after None for a deleted one."""
        committed = self.tx.tables.records
        return [(c, rid, committed[c].get(rid), rec) for (c, rid), rec in self.tx.writes.items()]

    def recorded_events(self):
        """The events recorded in this unit of work so far, in order."""
        return [record for collection, record in self.tx.appends if collection == "events"]

    def commit(self):
        if self.readonly:
            raise StoreError("read-only unit of work")
        run_before_commit(self)  # events' consequences (stock alerts, notifications, deliveries)
        hook = self.store.on_commit
        if hook is not None:  # the audit entry of a request, appended to this same commit
            hook(self)
        self.store.commit(self.tx)
