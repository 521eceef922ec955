"""The PostgreSQL backend: the repository interface over relational tables, one transaction per unit of work.

Records go in and come out exactly as the JSON store keeps them: plain dicts, money as
"12.50", times as "2026-11-21T10:15:00Z".  Columns hold what they can hold exactly
(NUMERIC(12,2) money, timestamptz, date, bigint, boolean); anything else a record
carries (a field no column names, a value a column cannot hold as it is) rides along
in the row's `extra` json column, so a record read back is the record that was written.

Concurrency.  A writing unit of work is one READ COMMITTED transaction in which every
record read by id or unique key is locked (SELECT ... FOR NO KEY UPDATE) until commit
or rollback, and look-ups that may find nothing (a username, a SKU, an idempotency key,
"is the catalog empty?") take a transaction advisory lock on what they looked for, so
the read-check-write code of the services behaves as it does under the JSON store's
single lock, only per record.  Stock is taken with one conditional UPDATE
(`stock + delta >= 0`), so concurrent buyers never oversell.  Read-only units
of work are REPEATABLE READ READ ONLY snapshots.  Deadlocks, serialization failures
and lock timeouts surface as LockTimeout (503, try again); lost connections as
StoreError.

Connections.  Each process opens its own psycopg_pool.ConnectionPool on first use;
a pool made before a fork is never used by the child (os.getpid() check), and pools
are closed before this process forks so no child inherits a live connection.

Migrations.  Versioned files in migrations/ (NNNN_name.sql) are applied in order under
a PostgreSQL advisory lock and recorded in schema_migrations, when a store opens and
by `python -m scripts.migrate`.
"""
import hashlib
import json
import os
import re
import threading
import weakref
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg import errors as pgerr
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.types.json import Json
from psycopg_pool import ConnectionPool, PoolTimeout

from .base import (UNKNOWN, LockTimeout, Query, StoreError, UniqueViolation, ids_after, level_key, new_id,
                   run_before_commit, timestamp)
