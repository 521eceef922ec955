"""Repositories over a staged transaction: the interface services use, shared by the memory and JSON-file stores."""
from decimal import Decimal, InvalidOperation
from itertools import islice

from .base import Query, StoreError, timestamp


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


def evaluate(records, query: Query, numeric=(), special=None, text_of=None):
    """Filter, search, sort and page records the way every backend must; returns (page, total).

    records must come in creation (id) order; text_of(record), when given, is the lower-cased
    search text of query.q_fields (a cache), else it is built from the fields."""
    special = special or {}
    preds = []
    for fname, wanted in query.filters.items():
        if fname in special:
            preds.append(special[fname](wanted))
        elif isinstance(wanted, (list, tuple, set)):
            preds.append(lambda r, f=fname, w=set(wanted): r.get(f) in w)
        else:
            preds.append(lambda r, f=fname, w=wanted: r.get(f) == w)
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


def _as_stored(record):
    return record


class Repository:
    collection = ""
    numeric = ()
    special = {}

    def __init__(self, tx, readonly=False):
        self.tx = tx
        # a read-only unit of work hands out list pages as stored: nothing it serves is changed
        self.share = _as_stored if readonly else clone

    def get(self, record_id):
        if not isinstance(record_id, str):
            return None
        rec = self.tx.get(self.collection, record_id)
        return clone(rec) if rec is not None else None

    def add(self, record):
        now = timestamp()
        record.setdefault("created_at", now)
        record.setdefault("updated_at", record["created_at"])
        record.setdefault("version", 1)
        self.tx.put(self.collection, clone(record))
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

    def list(self, query: Query):
        cache = self.tx.list_cache(self.collection)
        key = (self.collection, repr(query))
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            page, total = hit
        else:
            text_of = self.tx.search_text(self.collection, query.q_fields) if query.q else None
            page, total = evaluate(self.tx.scan(self.collection), query, self.numeric,
                                   self.special, text_of)
            if cache is not None:
                cache[key] = (page, total)
        share = self.share
        return [share(r) for r in page], total

    def count(self):
        return self.tx.count(self.collection)


class ProductRepository(Repository):
    collection = "products"
    numeric = ("price", "cost", "stock", "low_stock_threshold")
    special = {
        "low_stock": lambda wanted: (
            lambda r: (r["stock"] <= r.get("low_stock_threshold", 0)) == wanted),
    }

    def find_by_sku(self, sku):
        return clone(self.tx.find_unique(self.collection, "sku", sku))

    def find_by_barcode(self, code):
        return clone(self.tx.find_unique(self.collection, "barcode", code))

    def find_by_isbn(self, isbn13):
        return clone(self.tx.find_unique(self.collection, "isbn", isbn13))

    def change_stock(self, product_id, delta):
        """Add delta to stock unless it would go below zero; the updated product, or None if short."""
        product = self.get(product_id)
        if product is None or product["stock"] + delta < 0:
            return None
        product["stock"] += delta
        return self.update(product)


class StockMovementRepository(Repository):
    collection = "stock_movements"

    def add(self, record):
        record.setdefault("created_at", timestamp())
        self.tx.put(self.collection, clone(record))
        return record

    def for_product(self, product_id):
        return [clone(r) for r in self.tx.find_indexed(self.collection, "product_id", product_id)]


class OrderRepository(Repository):
    collection = "orders"
    numeric = ("number", "subtotal", "total")
    special = {"customer_email": lambda wanted: (
        lambda r: ((r.get("customer") or {}).get("email") or "").lower() == wanted.lower())}

    def next_number(self):
        counter = self.tx.get("counters", "order_number")
        value = (counter["value"] if counter else 1000) + 1
        self.tx.put("counters", {"id": "order_number", "value": value})
        return value


class DeliveryRepository(Repository):
    collection = "deliveries"

    def for_order(self, order_id):
        return [clone(r) for r in self.tx.find_indexed(self.collection, "order_id", order_id)]


class UserRepository(Repository):
    collection = "users"

    def find_by_username(self, username):
        return clone(self.tx.find_unique(self.collection, "username", username))

    def count_active_admins(self):
        return sum(1 for u in self.tx.scan(self.collection) if u["role"] == "admin" and u["active"])


class SessionRepository(Repository):
    collection = "sessions"

    def for_user(self, user_id):
        return [clone(r) for r in self.tx.find_indexed(self.collection, "user_id", user_id)]

    def delete(self, record_id):
        self.tx.delete(self.collection, record_id)


class LoginAttemptRepository(Repository):
    collection = "login_attempts"

    def save(self, record):
        self.tx.put(self.collection, clone(record))
        return record

    def delete(self, record_id):
        self.tx.delete(self.collection, record_id)

    def purge_before(self, cutoff):
        """Forget the records whose last failure is older than cutoff (a timestamp)."""
        for rec in list(self.tx.scan(self.collection)):
            if rec["updated_at"] < cutoff:
                self.tx.delete(self.collection, rec["id"])


class IdempotencyRepository(Repository):
    collection = "idempotency"

    def save(self, record):
        self.tx.put(self.collection, clone(record))
        return record

    def purge_before(self, cutoff):
        """Forget keys created before cutoff; records are in creation order, so stop at the first young one."""
        for rec in self.tx.scan(self.collection):
            if rec["created_at"] >= cutoff:
                break
            self.tx.delete(self.collection, rec["id"])


class UnitOfWork:
    """`with uow: ...; uow.commit()` — leaving the block without commit changes nothing.

    Repositories (uow.products, uow.orders, ...) are made on first use: most requests touch two."""

    REPOSITORIES = {
        "users": UserRepository, "sessions": SessionRepository,
        "login_attempts": LoginAttemptRepository, "products": ProductRepository,
        "movements": StockMovementRepository, "orders": OrderRepository,
        "deliveries": DeliveryRepository, "idempotency": IdempotencyRepository,
    }

    def __init__(self, store, readonly=False):
        self.store = store
        self.readonly = readonly
        self._cm = None
        self._made = []

    def __enter__(self):
        self._cm = self.store.snapshot() if self.readonly else self.store.transaction()
        self.tx = self._cm.__enter__()
        if self._made:  # repositories of an earlier use hold its transaction
            for name in self._made:
                del self.__dict__[name]
            self._made = []
        return self

    def __getattr__(self, name):
        kind = self.REPOSITORIES.get(name)
        if kind is None or "tx" not in self.__dict__:
            raise AttributeError(name)
        repository = self.__dict__[name] = kind(self.tx, self.readonly)
        self._made.append(name)
        return repository

    def __exit__(self, exc_type, exc, tb):
        return self._cm.__exit__(exc_type, exc, tb)

    def state(self):
        """A token that changes with every commit this process can see; None when unknown."""
        return self.tx.state()

    def commit(self):
        if self.readonly:
            raise StoreError("read-only unit of work")
        self.store.commit(self.tx)
