"""PostgreSQL for the tests: the server from SHOP_TEST_DATABASE_URL, one schema per use, skip or fail when absent.

- require_postgres(): the URL, or skip the test with the reason; with SHOP_TEST_REQUIRE_POSTGRES=1
  (set by .ci/run) a missing or unreachable server fails the test instead.
- backend_overrides(backend, tmp_path=None): the SHOP_* environment for a server (gunicorn, a
  script) on that backend with an empty store of its own; PostgreSQL gets a fresh schema,
  dropped when the test session ends.
- PgShop: one migrated schema for a whole run, emptied (or reset to the seed users) per test.
"""
import os
import secrets
import threading

import pytest

from app.storage.base import StoreError
from app.storage import postgres
from app.storage.postgres import PostgresStore, connect, where

ENV_URL = "SHOP_TEST_DATABASE_URL"
ENV_REQUIRE = "SHOP_TEST_REQUIRE_POSTGRES"

_probed = {}
_created = []  # (url, schema) made by backend_overrides, dropped at the end of the session
_created_lock = threading.Lock()


def database_url():
    return os.environ.get(ENV_URL) or None


def unavailable_reason():
    """None when the test database answers; otherwise a sentence saying why not (probed once per process)."""
    url = database_url()
    if not url:
        return (f"PostgreSQL runs need {ENV_URL} "
                "(e.g. postgresql://postgres@127.0.0.1:5432/test); it is not set")
    if url not in _probed:
        try:
            conn = connect(url, autocommit=True)
            conn.execute("SELECT 1")
            conn.close()
            _probed[url] = None
        except StoreError as exc:
            _probed[url] = f"PostgreSQL at {where(url)} ({ENV_URL}) is unreachable: {exc}"
    return _probed[url]


def require_postgres():
    """The test database's URL, or skip (fail when SHOP_TEST_REQUIRE_POSTGRES=1) saying why not."""
    reason = unavailable_reason()
    if reason:
        if os.environ.get(ENV_REQUIRE) == "1":
            pytest.fail(f"{reason}; {ENV_REQUIRE}=1 makes this a failure", pytrace=False)
        pytest.skip(reason)
    return database_url()


def open_stores():
    """PostgreSQL stores of this process whose connection pool is open."""
    return list(postgres._open_stores)


def new_schema_name(label="t"):
    return f"backroom_{label}_{os.getpid()}_{secrets.token_hex(3)}"


def drop_schema(url, schema):
    conn = connect(url, autocommit=True)
    try:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        conn.close()


def backend_overrides(backend, tmp_path=None):
    """SHOP_* variables that run a server on `backend` with an empty store of its own.

    "json": SHOP_DATABASE_URL empty (JSON files in SHOP_DATA_DIR).
    "postgres": SHOP_DATABASE_URL and a fresh SHOP_DATABASE_SCHEMA (created and migrated by the
    server at start-up, dropped at the end of the test session); skips (or fails) without a server.
    With tmp_path, SHOP_DATA_DIR is tmp_path/"data" (on PostgreSQL it holds only secret.key).
    Pass them to a subprocess as environment, or to create_app() without the SHOP_ prefix.
    """
    env = {}
    if tmp_path is not None:
        env["SHOP_DATA_DIR"] = str(tmp_path / "data")
    if backend == "json":
        env["SHOP_DATABASE_URL"] = ""
        return env
    if backend != "postgres":
        raise ValueError(f"unknown backend {backend!r}")
    url = require_postgres()
    schema = new_schema_name("srv")
    with _created_lock:
        _created.append((url, schema))
    env.update(SHOP_DATABASE_URL=url, SHOP_DATABASE_SCHEMA=schema)
    return env


def drop_created_schemas():
    with _created_lock:
        made, _created[:] = list(_created), []
    for url, schema in made:
        try:
            drop_schema(url, schema)
        except StoreError:
            pass


class PgShop:
    """One migrated schema for a test run; wipe() empties it, reset() leaves only the seed records."""

    def __init__(self, url, label, seed=None, secret=None):
        self.url = url
        self.schema = new_schema_name(label)
        self.seed = seed or {}  # collection -> records
        self.secret = secret
        self.store = PostgresStore(url, self.schema, pool_size=1)

    def wipe(self):
        with self.store.unit_of_work() as uow:
            uow.wipe(truncate=False)
            uow.commit()

    def reset(self):
        with self.store.unit_of_work() as uow:
            uow.wipe(truncate=False)
            for collection, records in self.seed.items():
                uow.load(collection, records)
            uow.commit()

    def config(self):
        """create_app() overrides for this schema."""
        config = {"DATABASE_URL": self.url, "DATABASE_SCHEMA": self.schema}
        if self.secret:
            config["SECRET_KEY"] = self.secret
        return config

    def drop(self):
        self.store.close()
        drop_schema(self.url, self.schema)
