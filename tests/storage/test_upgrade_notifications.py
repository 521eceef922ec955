"""A store made by the release before notifications became a log (each one a record with its own
read_at), started with this one: its notifications move into the log once, on both backends,
with what was read still read (its first read_at kept), the unread counts right, and new
notifications added after them.

The old store is made by the old release's own code, taken from git (the parent of the commit that
added migration 0017) and run in a subprocess, as tests/storage/test_upgrade.py does."""
import os
import subprocess
import sys

import pytest

from app import create_app
from app.services import notifications
from app.storage.base import Query
from app.storage.jsonfile import JsonFileStore
from tests import pg
from tests.processes import CTX, TIMEOUT, run_processes
from tests.storage.test_upgrade import release_before

MIGRATION = "app/storage/migrations/0017_notification_reads.sql"

OLD_SHOP = """
import json, sys
from app.services import catalog, events, locations, notifications, orders, users
if sys.argv[1] == "json":
    from app.storage.jsonfile import JsonFileStore
    store = JsonFileStore(sys.argv[2])
else:
    from app.storage.postgres import PostgresStore
    store = PostgresStore(sys.argv[2], sys.argv[3])
with store.unit_of_work() as uow:
    locations.ensure_default_location(uow)
    admin = users.create_user(uow, {"username": "boss", "password": "long-enough-1", "role": "admin"})
    manager = users.create_user(uow, {"username": "mia", "password": "long-enough-1", "role": "manager"})
    products = [catalog.create_product(uow, {"sku": f"P{n}", "title": f"Book {n}", "price": "2.00",
                                             "stock": 3, "low_stock_threshold": 2}, None) for n in range(3)]
    uow.commit()
for product in products:  # each a stock.low crossing: a notification for the admin and the manager
    with store.unit_of_work() as uow:
        orders.place_order(uow, {"items": [{"product_id": product["id"], "quantity": 1}]}, None, "EUR")
        uow.commit()
from app.services import webhooks
with store.unit_of_work() as uow:
    hook = webhooks.create_webhook(uow, {"url": "http://127.0.0.1/h", "events": ["*"]}, allow_private=True)
    uow.commit()
pings = []
for _ in range(2):
    with store.unit_of_work() as uow:
        pings.append(webhooks.ping(uow, hook["id"])["id"])
        uow.commit()
with store.unit_of_work() as uow:
    for entry in uow.webhook_queue.claim("s:1", 60, limit=50):
        if entry["id"] == pings[0]:
            webhooks.record_attempt(uow, entry["id"], "s:1", {"ok": True, "status": 204, "ms": 2, "error": None})
        else:
            uow.webhook_queue.update({**entry, "claimed_by": None, "claimed_until": None})
    uow.commit()
with store.unit_of_work() as uow:
    mine, _ = uow.notifications.list(notifications.Query(filters={"user_id": admin["id"]}, limit=10))
    oldest = sorted(mine, key=lambda n: n["id"])[0]
    read = notifications.mark_read(uow, admin["id"], oldest["id"])
    uow.commit()
store.close()
print(json.dumps({"admin": admin["id"], "manager": manager["id"], "read": read["id"],
                  "read_at": read["read_at"], "hook": hook["id"], "pings": pings}))
"""


@pytest.fixture(scope="module")
def old_release(tmp_path_factory):
    """A copy of the release before notifications were a log (app, schemas, scripts)."""
    return release_before(MIGRATION, tmp_path_factory.mktemp("old-release-notifications"),
                          "notifications were a log")


