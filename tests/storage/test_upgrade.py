"""A store made by the release before locations, started with this one: the start-up step gives it
the default location "Shop" (MAIN) holding each product's stock, once, on both backends.

The old store is made by the old release's own code, taken from git (the parent of the commit that
added migration 0003) and run in a subprocess, so what is upgraded is exactly what it wrote."""
import os
import subprocess
import sys

import pytest

from app import create_app
from app.storage.jsonfile import JsonFileStore
from app.storage.postgres import PostgresStore, migration_files
from tests import pg
from tests.processes import CTX, TIMEOUT, run_processes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIGRATION = "app/storage/migrations/0003_default_location.sql"

OLD_SHOP = """
import sys
from app.services import catalog, orders, stock
if sys.argv[1] == "json":
    from app.storage.jsonfile import JsonFileStore
    store = JsonFileStore(sys.argv[2])
else:
    from app.storage.postgres import PostgresStore
    store = PostgresStore(sys.argv[2], sys.argv[3])
with store.unit_of_work() as uow:
    a = catalog.create_product(uow, {"sku": "A", "title": "A", "price": "2.00", "stock": 5}, None)
    b = catalog.create_product(uow, {"sku": "B", "title": "B", "price": "3.00", "stock": 0}, None)
    orders.place_order(uow, {"items": [{"product_id": a["id"], "quantity": 2}]}, None, "EUR")
    stock.adjust_stock(uow, b["id"], 4, "received")
    uow.commit()
with store.unit_of_work() as uow:
    assert not hasattr(uow, "locations") or uow.locations.count() == 0
store.close()
"""


def _git(*args):
    return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True, check=True).stdout.strip()


def release_before(migration, folder, what):
    """A copy (app, schemas, scripts) in folder of the release before the commit that added
    this migration file; skips while it is not committed yet."""
    try:
        added = _git("log", "--format=%H", "--diff-filter=A", "--", migration).splitlines()
        if not added:
            pytest.skip(f"{migration} is not committed yet")
        base = _git("rev-parse", f"{added[-1]}^")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"the release before {what} cannot be read from git: {exc}")
    archive = subprocess.run(["git", "-C", ROOT, "archive", base, "app", "schemas", "scripts"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


@pytest.fixture(scope="module")
def old_release(tmp_path_factory):
    """A copy of the release before locations (app, schemas, scripts)."""
    return release_before(MIGRATION, tmp_path_factory.mktemp("old-release"), "locations")


def make_old_shop(old_release, *where):
    env = {**os.environ, "PYTHONPATH": str(old_release)}
    subprocess.run([sys.executable, "-c", OLD_SHOP, *where], cwd=str(old_release), env=env, check=True,
                   timeout=120)


def assert_upgraded(store):
    with store.reader() as uow:
        [main] = uow.locations.list(pg_query())[0]
        assert (main["name"], main["code"], main["kind"], main["is_default"], main["status"]) == (
            "Shop", "MAIN", "store", True, "active")
        products = {p["sku"]: p for p in uow.products.list(pg_query())[0]}
        for sku, stock in (("A", 3), ("B", 4)):
            product = products[sku]
            assert product["stock"] == stock
            assert uow.stock_levels.quantity(product["id"], main["id"]) == stock
            movements = uow.movements.for_product(product["id"])
            assert all(m["location_id"] == main["id"] and m["location_stock_after"] == m["stock_after"]
                       for m in movements)
            assert sum(m["delta"] for m in movements) == stock
        [order] = uow.orders.list(pg_query())[0]
        assert order["location_id"] == main["id"]


def pg_query():
    from app.storage.base import Query
    return Query(limit=200)


def start_app(data_dir):
    app = create_app({"DATA_DIR": str(data_dir), "DATABASE_URL": None})
    app.extensions["backroom.store"].close()


def test_a_json_store_of_the_old_release_gets_its_default_location_once(old_release, tmp_path):
    data = tmp_path / "data"
    make_old_shop(old_release, "json", str(data))

    workers = 3  # started at once, as gunicorn starts them
    run_processes(_start_app_in_process, [(str(data), CTX.Barrier(workers))] * workers)
    start_app(data)  # and once more later: left alone

    store = JsonFileStore(str(data))
    assert_upgraded(store)
    with store.reader() as uow:
        assert uow.locations.count() == 1
    store.close()


def _start_app_in_process(results, data_dir, barrier):
    barrier.wait(timeout=TIMEOUT)
    start_app(data_dir)
    results.put(1)


def test_a_postgres_store_of_the_old_release_is_upgraded_by_migration_0003(old_release, tmp_path):
    url = pg.require_postgres()
    schema = pg.new_schema_name("upgrade")
    try:
        make_old_shop(old_release, "postgres", url, schema)
        store = PostgresStore(url, schema)  # opening it migrates
        assert_upgraded(store)
        with store.reader() as uow:
            # 0003 and every later migration (0016: section 16's image bytes) applied, in order
            assert [v for (v,) in uow.rows("SELECT version FROM schema_migrations ORDER BY version")] == \
                [version for version, _, _ in migration_files()]
        store.close()
        app = create_app({"DATA_DIR": str(tmp_path), "DATABASE_URL": url, "DATABASE_SCHEMA": schema})
        store = app.extensions["backroom.store"]
        with store.reader() as uow:
            assert uow.locations.count() == 1
        assert_upgraded(store)
        store.close()
    finally:
        pg.drop_schema(url, schema)