from .declarations import COLLECTIONS as DECLARED
from .memory import KEY_FUNCTIONS
from .repositories import (EventLog, MovementRepository, OrderRepository,
                           ProductRepository, PurchaseOrderRepository, StockCountRepository,
                           TransferRepository, clone, day_starts, entries_after, evaluate,
                           every_match, movement_totals, page_log)

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
_MIGRATION_FILE = re.compile(r"^(\d{4})_([A-Za-z0-9_]+)\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_TS_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONEY = re.compile(r"^-?(?:0|[1-9]\d{0,9})\.\d{2}$")
_JSON_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TS_TEXT = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"
TS_MS_TEXT = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"
ABSENT = "__absent__"  # in `extra`: fields the record did not have at all (not even null)
KEY_ORDER = "__keys__"  # in `extra`: the record's order of keys, when not the table's usual one


def _dumps(value):
    # ", " and ": " as Python's repr spaces them, so ?q= over a whole object matches alike
    return json.dumps(value, ensure_ascii=False)


# ---- how each kind of column holds a value exactly ----------------------------------------------

def _is_text(v):
    return isinstance(v, str) and "\x00" not in v


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and -2 ** 63 <= v < 2 ** 63


def _is_int32(v):
    return isinstance(v, int) and not isinstance(v, bool) and -2 ** 31 <= v < 2 ** 31


def _is_moment(v):
    if not (isinstance(v, str) and _TS.match(v)):
        return False
    try:
        datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True


def _is_moment_ms(v):
    if not (isinstance(v, str) and _TS_MS.match(v)):
        return False
    try:
        datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True


def _is_date(v):
    if not (isinstance(v, str) and _DATE.match(v)):
        return False
    try:
        datetime.strptime(v, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _is_money(v):
    return isinstance(v, str) and bool(_MONEY.match(v)) and v != "-0.00"  # NUMERIC has no negative zero


class Kind:
    """fits: holds the Python value exactly; param: placeholder; out: SQL giving the stored Python
    value back; text: SQL for str(value or "") as ?q= sees it; stringy: the Python value is a str."""

    def __init__(self, fits, param="%s", out="{c}", text=None, stringy=False):
        self.fits, self.param, self.out, self.text, self.stringy = fits, param, out, text, stringy


_MOMENT_OUT = "to_char({c} AT TIME ZONE 'UTC', " + TS_TEXT + ")"
_MOMENT_MS_OUT = "to_char({c} AT TIME ZONE 'UTC', " + TS_MS_TEXT + ")"
KINDS = {
    "text": Kind(_is_text, text="{c}", stringy=True),
    "int": Kind(_is_int, text="NULLIF({c}, 0)::text"),
    "int32": Kind(_is_int32, text="NULLIF({c}, 0)::text"),
    "bool": Kind(lambda v: isinstance(v, bool), text="CASE WHEN {c} THEN 'True' END"),
    "money": Kind(_is_money, "%s::numeric", "{c}::text", "{c}::text", stringy=True),
    "ts": Kind(_is_moment, "%s::timestamptz", _MOMENT_OUT, _MOMENT_OUT, stringy=True),
    "ts_ms": Kind(_is_moment_ms, "%s::timestamptz", _MOMENT_MS_OUT, _MOMENT_MS_OUT, stringy=True),
    "date": Kind(_is_date, "%s::date", "to_char({c}, 'YYYY-MM-DD')", "to_char({c}, 'YYYY-MM-DD')",
                 stringy=True),
    "json": Kind(lambda v: True, text="({c} #>> '{}')"),
    "floats": Kind(lambda v: isinstance(v, list) and all(type(x) is float for x in v), "%s::float8[]"),
}
SIMPLE = ("text", "int", "int32", "bool", "money", "ts", "ts_ms", "date")


def _sql(template, column):
    return template.replace("{c}", column)


def _adapt(field, value):
    return Json(value, dumps=_dumps) if field.kind == "json" else value


class Shape:
    """How the records of one collection (or the lines of a child table) map to a table's columns."""

    def __init__(self, table, fields, parent_key=None):
        self.table, self.fields, self.parent_key = table, fields, parent_key
        self.by_name = {f.name: f for f in fields}
        self.columns = []  # (column, kind) as params are laid out, `extra` last
        for f in fields:
            if f.kind == "struct":
                self.columns += [(p.column, p.kind) for p in f.parts]
            elif f.kind != "children":
                self.columns.append((f.column, f.kind))
        self.columns.append(("extra", "json"))
        self.children = [f for f in fields if f.kind == "children"]
        # each list field's child table, as a Shape of its own
        self.child_shapes = {f.name: Shape(f.child.table, f.child.fields, f.child.parent_key)
                             for f in self.children}
        self.versioned = "version" in self.by_name
        names = ", ".join(c for c, _ in self.columns)
        marks = ", ".join(KINDS[k].param for _, k in self.columns)
        if parent_key:
            self.insert_sql = (f"INSERT INTO {table} ({parent_key}, position, {names}) "
                               f"VALUES (%s, %s, {marks})")
            return
        self.insert_sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
        self.update_positions = [i for i, (c, _) in enumerate(self.columns) if c not in ("id", "version")]
        sets = ", ".join(f"{self.columns[i][0]} = {KINDS[self.columns[i][1]].param}"
                         for i in self.update_positions)
        bump, returning = (", version = version + 1", "version") if self.versioned else ("", "1")
        self.update_sql = f"UPDATE {table} SET {sets}{bump} WHERE id = %s RETURNING {returning}"
        excluded = ", ".join(f"{c} = EXCLUDED.{c}" for c, _ in self.columns if c != "id")
        self.upsert_sql = f"{self.insert_sql} ON CONFLICT (id) DO UPDATE SET {excluded}"
        self.select_t = ", ".join(self.select_list("t"))

    def simple(self, name):
        f = self.by_name.get(name)
        return f if f is not None and f.kind in SIMPLE else None

    def select_list(self, alias):
        out = []
        for f in self.fields:
            if f.kind == "struct":
                out += [_sql(KINDS[p.kind].out, f"{alias}.{p.column}") for p in f.parts]
            elif f.kind == "children":
                child = self.child_shapes[f.name]
                inner = ", ".join(child.select_list("c"))
                out.append(f"(SELECT json_agg(json_build_array({inner}) ORDER BY c.position) "
                           f"FROM {child.table} c WHERE c.{child.parent_key} = {alias}.id)")
            else:
                out.append(_sql(KINDS[f.kind].out, f"{alias}.{f.column}"))
        out.append(f"{alias}.extra")
        return out

    def encode(self, record):
        """(params in column order, {children field: [line params]}) for one record."""
        params, extra, absent, lines = [], {}, [], {}
        for f in self.fields:
            present = f.name in record
            value = record.get(f.name)
            if not present and not f.optional:
                absent.append(f.name)
            if f.kind == "children":
                lines[f.name] = []
                if present and isinstance(value, list) and all(isinstance(x, dict) for x in value):
                    lines[f.name] = [self.child_shapes[f.name].encode(x)[0] for x in value]
                elif present:
                    extra[f.name] = value
                continue
            if f.kind == "struct":
                if present and value is not None and _struct_fits(f, value):
                    params += [_adapt(p, value[p.name]) for p in f.parts]
                else:
                    params += [None] * len(f.parts)
                    if present and (value is not None or f.optional):
                        extra[f.name] = value
                continue
            if present and value is not None and KINDS[f.kind].fits(value):
                params.append(_adapt(f, value))
            else:
                params.append(None)
                if present and (value is not None or f.optional):
                    extra[f.name] = value
        for key, value in record.items():
            if key not in self.by_name:
                extra[key] = value
        if absent:
            extra[ABSENT] = absent
        usual = [f.name for f in self.fields if f.name in record] + [k for k in record if k not in self.by_name]
        if list(record) != usual:
            extra[KEY_ORDER] = list(record)
        params.append(Json(extra, dumps=_dumps) if extra else None)
        return params, lines

    def decode(self, values):
        """The record from a row laid out as select_list() makes it."""
        it = iter(values)
        got = {}
        for f in self.fields:
            if f.kind == "struct":
                parts = [next(it) for _ in f.parts]
                got[f.name] = None if parts[0] is None else {p.name: v for p, v in zip(f.parts, parts)}
            elif f.kind == "children":
                rows = next(it)
                got[f.name] = [self.child_shapes[f.name].decode(r) for r in rows] if rows else []
            else:
                got[f.name] = next(it)
        extra = next(it) or {}
        absent = extra.get(ABSENT, ())
        record = {}
        for f in self.fields:
            if f.name in extra:
                record[f.name] = extra[f.name]
            elif f.name in absent or (f.optional and got[f.name] is None):
                continue
            else:
                record[f.name] = got[f.name]
        for key, value in extra.items():
            if key not in (ABSENT, KEY_ORDER) and key not in self.by_name:
                record[key] = value
        if KEY_ORDER in extra:
            record = {key: record[key] for key in extra[KEY_ORDER] if key in record}
        return record


def _struct_fits(field, value):
    names = [p.name for p in field.parts]
    return (isinstance(value, dict) and list(value) == names and value[names[0]] is not None
            and all(value[p.name] is None or KINDS[p.kind].fits(value[p.name]) for p in field.parts))


# every declared collection's table, and every table in an order that satisfies the foreign
# keys when loading (a collection's child tables right after it)
SHAPES = {name: Shape(decl.table, decl.fields) for name, decl in DECLARED.items()}
PRODUCTS, MOVEMENTS = SHAPES["products"], SHAPES["stock_movements"]
TABLES = [t for shape in SHAPES.values()
          for t in [shape.table, *(c.table for c in shape.child_shapes.values())]]

# a unique index's name -> the field a clash on it is reported under
UNIQUE_FIELDS = {f"{decl.table}_{u.field}_key": u.field for decl in DECLARED.values() for u in decl.unique}
UNIQUE_FIELDS["orders_number_key"] = "number"


# ---- errors ---------------------------------------------------------------------------------------

_BUSY = (pgerr.DeadlockDetected, pgerr.SerializationFailure, pgerr.LockNotAvailable, pgerr.QueryCanceled)


def _translate(exc):
    """The storage error a psycopg error means, or None when it is a bug to let through."""
    if isinstance(exc, pgerr.UniqueViolation):
        name = exc.diag.constraint_name or ""
        return UniqueViolation(UNIQUE_FIELDS.get(name, "id" if name.endswith("_pkey") else name))
    if isinstance(exc, _BUSY):
        return LockTimeout(f"the database is busy; try again ({exc.sqlstate})")
    if isinstance(exc, pgerr.ReadOnlySqlTransaction):
        return StoreError("a read-only unit of work cannot write")
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return StoreError(f"PostgreSQL is unreachable: {exc}")
    if isinstance(exc, (psycopg.IntegrityError, psycopg.DataError)):
        return StoreError(f"PostgreSQL refused the change: {exc}")
    return None


@contextmanager
def translated():
    try:
        yield
    except psycopg.Error as exc:
        mapped = _translate(exc)
        if mapped is None:
            raise
        raise mapped from exc


def _usable(value):
    """A value PostgreSQL can compare with text (it cannot hold NUL characters)."""
    return isinstance(value, str) and "\x00" not in value


def _lock_key(*parts):
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# ---- list queries in SQL, with evaluate()'s semantics -------------------------------------------

_NO = object()


def _coerce(kind, value):
    """The value a column of this kind compares with, as Python's == would; _NO when nothing equals it."""
    if KINDS[kind].stringy:
        return value if _usable(value) else _NO
    if kind in ("int", "int32"):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value if -2 ** 63 <= value < 2 ** 63 else _NO
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _NO
    if kind == "bool":
        if isinstance(value, (bool, int, float)) and value in (0, 1):
            return bool(value)
        return _NO
    return _NO


def _equality(field, alias, wanted, params):
    values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
    kind = KINDS[field.kind]
    expr = _sql(kind.out, f"{alias}.{field.column}")
    usable = []
    for value in values:
        if value is not None:
            value = _coerce(field.kind, value)
            if value is not _NO and value not in usable:
                usable.append(value)
    parts = []
    if len(usable) == 1:
        parts.append(f"{expr} = %s")
        params.append(usable[0])
    elif usable:
        parts.append(f"{expr} = ANY(%s)")
        params.append(usable)
    if any(v is None for v in values):
        parts.append(f"{expr} IS NULL")
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


def _low_stock(alias, wanted, params):
    if isinstance(wanted, (bool, int, float)) and wanted in (0, 1):
        cond = f"{alias}.stock <= COALESCE({alias}.low_stock_threshold, 0)"
        return cond if wanted else f"NOT ({cond})"
    return "FALSE"


def _customer_email(alias, wanted, params):
    if not _usable(wanted):
        return "FALSE"
    params.append(wanted.lower())
    return f"lower(COALESCE({alias}.customer ->> 'email', '')) = %s"


# a Unique declaration's key kind -> SQL for the key of column {c} (compared with the key of the value)
KEY_SQL = {"exact": "NULLIF({c}, '')", "lower": "lower(NULLIF({c}, ''))", "code": None}


class PgRepository:
    """get/add/update/save/delete/list/count over one declared collection's table, with its
    finders (`find_by_<field>` per unique key, the declared look-ups); subclasses add the
    queries that need hand-written SQL."""

    collection = ""
    special = {}       # Python predicates, for queries SQL cannot answer the same way
    sql_special = {}   # the same filters in SQL

    def __init__(self, uow, decl=None):
        self.uow = uow
        self.decl = decl or DECLARED[self.collection]
        self.shape = SHAPES[self.decl.name]
        self.numeric = tuple(f.name for f in self.decl.fields if f.kind in ("int", "int32", "money"))
        # unique keys besides id: write inside a savepoint so a clash leaves the uow usable
        self.guarded = bool(self.decl.unique)

    def __getattr__(self, name):
        decl = self.__dict__.get("decl")
        if decl is None:
            raise AttributeError(name)
        if name.startswith("find_by_") and name[8:] in decl.unique_by_field:
            unique = decl.unique_by_field[name[8:]]
            return lambda value: self._find_unique(unique, value)
        for fname, finder in decl.lookups.items():
            if finder == name:
                column = self.shape.by_name[fname].column
                return lambda value: ([] if not _usable(value) else
                                      self._select(f"t.{column} = %s", (value,), tail=" ORDER BY t.id"))
        raise AttributeError(name)

    def _find_unique(self, unique, value):
        """The record whose unique key is value's (locked), or None. The key's advisory lock is
        held to the end of the transaction, so a writer that found nothing decides alone."""
        key = KEY_FUNCTIONS[unique.key](value)
        if not _usable(key):
            return None
        self.uow.claim(f"{self.shape.table}.{unique.field}", key)
        column = self.shape.by_name[unique.field].column
        expr = f"t.{unique.sql}" if unique.sql else _sql(KEY_SQL[unique.key], f"t.{column}")
        return self._first(f"{expr} = %s", (key,))

    # ---- reading
    def _select(self, where, params=(), lock=False, tail=""):
        query = f"SELECT {self.shape.select_t} FROM {self.shape.table} t WHERE {where}{tail}"
        if lock and not self.uow.readonly:
            query += " FOR NO KEY UPDATE OF t"
        records = [self.shape.decode(row) for row in self.uow.rows(query, params)]
        for record in records:
            self.uow.remember(self.shape, record)
        if lock and not self.uow.readonly:  # read to be changed: how it was, for the audit log
            before = self.uow.before
            for record in records:
                key = (self.decl.name, record["id"])
                if key not in before:
                    before[key] = clone(record)
        return records

    def _first(self, where, params):
        if self.shape.children and not self.uow.readonly:
            # Locked first, then read. A read that waits for the row lock gets the row as
            # committed, but its child rows (subqueries) as they were when the statement began,
            # before the wait: two receipts of a purchase order, or two status moves of a
            # delivery, at once would each build on the same old lines and one would be lost.
            self.uow.rows(f"SELECT 1 FROM {self.shape.table} t WHERE {where} LIMIT 1 "
                          "FOR NO KEY UPDATE OF t", params)
        found = self._select(where, params, lock=True, tail=" LIMIT 1")
        return found[0] if found else None

    def get(self, record_id):
        if not _usable(record_id):
            return None
        return self._first("t.id = %s", (record_id,))

    def peek(self, record_id):
        return self.get(record_id)  # every row read is the caller's own

    def count(self):
        self.uow.claim(self.shape.table, "count")  # "seed only an empty store" runs once
        return self.uow.rows(f"SELECT count(*) FROM {self.shape.table}")[0][0]

    def list(self, query):
        plan = self._plan(query)
        if plan is None:  # something SQL cannot ask the same way: answer it exactly in Python
            return evaluate(self._select("TRUE", tail=" ORDER BY t.id"), query, self.numeric, self.special)
        where, params, order = plan
        table = self.shape.table
        sql = (f"SELECT {', '.join(self.shape.select_list('p'))}, p._total FROM ("
               f"SELECT t.*, count(*) OVER () AS _total FROM {table} t WHERE {where} "
               f"ORDER BY {order('t')} LIMIT %s OFFSET %s) p ORDER BY {order('p')}")
        rows = self.uow.rows(sql, [*params, query.limit, query.offset])
        if rows:
            total = rows[0][-1]
        elif query.offset:
            total = self.uow.rows(f"SELECT count(*) FROM {table} t WHERE {where}", params)[0][0]
        else:
            total = 0
        return [self.shape.decode(row[:-1]) for row in rows], total

    def narrow(self, fields):
        exprs = []
        for name in fields:
            field = self.shape.simple(name)
            if field is None:  # not a plain column: read the records whole
                return [{n: r.get(n) for n in fields} for r in self._select("TRUE", tail=" ORDER BY t.id")]
            exprs.append(_sql(KINDS[field.kind].out, f"t.{field.column}"))
        # a value too odd for its column rides in `extra` (see declarations): it wins there too
        rows = self.uow.rows(f"SELECT {', '.join(exprs)}, t.extra FROM {self.shape.table} t ORDER BY t.id")
        out = []
        for row in rows:
            record = dict(zip(fields, row))
            extra = row[-1]
            if extra:
                record.update({k: v for k, v in extra.items() if k in record})
            out.append(record)
        return out

    def iterate(self, query, limit=None, batch=500):
        """Every record the query matches (or its first `limit`), in its order, the query's own
        limit and offset aside; through a server-side cursor, a batch at a time, so memory does
        not grow with the rows of a CSV export."""
        everything = every_match(query)
        if limit is not None:
            everything.limit = limit
        plan = self._plan(everything)
        if plan is None:
            yield from evaluate(self._select("TRUE", tail=" ORDER BY t.id"), everything,
                                self.numeric, self.special)[0]
            return
        where, params, order = plan
        sql = f"SELECT {self.shape.select_t} FROM {self.shape.table} t WHERE {where} ORDER BY {order('t')}"
        if limit is not None:
            yield from (self.shape.decode(row) for row in self.uow.rows(f"{sql} LIMIT %s", [*params, limit]))
            return
        with translated():
            cursor = self.uow.conn.cursor(name=f"export_{new_id()}")
        try:
            with translated():
                cursor.execute(sql, params)
            while True:
                with translated():
                    rows = cursor.fetchmany(batch)
                if not rows:
                    break
                for row in rows:
                    yield self.shape.decode(row)
        finally:
            if not cursor.closed and not self.uow.conn.closed:
                try:
                    cursor.close()
                except psycopg.Error:
                    pass

    def _plan(self, query):
        """(where, params, order(alias)) meaning what evaluate() means, or None."""
        conds, params = [], []
        for name, wanted in query.filters.items():
            if name in self.sql_special:
                conds.append(self.sql_special[name]("t", wanted, params))
                continue
            field = self.shape.simple(name)
            if field is None:
                return None
            conds.append(_equality(field, "t", wanted, params))
        if query.q:
            needle = query.q.lower()
            exprs = [self._text(path) for path in query.q_fields]
            if None in exprs:
                return None
            if exprs and _usable(needle):
                conds.append("(" + " OR ".join(f"strpos(lower({e}), %s) > 0" for e in exprs) + ")")
                params += [needle] * len(exprs)
            else:  # no field to search, or a needle no column can hold
                conds.append("FALSE")
        for bound, op in ((query.since, ">="), (query.until, "<=")):
            if not bound:
                continue
            field = self.shape.simple("created_at")
            if field is None or not _usable(bound):
                return None
            if _is_moment(bound):
                conds.append(f"t.created_at {op} %s::timestamptz")
            else:  # compare as the strings they are, as evaluate() does
                conds.append(f'{_sql(KINDS["ts"].out, "t.created_at")} COLLATE "C" {op} %s')
            params.append(bound)
        sort = list(query.sort) or [("id", False)]
        terms = []
        for name, desc in sort:
            if name == "id":  # evaluate() uses id only to break ties
                continue
            field = self.shape.simple(name)
            if field is None:
                return None
            if name in self.numeric:
                if field.kind not in ("int", "int32", "money"):
                    return None
                template = "{a}." + field.column
            elif field.kind in ("text", "money"):
                template = "{a}." + field.column + ("::text" if field.kind == "money" else "") + ' COLLATE "C"'
            else:
                template = "{a}." + field.column
            terms.append(template + (" DESC NULLS FIRST" if desc else " ASC NULLS LAST"))
        terms.append("{a}.id" + (" DESC" if sort[0][1] else " ASC"))

        def order(alias):
            return ", ".join(t.replace("{a}", alias) for t in terms)
        return " AND ".join(conds) or "TRUE", params, order

    def _text(self, path):
        """SQL for str(_path(record, path) or "") in lower case's eyes, or None."""
        head, _, rest = path.partition(".")
        field = self.shape.by_name.get(head)
        if field is None:
            return None
        column = f"t.{field.column}"
        if not rest:
            if field.kind in SIMPLE or field.kind == "json":
                return _sql(KINDS[field.kind].text, column)
            return None
        if field.kind == "json":
            keys = rest.split(".")
            if all(_JSON_KEY.match(k) for k in keys):
                return f"({column} #>> '{{{','.join(keys)}}}')"
            return None
        if field.kind == "struct":
            for part in field.parts:
                if part.name == rest and part.kind in SIMPLE:
                    return _sql(KINDS[part.kind].text, f"t.{part.column}")
        return None

    # ---- writing
    def add(self, record):
        now = timestamp()
        record.setdefault("created_at", now)
        if self.shape.versioned:
            record.setdefault("updated_at", record["created_at"])
            record.setdefault("version", 1)
        self._insert(record)
        return record

    def _insert(self, record):
        params, lines = self.shape.encode(record)
        with self.uow.savepoint(self.guarded):
            self.uow.run(self.shape.insert_sql, params)
            self._write_lines(record, lines, replace=False)
        self.uow.wrote(self.decl.name, record["id"], record, created=True)

    def update(self, record):
        """Store a changed record: its version grows by one and updated_at moves."""
        record["updated_at"] = timestamp()
        params, lines = self.shape.encode(record)
        values = [params[i] for i in self.shape.update_positions] + [record["id"]]
        with self.uow.savepoint(self.guarded):
            found = self.uow.rows(self.shape.update_sql, values)
            if not found:
                raise StoreError(f"{self.shape.table} {record['id']} vanished")
            if self.shape.versioned:
                record["version"] = found[0][0]
            self._write_lines(record, lines, replace=True)
        self.uow.wrote(self.decl.name, record["id"], record)
        return record

    def save(self, record):
        """Store a record by its id as it is (created or replaced; no stamps): keyed records."""
        params, lines = self.shape.encode(record)
        self.uow.run(self.shape.upsert_sql, params)
        self.uow.wrote(self.decl.name, record["id"], record)
        return record

    def delete(self, record_id):
        if _usable(record_id):
            self.uow.run(f"DELETE FROM {self.shape.table} WHERE id = %s", (record_id,))
            self.uow.wrote(self.decl.name, record_id, None)

    def purge_before(self, cutoff, field="created_at"):
        """Forget the records whose `field` (a timestamp) is before cutoff."""
        column = self.shape.by_name[field].column
        if _is_moment(cutoff):
            self.uow.run(f"DELETE FROM {self.shape.table} WHERE {column} < %s::timestamptz", (cutoff,))
        elif _usable(cutoff):
            self.uow.run(f'DELETE FROM {self.shape.table} WHERE {_sql(KINDS["ts"].out, column)} '
                         'COLLATE "C" < %s', (cutoff,))

    def _write_lines(self, record, lines, replace):
        for field in self.shape.children:
            child = self.shape.child_shapes[field.name]
            mark = (self.shape.table, record["id"], field.name)
            signature = _dumps(record.get(field.name, ABSENT))
            if replace:
                if self.uow.known.get(mark) == signature:
                    continue
                self.uow.run(f"DELETE FROM {child.table} WHERE {child.parent_key} = %s", (record["id"],))
            rows = [(record["id"], n, *line) for n, line in enumerate(lines[field.name])]
            if rows:
                self.uow.run_many(child.insert_sql, rows)
            self.uow.known[mark] = signature


def _unlinked_category(alias, wanted, params):
    cond = f"(NULLIF(btrim({alias}.category), '') IS NOT NULL AND {alias}.category_id IS NULL)"
    return cond if wanted is True else f"NOT {cond}"


def _available(alias, wanted, params):
    if isinstance(wanted, bool):
        return f"{alias}.stock > 0" if wanted else f"{alias}.stock <= 0"
    return "FALSE"


class PgProductRepository(PgRepository):
    collection = "products"
    special = ProductRepository.special
    sql_special = {"low_stock": _low_stock, "unlinked_category": _unlinked_category,
                   "available": _available}

    def count_active_in(self, category_ids):
        """How many active products are in any of these categories."""
        ids = [i for i in set(category_ids) if _usable(i)]
        if not ids:
            return 0
        return self.uow.rows("SELECT count(*) FROM products WHERE category_id = ANY(%s) "
                             "AND status = 'active'", (ids,))[0][0]

    def change_stock(self, product_id, location_id, delta):
        """Add delta to the product's quantity at the location (one conditional statement: never
        below zero there) and then to its stock; (the product, the quantity there after), or None
        if short there. Callers have read the product in this unit of work, so its row is locked
        first and a product's levels only change under that lock (no deadlock between them)."""
        if not (_usable(product_id) and _usable(location_id)):
            return None
        now = timestamp()
        level_id = level_key(product_id, location_id)
        take_product = (
            "UPDATE products t SET stock = t.stock + %s, version = t.version + 1, "
            "updated_at = %s::timestamptz WHERE t.id = %s AND t.stock + %s >= 0 "
            f"RETURNING {PRODUCTS.select_t}", (delta, now, product_id, delta))
        if delta < 0:  # taken there first: when short there, nothing has changed
            level = self.uow.rows(
                "UPDATE stock_levels SET quantity = quantity + %s, version = version + 1, "
                "updated_at = %s::timestamptz WHERE id = %s AND quantity + %s >= 0 RETURNING quantity",
                (delta, now, level_id, delta))
            if not level:
                return None
            rows = self.uow.rows(*take_product)
            if not rows:
                raise StoreError(f"product {product_id} holds less stock than its levels")
        else:  # the product first: no level is made for a product that is not there
            rows = self.uow.rows(*take_product)
            if not rows:
                return None
            level = self.uow.rows(
                "INSERT INTO stock_levels (id, product_id, location_id, quantity, created_at, updated_at, "
                "version) VALUES (%s, %s, %s, %s, %s::timestamptz, %s::timestamptz, 1) "
                "ON CONFLICT (id) DO UPDATE SET quantity = stock_levels.quantity + EXCLUDED.quantity, "
                "version = stock_levels.version + 1, updated_at = EXCLUDED.updated_at RETURNING quantity",
                (level_id, product_id, location_id, delta, now, now))
        # the row is locked now and every earlier change of it committed: this statement sees
        # their movements, so the one about to be written gets an id after theirs (see ids_after)
        newest = self.uow.rows("SELECT max(id) FROM stock_movements WHERE product_id = %s", (product_id,))
        if newest and newest[0][0]:
            ids_after(newest[0][0])
        product = PRODUCTS.decode(rows[0])
        self.uow.wrote("products", product_id, product)
        return product, level[0][0]


class PgStockLevelRepository(PgRepository):
    collection = "stock_levels"

    def quantity(self, product_id, location_id):
        if not (_usable(product_id) and _usable(location_id)):
            return 0
        rows = self.uow.rows("SELECT quantity FROM stock_levels WHERE id = %s",
                             (level_key(product_id, location_id),))
        return rows[0][0] if rows else 0

    def stock_at(self, location_id):
        if not _usable(location_id):
            return []
        rows = self.uow.rows(
            "SELECT l.product_id, p.sku, p.title, l.quantity FROM stock_levels l "
            "JOIN products p ON p.id = l.product_id WHERE l.location_id = %s AND l.quantity <> 0 "
            "ORDER BY l.id", (location_id,))
        return [{"product_id": r[0], "sku": r[1], "title": r[2], "quantity": r[3]} for r in rows]


class PgLocationRepository(PgRepository):
    collection = "locations"

    def default(self):
        """The default location; a writer holds the "default" lock to its end, so two that make
        different locations the default at once take turns."""
        self.uow.claim("locations", "default")
        found = self._select("t.is_default", tail=" ORDER BY t.id LIMIT 1")
        return found[0] if found else None

    def for_stock(self, location_id):
        """The location, share-locked to the end of this unit of work: stock may move there at
        once in many units of work, while archiving it (which locks it for update) waits."""
        if not _usable(location_id):
            return None
        query = f"SELECT {self.shape.select_t} FROM locations t WHERE t.id = %s"
        if not self.uow.readonly:
            query += " FOR SHARE OF t"
        rows = self.uow.rows(query, (location_id,))
        return self.shape.decode(rows[0]) if rows else None

    def default_for_stock(self):
        query = f"SELECT {self.shape.select_t} FROM locations t WHERE t.is_default"
        if not self.uow.readonly:
            query += " FOR SHARE OF t"
        rows = self.uow.rows(query)
        return self.shape.decode(rows[0]) if rows else None


def _line_of(table, parent_key):
    def condition(alias, wanted, params):
        if not _usable(wanted):
            return "FALSE"
        params.append(wanted)
        return f"EXISTS (SELECT 1 FROM {table} l WHERE l.{parent_key} = {alias}.id AND l.product_id = %s)"
    return condition


class PgTransferRepository(PgRepository):
    collection = "transfers"
    special = TransferRepository.special
    sql_special = {"product_id": _line_of("transfer_lines", "transfer_id")}


class PgStockCountRepository(PgRepository):
    collection = "stock_counts"
    special = StockCountRepository.special
    sql_special = {"product_id": _line_of("stock_count_lines", "count_id")}


def _purchase_order_text(alias, wanted, params):
    if not _usable(wanted):
        return "FALSE"
    needle = wanted.lower()
    params += [needle, needle, needle]
    return (f"(strpos(lower(COALESCE({alias}.notes, '')), %s) > 0 OR EXISTS (SELECT 1 FROM "
            f"purchase_order_lines l WHERE l.purchase_order_id = {alias}.id AND "
            "(strpos(lower(COALESCE(l.sku, '')), %s) > 0 OR strpos(lower(COALESCE(l.title, '')), %s) > 0)))")


class PgPurchaseOrderRepository(PgRepository):
    collection = "purchase_orders"
    special = PurchaseOrderRepository.special
    sql_special = {"product_id": _line_of("purchase_order_lines", "purchase_order_id"),
                   "text": _purchase_order_text}


class PgCounterRepository(PgRepository):
    collection = "counters"

    def next_number(self, name, first):
        """The counter's next value, `first` the first time; taken in this transaction (the row
        stays locked until it ends), so a rollback leaves no gap and numbers follow commits."""
        return self.uow.rows(
            "INSERT INTO counters (id, value) VALUES (%s, %s) "
            "ON CONFLICT (id) DO UPDATE SET value = counters.value + 1 RETURNING value",
            (name, first))[0][0]


def _needs_customer_link(alias, wanted, params):
    cond = (f"({alias}.channel IS NULL OR ({alias}.customer_id IS NULL AND "
            f"NULLIF(btrim(COALESCE({alias}.customer ->> 'email', '')), '') IS NOT NULL))")
    return cond if wanted is True else f"NOT {cond}"


def _hold(op):
    def condition(alias, wanted, params):
        if not _is_moment(wanted):
            return "FALSE"
        params.append(wanted)
        return f"{alias}.hold_expires_at {op} %s::timestamptz"
    return condition


class PgOrderRepository(PgRepository):
    collection = "orders"
    special = OrderRepository.special
    sql_special = {"customer_email": _customer_email, "needs_customer_link": _needs_customer_link,
                   "hold_due": _hold("<="), "hold_after": _hold(">")}

    def by_number(self, number):
        """The order with this number, or None."""
        if type(number) is not int or not -2 ** 31 <= number < 2 ** 31:
            return None
        found = self._select("t.number = %s", (number,), tail=" ORDER BY t.id LIMIT 1")
        return found[0] if found else None

    def next_number(self):
        """1001 for the first order; taken in this transaction, so a rollback leaves no gap."""
        return self.uow.counters.next_number("order_number", 1001)


    def sales_summary(self, first_day, last_day, tz, statuses, by):
        """As OrderRepository.sales_summary, in one aggregate query."""
        starts = day_starts(first_day, last_day, tz)
        where = ("o.created_at >= %s::timestamptz AND o.created_at < %s::timestamptz "
                 "AND o.payment_status = ANY(%s)")
        params = [starts[0], starts[-1], list(statuses)]
        if by == "day":
            sql = ("SELECT day, payment_status, count(*), COALESCE(sum(items), 0), COALESCE(sum(total), 0) "
                   "FROM (SELECT to_char((o.created_at AT TIME ZONE %s)::date, 'YYYY-MM-DD') AS day, "
                   "o.payment_status, o.total, sum(l.quantity) AS items FROM orders o "
                   f"LEFT JOIN order_lines l ON l.order_id = o.id WHERE {where} GROUP BY o.id) s "
                   "GROUP BY day, payment_status")
            params.insert(0, tz)
        elif by == "product":
            sql = ("SELECT l.product_id, o.payment_status, count(DISTINCT o.id), sum(l.quantity), "
                   "sum(l.line_total) FROM orders o "
                   f"JOIN order_lines l ON l.order_id = o.id WHERE {where} GROUP BY 1, 2")
        else:
            sql = ("SELECT p.category, o.payment_status, count(DISTINCT o.id), sum(l.quantity), "
                   "sum(l.line_total) FROM orders o JOIN order_lines l ON l.order_id = o.id "
                   f"LEFT JOIN products p ON p.id = l.product_id WHERE {where} GROUP BY 1, 2")
        return [{"key": row[0], "payment_status": row[1], "orders": row[2], "items_sold": int(row[3]),
                 "amount": row[4]} for row in self.uow.rows(sql, params)]

    def count_by_status(self):
        return dict(self.uow.rows("SELECT status, count(*) FROM orders GROUP BY status"))


def _product_or_note(alias, wanted, params):
    needle, product_ids = wanted
    params += [list(product_ids), needle.lower()]
    return (f"({alias}.product_id = ANY(%s) OR "
            f"strpos(lower(COALESCE({alias}.note, '')), %s) > 0)")


class PgMovementRepository(PgRepository):
    collection = "stock_movements"
    special = MovementRepository.special
    sql_special = {"product_or_note": _product_or_note}

    def stock_as_of(self, moment):
        rows = self.uow.rows(
            "SELECT DISTINCT ON (product_id) product_id, stock_after FROM stock_movements "
            "WHERE created_at <= %s::timestamptz ORDER BY product_id, id DESC", (moment,))
        return dict(rows)

    def totals(self, query):
        plan = self._plan(every_match(query))
        if plan is None:
            records, _ = evaluate(self._select("TRUE", tail=" ORDER BY t.id"), every_match(query),
                                  self.numeric, self.special)
            return movement_totals(records)
        where, params, _ = plan
        count, quantity_in, quantity_out = self.uow.rows(
            "SELECT count(*), COALESCE(sum(delta) FILTER (WHERE delta > 0), 0), "
            f"COALESCE(-sum(delta) FILTER (WHERE delta < 0), 0) FROM stock_movements t WHERE {where}",
            params)[0]
        return {"movements": count, "quantity_in": int(quantity_in), "quantity_out": int(quantity_out),
                "net": int(quantity_in) - int(quantity_out)}


class PgUserRepository(PgRepository):
    collection = "users"

    def count_active_admins(self):
        self.uow.claim("users", "active admins")  # two demotions at once cannot both pass the check
        return self.uow.rows("SELECT count(*) FROM users WHERE role = 'admin' AND active")[0][0]


class _Keyed(PgRepository):
    """Records read and then saved by id: a writer holds the id's advisory lock, even while no row exists."""

    def get(self, record_id):
        if not _usable(record_id):
            return None
        self.uow.claim(self.shape.table, record_id)
        return self._first("t.id = %s", (record_id,))


class PgLoginAttemptRepository(_Keyed):
    collection = "login_attempts"

    def purge_before(self, cutoff, field="updated_at"):
        """Forget the records whose last failure is older than cutoff (a timestamp)."""
        super().purge_before(cutoff, field)


class PgIdempotencyRepository(_Keyed):
    collection = "idempotency"


class PgJobRepository(PgRepository):
    """Background work (see app/background.py); claimed with FOR UPDATE SKIP LOCKED, so any
    number of background processes share the queue without waiting on each other."""

    collection = "jobs"

    def any_due(self, kinds, now=None):
        """Always worth a claim: SKIP LOCKED takes no lock another writer waits for."""
        return True

    def enqueue(self, kind, payload=None, run_at=None):
        return self.add({"id": new_id(), "kind": kind, "payload": payload, "status": "queued",
                         "run_at": run_at or timestamp(), "attempts": 0, "claimed_by": None,
                         "claimed_until": None, "last_error": None})

    def claim(self, worker, kinds, lease_seconds, limit=10, now=None):
        now = now or datetime.now(timezone.utc)
        now_text = timestamp(now)
        until = timestamp(now + timedelta(seconds=lease_seconds))
        rows = self.uow.rows(
            "UPDATE jobs t SET status = 'claimed', claimed_by = %s, claimed_until = %s::timestamptz, "
            "attempts = t.attempts + 1, version = t.version + 1, updated_at = %s::timestamptz "
            "WHERE t.id IN (SELECT id FROM jobs WHERE kind = ANY(%s) AND ("
            "(status = 'queued' AND run_at <= %s::timestamptz) OR "
            "(status = 'claimed' AND claimed_until < %s::timestamptz)) "
            "ORDER BY run_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"RETURNING {self.shape.select_t}",
            (worker, until, now_text, list(kinds), now_text, now_text, limit))
        return sorted((self.shape.decode(r) for r in rows), key=lambda j: (j["run_at"], j["id"]))


class PgLogRepository:
    """An append-only log in a table: append, get by id, newest-first pages."""

    collection = ""
    special = {}
    sql_special = {}
    time_field = "created_at"

    def __init__(self, uow, decl=None):
        self.uow = uow
        self.decl = decl or DECLARED[self.collection]
        self.shape = SHAPES[self.decl.name]

    def append(self, record):
        record.setdefault(self.time_field, timestamp())
        params, _ = self.shape.encode(record)
        self.uow.run(self.shape.insert_sql, params)
        return record

    def get(self, entry_id):
        if not _usable(entry_id):
            return None
        rows = self.uow.rows(f"SELECT {self.shape.select_t} FROM {self.shape.table} t WHERE t.id = %s",
                             (entry_id,))
        return self.shape.decode(rows[0]) if rows else None

    def _order(self):
        return "t.id"

    def _where(self, query):
        """(where, params) meaning what page_log means, or None when nothing can match."""
        repository = PgRepository.__new__(PgRepository)
        repository.uow, repository.decl, repository.shape = self.uow, self.decl, self.shape
        repository.numeric, repository.special, repository.sql_special = (), self.special, self.sql_special
        since_until = (query.since, query.until)
        if self.time_field != "created_at" and any(since_until):
            # bounds on another time field: as SQL on that column
            query = Query(**{**query.__dict__, "since": None, "until": None})
            extra = []
            for bound, op in zip(since_until, (">=", "<=")):
                if bound and _is_moment(bound):
                    extra.append((op, bound))
            plan = repository._plan(query)
            if plan is None:
                return None
            where, params, _ = plan
            to_the_ms = self.shape.by_name[self.time_field].kind == "ts_ms"
            for op, bound in extra:
                if op == "<=" and to_the_ms:  # a bound to the second holds that whole second
                    where += f" AND t.{self.time_field} < %s::timestamptz + interval '1 second'"
                else:
                    where += f" AND t.{self.time_field} {op} %s::timestamptz"
                params = [*params, bound]
            return where, params
        plan = repository._plan(query)
        return None if plan is None else plan[:2]

    def list(self, query):
        found = self._where(query)
        if found is None:
            return [], 0
        where, params = found
        newest_first = not query.sort or query.sort[0][1]
        direction = "DESC" if newest_first else "ASC"
        rows = self.uow.rows(
            f"SELECT {self.shape.select_t}, count(*) OVER () FROM {self.shape.table} t WHERE {where} "
            f"ORDER BY {self._order()} {direction} LIMIT %s OFFSET %s", [*params, query.limit, query.offset])
        total = rows[0][-1] if rows else (self.uow.rows(
            f"SELECT count(*) FROM {self.shape.table} t WHERE {where}", params)[0][0] if query.offset else 0)
        return [self.shape.decode(r[:-1]) for r in rows], total

    def iterate(self, query, limit=None, batch=500):
        """Every entry the query matches, in its order, fetched a batch at a time by id (a CSV
        export of a long log: neither the worker nor one query holds it whole)."""
        found = self._where(query)
        if found is None:
            return
        where, params = found
        newest_first = not query.sort or query.sort[0][1]
        direction, step = ("DESC", "<") if newest_first else ("ASC", ">")
        last, sent = None, 0
        while limit is None or sent < limit:
            size = batch if limit is None else min(batch, limit - sent)
            after = "" if last is None else f" AND t.id {step} %s"
            rows = self.uow.rows(
                f"SELECT {self.shape.select_t} FROM {self.shape.table} t WHERE {where}{after} "
                f"ORDER BY t.id {direction} LIMIT %s", [*params, *([] if last is None else [last]), size])
            for row in rows:
                entry = self.shape.decode(row)
                last = entry["id"]
                sent += 1
                yield entry
            if len(rows) < size:
                return

    def after(self, entry_id, limit=100):
        order = self._order()
        if entry_id is None:
            rows = self.uow.rows(f"SELECT {self.shape.select_t} FROM {self.shape.table} t "
                                 f"ORDER BY {order} LIMIT %s", (limit,))
            return [self.shape.decode(r) for r in rows]
        if not _usable(entry_id):
            return None
        found = self.uow.rows(f"SELECT {order} FROM {self.shape.table} t WHERE t.id = %s", (entry_id,))
        if not found:
            return None
        rows = self.uow.rows(f"SELECT {self.shape.select_t} FROM {self.shape.table} t "
                             f"WHERE {order} > %s ORDER BY {order} LIMIT %s", (found[0][0], limit))
        return [self.shape.decode(r) for r in rows]

    def count(self):
        return self.uow.rows(f"SELECT count(*) FROM {self.shape.table}")[0][0]


class PgAuditLog(PgLogRepository):
    """The audit log (section 12): a table with an index per filter, read newest first by id."""

    collection = "audit"
    time_field = "at"


def _unread(alias, wanted, params):
    """wanted: (true or false, read-all's marker): not read on its own, and newer than the marker."""
    flag, through = wanted
    params.append(through)
    unread = (f"({alias}.id > %s AND NOT EXISTS "
              f"(SELECT 1 FROM notification_reads r WHERE r.id = {alias}.id))")
    return unread if flag else f"NOT {unread}"


class PgNotificationLog(PgLogRepository):
    """Section 13's inboxes: a table read newest first by id (see repositories.NotificationLog
    for how read state is kept apart)."""

    collection = "notifications"
    sql_special = {"unread": _unread}

    def list(self, query):
        if "unread" in query.filters:
            user_id = query.filters.get("user_id")
            inbox = self.uow.notification_inboxes.get(user_id) if isinstance(user_id, str) else None
            through = (inbox or {}).get("read_through") or ""
            query = Query(**{**query.__dict__, "filters": {
                **query.filters, "unread": (bool(query.filters["unread"]), through)}})
        return super().list(query)

    def for_event(self, event_id):
        if not _usable(event_id):
            return []
        rows = self.uow.rows(f"SELECT {self.shape.select_t} FROM notifications t WHERE t.event_id = %s "
                             "ORDER BY t.id", (event_id,))
        return [self.shape.decode(r) for r in rows]


class PgWebhookQueueRepository(PgRepository):
    """The webhook sender's queue, claimed with FOR UPDATE SKIP LOCKED: any number of senders
    share it without waiting on each other."""

    collection = "webhook_queue"

    def any_due(self, now=None):
        """Always worth a claim: SKIP LOCKED takes no lock another writer waits for."""
        return True

    def claim(self, worker, lease_seconds, limit=50, now=None):
        now = now or datetime.now(timezone.utc)
        now_text = timestamp(now)
        until = timestamp(now + timedelta(seconds=lease_seconds))
        rows = self.uow.rows(
            "UPDATE webhook_queue t SET claimed_by = %s, claimed_until = %s::timestamptz, "
            "version = t.version + 1, updated_at = %s::timestamptz "
            "WHERE t.id IN (SELECT id FROM webhook_queue WHERE due_at <= %s::timestamptz AND "
            "(claimed_until IS NULL OR claimed_until < %s::timestamptz) "
            "ORDER BY due_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"RETURNING {self.shape.select_t}",
            (worker, until, now_text, now_text, now_text, limit))
        return sorted((self.shape.decode(r) for r in rows), key=lambda e: (e["due_at"], e["id"]))


def _hidden_prefixes(alias, wanted, params):
    params.append([str(w) for w in wanted])
    return f"split_part({alias}.type, '.', 1) <> ALL(%s)"


class PgEventLog(PgLogRepository):
    """The outbox. Events are written when the unit of work commits, numbered (`seq`) under the
    `event_seq` counter's row lock held to the commit, so their order is the order of commits
    across every server; a NOTIFY in the same transaction wakes the listeners at commit."""

    collection = "events"
    time_field = "at"
    special = EventLog.special
    sql_special = {"hidden_prefixes": _hidden_prefixes}

    def add(self, event_type, data):
        return self.append({"id": "evt_" + new_id(), "type": event_type, "at": timestamp(),
                            "data": data})

    def append(self, record):
        record.setdefault(self.time_field, timestamp())
        self.uow.pending_events.append(json.loads(_dumps(record)))
        return record

    def _order(self):
        return "t.seq"

    def write_pending(self):
        """At commit: take the next numbers and insert the events recorded in this unit of work."""
        events, self.uow.pending_events = self.uow.pending_events, []
        if not events:
            return
        last = self.uow.rows(
            "INSERT INTO counters (id, value) VALUES ('event_seq', %s) ON CONFLICT (id) DO UPDATE "
            "SET value = counters.value + %s RETURNING value", (len(events), len(events)))[0][0]
        rows = []
        for n, event in enumerate(events):
            params, _ = self.shape.encode(event)
            rows.append([*params, last - len(events) + n + 1])
        names = ", ".join(c for c, _ in self.shape.columns)
        marks = ", ".join(KINDS[k].param for _, k in self.shape.columns)
        self.uow.run_many(f"INSERT INTO events ({names}, seq) VALUES ({marks}, %s)", rows)
        self.uow.run(f"NOTIFY {self.uow.store.events_channel}")


SPECIAL = {cls.collection: cls for cls in
           (PgProductRepository, PgCounterRepository, PgOrderRepository, PgUserRepository,
            PgLoginAttemptRepository, PgIdempotencyRepository, PgJobRepository, PgEventLog, PgAuditLog,
            PgMovementRepository, PgStockLevelRepository, PgLocationRepository, PgTransferRepository,
            PgStockCountRepository, PgPurchaseOrderRepository, PgNotificationLog,
            PgWebhookQueueRepository)}


def _repository_class(decl):
    if decl.name in SPECIAL:
        return SPECIAL[decl.name]
    if decl.log:
        return PgLogRepository
    return _Keyed if decl.upsert else PgRepository


REPOSITORIES = {decl.attr: (_repository_class(decl), decl) for decl in DECLARED.values()}


class PgUnitOfWork:
    """`with uow: ...; uow.commit()` — one transaction; leaving the block without commit rolls it back."""

    def __init__(self, store, readonly=False):
        self.store = store
        self.readonly = readonly
        self.conn = None
        self.known = {}  # (table, id, field) -> child rows as last read or written, to skip rewriting them
        self.pending_events = []  # recorded by uow.events.add, written at commit (PgEventLog)
        self._made = []
        self._reset_audit()

    def _reset_audit(self):
        # for the audit log: each record as first read to be changed (None: made here), each
        # record as last written (None: deleted), and what services say the entry is
        self.before, self.written, self.audit_notes = {}, {}, []

    def __enter__(self):
        self.conn = self.store.checkout(self.readonly)
        self.known = {}
        self.pending_events = []
        self._reset_audit()
        self.scratch = {}  # what the services note for the commit hooks (base.BEFORE_COMMIT)
        for name in self._made:  # repositories of an earlier use of this unit of work
            del self.__dict__[name]
        self._made = []
        return self

    def __getattr__(self, name):
        made = REPOSITORIES.get(name)
        if made is None or "conn" not in self.__dict__:
            raise AttributeError(name)
        kind, decl = made
        repository = self.__dict__[name] = kind(self, decl)
        self._made.append(name)
        return repository

    def __exit__(self, exc_type, exc, tb):
        conn, self.conn = self.conn, None
        self.store.checkin(conn)
        return False

    def state(self):
        """Other servers commit without telling this one: no state to cache answers against."""
        return None

    def version_of(self, collection):
        return None

    def wrote(self, collection, record_id, record, created=False):
        key = (collection, record_id)
        if created and key not in self.before:
            self.before[key] = None
        self.written[key] = record

    def changed_records(self):
        """[(collection, id, before, after)] for every record this unit of work wrote, in the
        order first written: before None for a new record (UNKNOWN when it was not read with
        its lock first), after None for a deleted one."""
        before = self.before
        return [(c, rid, before.get((c, rid), UNKNOWN), rec) for (c, rid), rec in self.written.items()]

    def recorded_events(self):
        """The events recorded in this unit of work so far, in order."""
        return list(self.pending_events)

    def commit(self):
        if self.readonly:
            raise StoreError("read-only unit of work")
        run_before_commit(self)  # events' consequences (stock alerts, notifications, deliveries)
        hook = self.store.on_commit
        if hook is not None:  # the audit entry of a request, appended to this same commit
            hook(self)
        if self.pending_events:
            self.events.write_pending()
        with translated():
            self.conn.commit()

    # ---- SQL, with psycopg's errors turned into the store's
    def run(self, query, params=None):
        with translated():
            self.conn.execute(query, params)

    def rows(self, query, params=None):
        with translated():
            return self.conn.execute(query, params).fetchall()

    def run_many(self, query, seq):
        with translated():
            with self.conn.cursor() as cur:
                cur.executemany(query, seq)

    @contextmanager
    def savepoint(self, needed=True):
        if not needed:
            yield
            return
        self.run("SAVEPOINT backroom_write")
        try:
            yield
        except BaseException:
            try:
                self.conn.execute("ROLLBACK TO SAVEPOINT backroom_write")
            except psycopg.Error:
                pass  # the connection is gone; the original error says more
            raise
        self.run("RELEASE SAVEPOINT backroom_write")

    def claim(self, *what):
        """In a writing unit of work, wait for any other writer that claimed the same thing, until
        it ends. Rows that exist are locked by reading them; this covers the look-up that finds
        nothing yet ("create the admin unless that username exists")."""
        if not self.readonly:
            # advisory locks are database-wide: the schema's name keeps shops apart
            self.run("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.store.schema or "", *what),))

    def remember(self, shape, record):
        for field in shape.children:
            self.known[(shape.table, record["id"], field.name)] = _dumps(record.get(field.name, ABSENT))

    # ---- whole collections: copying a shop, resetting test data
    def dump(self, collection):
        """Every record of a collection, in id (creation) order."""
        shape = SHAPES[collection]
        order = "t.seq" if collection == "events" else "t.id"  # events: in commit order
        query = f"SELECT {shape.select_t} FROM {shape.table} t ORDER BY {order}"
        return [shape.decode(row) for row in self.rows(query)]

    def load(self, collection, records):
        """Insert records exactly as given (ids, timestamps and versions kept)."""
        shape = SHAPES[collection]
        rows, lines = [], {f.name: [] for f in shape.children}
        for record in records:
            params, children = shape.encode(record)
            rows.append(params)
            for name, entries in children.items():
                lines[name] += [(record["id"], n, *line) for n, line in enumerate(entries)]
        if rows and collection == "events":  # numbered in the order given, after any there
            self.pending_events = [json.loads(_dumps(r)) for r in records]
            self.events.write_pending()
        elif rows:
            self.run_many(shape.insert_sql, rows)
        for field in shape.children:
            if lines[field.name]:
                self.run_many(shape.child_shapes[field.name].insert_sql, lines[field.name])

    def counts(self):
        return {c: self.rows(f"SELECT count(*) FROM {s.table}")[0][0] for c, s in SHAPES.items()}

    def wipe(self, truncate=True):
        """Empty every table: TRUNCATE for a real store (scripts/move_shop.py --force); DELETE,
        much quicker on a handful of rows, between tests."""
        if truncate:
            self.run(f"TRUNCATE {', '.join(TABLES)}")
            return
        for table in reversed(TABLES):
            self.run(f"DELETE FROM {table}")


# ---- migrations -------------------------------------------------------------------------------------

# migrations from this number on may use the tables of every declared collection (sync_declared
# runs before them); those before it made the first schema, which the declarations describe
FIRST_DATA_MIGRATION = 3


def migration_files():
    """[(version, name, path)] in the order they apply."""
    found = []
    for entry in sorted(os.listdir(MIGRATIONS_DIR)):
        match = _MIGRATION_FILE.match(entry)
        if match:
            found.append((int(match.group(1)), entry[:-4], os.path.join(MIGRATIONS_DIR, entry)))
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise StoreError("two migrations share a version number")
    return found


def where(url):
    """host:port/dbname of a URL, without its password, for messages."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "(an unreadable database URL)"
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def check_schema_name(schema):
    if schema and not _SCHEMA_NAME.match(schema):
        raise StoreError(f"schema name {schema!r} must be lower-case letters, digits and _ "
                         "(at most 63, not starting with a digit)")
    return schema or None


def connection_kwargs(url, schema=None, lock_timeout=10.0):
    """psycopg.connect() keywords: the schema as search_path, a lock timeout, a name in pg_stat_activity."""
    try:
        options = conninfo_to_dict(url).get("options") or ""
    except psycopg.Error as exc:
        raise StoreError(f"SHOP_DATABASE_URL is not a PostgreSQL URL: {exc}") from None
    options += f" -c lock_timeout={int(lock_timeout * 1000)}"
    if schema:
        options += f" -c search_path={schema}"
    return {"options": options.strip(), "application_name": "backroom", "connect_timeout": 5}


def connect(url, schema=None, autocommit=False, lock_timeout=10.0):
    """One connection outside any pool (migrations, scripts, tests)."""
    try:
        return psycopg.connect(url, autocommit=autocommit,
                               **connection_kwargs(url, check_schema_name(schema), lock_timeout))
    except psycopg.OperationalError as exc:
        raise StoreError(f"cannot connect to PostgreSQL at {where(url)}: {exc}".strip()) from exc


# ---- tables and indexes from the declarations -------------------------------------------------

COLUMN_TYPES = {"text": "text", "int": "bigint", "int32": "integer", "bool": "boolean",
                "money": "numeric(12, 2)", "ts": "timestamptz", "ts_ms": "timestamptz", "date": "date", "json": "json",
                "floats": "double precision[]"}


def _column_sql(column, kind):
    collate = ' COLLATE "C"' if kind == "text" and (column == "id" or column.endswith("_id")) else ""
    return f"{column} {COLUMN_TYPES[kind]}{collate}"


def declared_ddl(decl):
    """The statements that give a declared collection its table(s), columns and indexes; each is a
    no-op where the database has it already, so they may run on every start-up."""
    shape = SHAPES[decl.name]
    table = shape.table
    columns = [(c, k) for c, k in shape.columns if c not in ("id", "extra")]
    out = [f'CREATE TABLE IF NOT EXISTS {table} (id text COLLATE "C" PRIMARY KEY, extra json)']
    out += [f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {_column_sql(c, k)}" for c, k in columns]
    if decl.name == "events":  # the outbox's commit order (see PgEventLog)
        out.append("ALTER TABLE events ADD COLUMN IF NOT EXISTS seq bigint")
        out.append("CREATE UNIQUE INDEX IF NOT EXISTS events_seq_key ON events (seq)")
    for field in shape.children:
        child = shape.child_shapes[field.name]
        out.append(f'CREATE TABLE IF NOT EXISTS {child.table} ({child.parent_key} text COLLATE "C" NOT NULL '
                   f"REFERENCES {table} (id) ON DELETE CASCADE, position integer NOT NULL, extra json, "
                   f"PRIMARY KEY ({child.parent_key}, position))")
        out += [f"ALTER TABLE {child.table} ADD COLUMN IF NOT EXISTS {_column_sql(c, k)}"
                for c, k in child.columns if c != "extra"]
    for unique in decl.unique:
        column = shape.by_name[unique.field].column
        expr = unique.sql or _sql(KEY_SQL[unique.key], column)
        out.append(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_{unique.field}_key ON {table} ({expr})")
    for fname in decl.lookups:
        column = shape.by_name[fname].column
        out.append(f"CREATE INDEX IF NOT EXISTS {table}_{column}_idx ON {table} ({column}, id)")
    for index in decl.indexes:
        name = index.name or f"{table}_{'_'.join(index.columns)}_idx"
        out.append(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(index.columns)})")
    return out


def sync_declared(conn):
    """Create what the declarations name and the database lacks (under migrate()'s lock); a
    digest of the statements, once applied, makes the next start-up skip them."""
    statements = [sql for decl in DECLARED.values() for sql in declared_ddl(decl)]
    digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
    conn.execute("CREATE TABLE IF NOT EXISTS schema_declarations (digest text PRIMARY KEY, "
                 "applied_at timestamptz NOT NULL DEFAULT now())")
    if conn.execute("SELECT 1 FROM schema_declarations WHERE digest = %s", (digest,)).fetchone():
        return False
    with conn.transaction():
        for sql in statements:
            conn.execute(sql)
        conn.execute("INSERT INTO schema_declarations (digest) VALUES (%s)", (digest,))
    return True


_migrated = set()  # (url, schema) this process has brought up to date


def migrate(url, schema=None, out=None):
    """Apply every migration not yet recorded in schema_migrations, in order; the names applied.

    Runs under a session advisory lock, so any number of workers may start at once: one
    migrates, the others wait and then find nothing left to do."""
    schema = check_schema_name(schema)
    conn = connect(url, schema, autocommit=True)
    applied = []
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (_lock_key("backroom", "migrate", schema or ""),))
        if schema:
            conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(schema)))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version integer PRIMARY KEY, name text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        synced = False
        for version, name, path in migration_files():
            if version in done:
                continue
            if version >= FIRST_DATA_MIGRATION and not synced:
                # later migrations move data between declared tables: those exist first
                synced = True
                if sync_declared(conn) and out is not None:
                    print("applied the declared collections' tables and indexes", file=out)
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            with conn.transaction():
                conn.execute(text)
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            applied.append(name)
            if out is not None:
                print(f"applied {name}", file=out)
        if sync_declared(conn):
            if out is not None:
                print("applied the declared collections' tables and indexes", file=out)
    except psycopg.Error as exc:
        raise StoreError(f"migrating {where(url)} failed: {exc}") from exc
    finally:
        conn.close()  # also releases the advisory lock
    _migrated.add((url, schema))
    return applied


# ---- the store ----------------------------------------------------------------------------------------

_open_stores = weakref.WeakSet()


def _close_pools_before_fork():
    # a child must never share a live connection with its parent: libpq's goodbye from one
    # process would end the session under the other
    for store in list(_open_stores):
        store.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_close_pools_before_fork)


class PostgresStore:
    """The store in a PostgreSQL database (optionally in one schema of it)."""

    name = "postgres"
    on_commit = None  # called with each writing unit of work just before it commits (the audit log)

    def __init__(self, url, schema=None, pool_size=4, lock_timeout=10.0, migrate_now=True):
        if not url:
            raise StoreError("no database URL")
        self.url = url
        self.schema = check_schema_name(schema)
        self.pool_size = pool_size
        self.lock_timeout = lock_timeout
        self._kwargs = connection_kwargs(url, self.schema, lock_timeout)
        self._pool = None
        self._pid = None
        self._lock = threading.Lock()
        # LISTEN/NOTIFY channels are database-wide: the schema's name keeps shops apart
        self.events_channel = "backroom_events" + (f"_{self.schema}" if self.schema else "")
        self._listener = None  # (pid, connection) that LISTENs on events_channel
        if migrate_now and (url, self.schema) not in _migrated:
            migrate(url, self.schema)

    def __repr__(self):
        return f"<PostgresStore {where(self.url)} schema={self.schema}>"

    # ---- connections
    def _pool_here(self):
        pid = os.getpid()
        pool = self._pool
        if pool is not None and self._pid == pid:
            return pool
        with self._lock:
            if self._pool is None or self._pid != pid:
                self._pool = None  # made in a parent process: not ours to use or close
                connect(self.url, self.schema, lock_timeout=self.lock_timeout).close()  # fail fast when down
                pool = ConnectionPool(self.url, kwargs=self._kwargs, min_size=1, max_size=self.pool_size,
                                      open=False, timeout=5, num_workers=1, name=f"backroom-{pid}",
                                      check=ConnectionPool.check_connection)  # survives a database restart
                try:
                    pool.open(wait=True, timeout=5)
                except PoolTimeout as exc:
                    pool.close()
                    raise StoreError(f"cannot connect to PostgreSQL at {where(self.url)}") from exc
                self._pool, self._pid = pool, pid
                _open_stores.add(self)
            return self._pool

    def checkout(self, readonly):
        pool = self._pool_here()
        try:
            conn = pool.getconn()
        except PoolTimeout as exc:
            raise StoreError(f"no connection to PostgreSQL at {where(self.url)} became free") from exc
        try:
            conn.isolation_level = (psycopg.IsolationLevel.REPEATABLE_READ if readonly
                                    else psycopg.IsolationLevel.READ_COMMITTED)
            conn.read_only = readonly
        except psycopg.Error:
            pool.putconn(conn)
            raise
        return conn

    def checkin(self, conn):
        try:
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                conn.rollback()
        except psycopg.Error:
            pass  # a broken connection: the pool throws it away
        pool = self._pool
        if pool is not None and self._pid == os.getpid():
            pool.putconn(conn)
        else:
            conn.close()

    # ---- the store protocol
    def unit_of_work(self):
        return PgUnitOfWork(self)

    def reader(self):
        return PgUnitOfWork(self, readonly=True)

    def check(self):
        """Readiness: the schema is there and the server accepts writes (not a standby)."""
        with self.unit_of_work() as uow:
            standby, _ = uow.rows("SELECT pg_is_in_recovery(), (SELECT count(*) FROM schema_migrations)")[0]
        if standby:
            raise StoreError("the database is a read-only standby")
        return True

    # ---- events: read in commit order, woken by NOTIFY
    def events_after(self, event_id, limit=100):
        """Committed events after event_id (None: from the first), in commit order; None when
        event_id is not in the log."""
        with self.reader() as uow:
            return uow.events.after(event_id, limit)

    def wait_for_events(self, timeout):
        """Block until a NOTIFY says events were committed (by any server), or timeout; True if woken."""
        if self._listener is None or self._listener[0] != os.getpid() or self._listener[1].closed:
            conn = connect(self.url, self.schema, autocommit=True)
            conn.execute(f"LISTEN {self.events_channel}")
            self._listener = (os.getpid(), conn)
        conn = self._listener[1]
        try:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error:
            conn.close()
        return False

    def close(self):
        listener, self._listener = self._listener, None
        if listener is not None and listener[0] == os.getpid():
            listener[1].close()
        with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None and self._pid == os.getpid():
                pool.close()
            _open_stores.discard(self)