def make_old_shop(old_release, *where):
    import json
    env = {**os.environ, "PYTHONPATH": str(old_release)}
    done = subprocess.run([sys.executable, "-c", OLD_SHOP, *where], cwd=str(old_release), env=env,
                          check=True, timeout=120, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_upgraded(store, old):
    with store.reader() as uow:
        admin, _ = notifications.list_notifications(uow, old["admin"], Query(limit=50))
        manager, _ = notifications.list_notifications(uow, old["manager"], Query(limit=50))
        assert [n["type"] for n in admin] == ["stock.low"] * 3
        assert len(manager) == 3
        read = [n for n in admin if n["read_at"]]
        assert [(n["id"], n["read_at"], n["version"]) for n in read] == [(old["read"], old["read_at"], 2)]
        assert notifications.unread_count(uow, old["admin"]) == 2
        assert notifications.unread_count(uow, old["manager"]) == 3
        unread, total = notifications.list_notifications(uow, old["admin"], Query(filters={"unread": True}))
        assert total == 2 and old["read"] not in [n["id"] for n in unread]
        assert uow.notifications.count() == 6
        # the webhook's deliveries: the delivered one (retired on the JSON store), the pending one
        from app.services import webhooks
        listed, total = webhooks.list_deliveries(uow, old["hook"], Query(sort=[("id", True)], limit=50))
        statuses = {d["id"]: d["status"] for d in listed}
        assert total == len(listed) and statuses[old["pings"][0]] == "delivered"
        assert statuses[old["pings"][1]] == "pending"


def _after_a_new_crossing(store, old):
    """A new notification lands after the moved ones, unread; read-all reads all of them."""
    from app.services import catalog, orders
    with store.unit_of_work() as uow:
        product = catalog.create_product(uow, {"sku": "NEW", "title": "New", "price": "2.00", "stock": 3,
                                               "low_stock_threshold": 2}, None)
        uow.commit()
    with store.unit_of_work() as uow:
        orders.place_order(uow, {"items": [{"product_id": product["id"], "quantity": 1}]}, None, "EUR")
        uow.commit()
    with store.reader() as uow:
        mine, total = notifications.list_notifications(uow, old["admin"], Query(limit=50))
        assert total == 4 and mine[0]["resource_id"] == product["id"] and mine[0]["read_at"] is None
        assert notifications.unread_count(uow, old["admin"]) == 3
    with store.unit_of_work() as uow:
        assert notifications.read_all(uow, old["admin"]) == 3
        uow.commit()
    with store.reader() as uow:
        mine, _ = notifications.list_notifications(uow, old["admin"], Query(limit=50))
        assert all(n["read_at"] for n in mine)
        assert [n["read_at"] for n in mine if n["id"] == old["read"]] == [old["read_at"]]


def start_app(data_dir):
    app = create_app({"DATA_DIR": str(data_dir), "DATABASE_URL": None})
    app.extensions["backroom.store"].close()


def _start_app_in_process(results, data_dir, barrier):
    barrier.wait(timeout=TIMEOUT)
    start_app(data_dir)
    results.put(1)


def test_a_json_store_of_the_old_release_moves_its_notifications_into_the_log_once(old_release, tmp_path):
    data = tmp_path / "data"
    old = make_old_shop(old_release, "json", str(data))
    assert (data / "notifications.json").exists()

    workers = 3  # started at once, as gunicorn starts them
    run_processes(_start_app_in_process, [(str(data), CTX.Barrier(workers))] * workers)
    start_app(data)  # and once more later: left alone

    assert not (data / "notifications.json").exists()
    store = JsonFileStore(str(data))
    assert "notifications" not in store.tables.records  # in the log's files, not in memory
    held = store.tables.records["webhook_deliveries"]
    assert old["pings"][1] in held and old["pings"][0] not in held  # the delivered one retired
    assert_upgraded(store, old)
    _after_a_new_crossing(store, old)
    store.close()


def test_a_postgres_store_of_the_old_release_is_upgraded_by_migration_0017(old_release, tmp_path):
    url = pg.require_postgres()
    schema = pg.new_schema_name("upgrade_ntf")
    try:
        old = make_old_shop(old_release, "postgres", url, schema)
        app = create_app({"DATA_DIR": str(tmp_path), "DATABASE_URL": url, "DATABASE_SCHEMA": schema})
        store = app.extensions["backroom.store"]
        assert_upgraded(store, old)
        with store.reader() as uow:
            columns = {c for (c,) in uow.rows(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = 'notifications'", (schema,))}
        assert "read_at" not in columns and "version" not in columns
        _after_a_new_crossing(store, old)
        store.close()
    finally:
        pg.drop_schema(url, schema)
