"""What only the PostgreSQL backend has: migrations, connections across fork, its errors and its schema."""
import multiprocessing
import threading
import time

import psycopg
import pytest

from app import create_app
from app.storage.base import LockTimeout, StoreError, UniqueViolation
from app.storage.declarations import COLLECTIONS as DECLARED
from app.storage.postgres import SHAPES, PostgresStore, connect, migrate, migration_files, sync_declared
from scripts import migrate as migrate_script

from .. import pg
from .test_contract import LOC, commit, order, product, read, stocked, user

FORK = multiprocessing.get_context("fork")


@pytest.fixture
def database():
    return pg.require_postgres()


@pytest.fixture
def fresh_schema(database):
    """A schema name nobody has used; dropped afterwards."""
    schema = pg.new_schema_name("mig")
    yield schema
    pg.drop_schema(database, schema)


@pytest.fixture
def shop(pg_shop):
    pg_shop.wipe()
    store = PostgresStore(pg_shop.url, pg_shop.schema)
    yield store
    store.close()


def tables_in(url, schema):
    conn = connect(url, autocommit=True)
    try:
        return {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))}
    finally:
        conn.close()


def migrate_in_child(url, schema, results):
    try:
        results.put(("ok", migrate(url, schema)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        results.put(("error", repr(exc)))


def test_migrations_apply_once_in_order_and_are_recorded(database, fresh_schema):
    names = [name for _, name, _ in migration_files()]
    assert names[0] == "0001_initial" and names == sorted(names)

    assert migrate(database, fresh_schema) == names
    assert migrate(database, fresh_schema) == []

    assert {"products", "stock_movements", "orders", "order_lines", "deliveries", "delivery_events", "users",
            "sessions", "login_attempts", "idempotency_keys", "counters", "events", "jobs",
            "schema_migrations"} <= tables_in(database, fresh_schema)
    assert [n for n, _ in migrate_script.applied_migrations(database, fresh_schema)] == names


def test_every_declared_collection_gets_its_table_columns_and_indexes(database, fresh_schema):
    migrate(database, fresh_schema)
    conn = connect(database, fresh_schema, autocommit=True)
    try:
        columns = {(t, c) for t, c in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
            (fresh_schema,))}
        indexes = {name for (name,) in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (fresh_schema,))}
    finally:
        conn.close()
    for decl in DECLARED.values():
        shape = SHAPES[decl.name]
        for column, _ in shape.columns:
            assert (shape.table, column) in columns, (shape.table, column)
        for unique in decl.unique:
            assert f"{shape.table}_{unique.field}_key" in indexes
        for fname in decl.lookups:
            assert f"{shape.table}_{fname}_idx" in indexes
    assert {"events_seq_key", "events_type_seq_idx", "jobs_status_run_at_id_idx"} <= indexes
    # a later start-up finds nothing to do (the declarations' digest is recorded)
    conn = connect(database, fresh_schema, autocommit=True)
    try:
        assert sync_declared(conn) is False
    finally:
        conn.close()


def test_workers_starting_at_once_migrate_a_new_schema_exactly_once(database, fresh_schema):
    results = FORK.Queue()
    procs = [FORK.Process(target=migrate_in_child, args=(database, fresh_schema, results)) for _ in range(4)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    assert sorted(len(applied) for _, applied in outcomes) == [0, 0, 0, len(migration_files())]


def test_the_migrate_command_reports_what_it_did(database, fresh_schema, capsys):
    assert migrate_script.main(["--database-url", database, "--schema", fresh_schema]) == 0
    assert f"{len(migration_files())} migration(s) applied" in capsys.readouterr().out
    assert migrate_script.main(["--database-url", database, "--schema", fresh_schema]) == 0
    assert "already up to date" in capsys.readouterr().out
    assert migrate_script.main(["--database-url", database, "--schema", fresh_schema, "--list"]) == 0
    assert "0001_initial" in capsys.readouterr().out


def test_the_schema_holds_the_rules_even_against_raw_sql(shop, pg_shop):
    p = commit(shop, lambda uow: uow.products.add(product(stock=1, barcode="036000291452")))
    conn = connect(pg_shop.url, pg_shop.schema, autocommit=True)
    try:
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE products SET stock = -1 WHERE id = %s", (p["id"],))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO products (id, sku, title, price, stock, created_at, updated_at, barcode) "
                         "VALUES ('x', 'other', 't', 1, 0, now(), now(), '0036000291452')")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO stock_movements (id, product_id, delta, reason, created_at) "
                         "VALUES ('m', 'no-such-product', 1, 'count', now())")
        kinds = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                  "WHERE table_schema = %s AND table_name = 'products'", (pg_shop.schema,)))
    finally:
        conn.close()
    assert kinds["price"] == "numeric" and kinds["created_at"] == "timestamp with time zone"


def test_a_store_used_before_fork_works_in_the_child_and_stays_working_in_the_parent(shop):
    p = stocked(shop, **{LOC: 5})
    parent_pool = shop._pool_here()
    results = FORK.Queue()

    def child():
        pool_is_new = shop._pool_here() is not parent_pool
        updated, _ = commit(shop, lambda uow: uow.products.change_stock(p["id"], LOC, -1))
        results.put((pool_is_new, updated["stock"]))
        shop.close()

    proc = FORK.Process(target=child)
    proc.start()
    assert results.get(timeout=30) == (True, 4)
    proc.join(timeout=30)
    assert proc.exitcode == 0
    assert read(shop, lambda uow: uow.products.get(p["id"]))["stock"] == 4
    assert commit(shop, lambda uow: uow.products.change_stock(p["id"], LOC, -1))[0]["stock"] == 3


def test_an_unreachable_server_is_a_store_error():
    with pytest.raises(StoreError):
        PostgresStore("postgresql://postgres@127.0.0.1:1/nothing")
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/nothing", migrate_now=False)
    with pytest.raises(StoreError):
        with store.reader() as uow:
            uow.products.count()


def test_a_schema_name_that_is_not_a_plain_identifier_is_refused(database):
    for bad in ("Shop", "a-b", "x; DROP TABLE users", "1abc"):
        with pytest.raises(StoreError):
            PostgresStore(database, bad)


def test_two_writers_locking_in_opposite_orders_end_with_one_busy_error(shop):
    a, b = commit(shop, lambda uow: [uow.products.add(product()), uow.products.add(product())])
    both_hold_one = threading.Barrier(2)
    outcomes = []

    def writer(first, second):
        try:
            with shop.unit_of_work() as uow:
                uow.products.get(first["id"])
                both_hold_one.wait(timeout=10)
                uow.products.get(second["id"])
                uow.commit()
            outcomes.append("committed")
        except LockTimeout:
            outcomes.append("busy")

    threads = [threading.Thread(target=writer, args=pair) for pair in ((a, b), (b, a))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["busy", "committed"]


def test_a_read_then_write_waits_for_the_other_writer_and_sees_its_change(shop):
    """Two writers that read then update one record run one after the other, never losing an update."""
    p = commit(shop, lambda uow: uow.products.add(product(title="v")))
    inside = threading.Event()

    def slow_writer():
        with shop.unit_of_work() as uow:
            record = uow.products.get(p["id"])
            inside.set()
            time.sleep(0.3)
            record["title"] += "1"
            uow.products.update(record)
            uow.commit()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    inside.wait(timeout=10)
    with shop.unit_of_work() as uow:
        record = uow.products.get(p["id"])  # waits until the slow writer commits
        record["title"] += "2"
        uow.products.update(record)
        uow.commit()
    thread.join(timeout=10)
    final = read(shop, lambda uow: uow.products.get(p["id"]))
    assert final["title"] == "v12" and final["version"] == 3


def test_a_writer_that_waited_for_a_record_reads_its_child_rows_as_committed(shop):
    """A delivery's events (a child table) as the other writer left them, not as they were when
    the waiting read began: two status moves at once keep both events."""
    from app.storage.base import new_id
    record_id = new_id()
    event = {"status": "pending", "note": None, "at": "2026-12-01T10:00:00Z", "user_id": None}
    placed = commit(shop, lambda uow: uow.orders.add(order(1001)))
    commit(shop, lambda uow: uow.deliveries.add({
        "id": record_id, "order_id": placed["id"], "carrier": "DHL", "tracking_number": "T1",
        "status": "pending", "address": None, "estimated_date": "2026-12-04", "created_by": None,
        "events": [event]}))
    waiting = threading.Event()
    seen = {}

    def second_writer():
        with shop.unit_of_work() as uow:
            waiting.set()
            record = uow.deliveries.get(record_id)  # waits for the first writer's commit
            seen["events"] = len(record["events"])
            record["events"].append({**event, "status": "delivered"})
            uow.deliveries.update(record)
            uow.commit()

    with shop.unit_of_work() as uow:
        record = uow.deliveries.get(record_id)
        record["events"].append({**event, "status": "in_transit"})
        uow.deliveries.update(record)
        thread = threading.Thread(target=second_writer)
        thread.start()
        waiting.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not lock_waiters(shop):
            time.sleep(0.02)
        uow.commit()
    thread.join(timeout=10)
    final = read(shop, lambda uow: uow.deliveries.get(record_id))
    assert seen["events"] == 2
    assert [e["status"] for e in final["events"]] == ["pending", "in_transit", "delivered"]


def lock_waiters(store):
    """How many sessions of this database wait for a lock."""
    conn = connect(store.url, autocommit=True)
    try:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND datname = current_database()").fetchone()[0]
    finally:
        conn.close()


def test_concurrent_adds_of_one_sku_let_exactly_one_win(shop):
    outcomes = []
    start = threading.Barrier(3)

    def add():
        start.wait(timeout=10)
        try:
            commit(shop, lambda uow: uow.products.add(product(sku="RACE-1")))
            outcomes.append("added")
        except UniqueViolation as exc:
            outcomes.append(exc.field)

    threads = [threading.Thread(target=add) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["added", "sku", "sku"]


def test_readyz_names_the_postgres_store(database, fresh_schema, tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path), "DATABASE_URL": database, "DATABASE_SCHEMA": fresh_schema})
    try:
        resp = app.test_client().get("/readyz")
        assert resp.status_code == 200 and resp.get_json()["storage"] == "postgres"
    finally:
        app.extensions["backroom.store"].close()


def test_backend_overrides_give_a_server_its_own_empty_schema(tmp_path):
    env = pg.backend_overrides("postgres", tmp_path)
    other = pg.backend_overrides("postgres")
    assert env["SHOP_DATABASE_SCHEMA"] != other["SHOP_DATABASE_SCHEMA"]
    assert env["SHOP_DATA_DIR"] == str(tmp_path / "data") and "SHOP_DATA_DIR" not in other
    config = {key[len("SHOP_"):]: value for key, value in env.items()}
    app = create_app(config)
    try:
        with app.extensions["backroom.store"].reader() as uow:
            assert uow.products.count() == 0 and uow.users.count() == 0
    finally:
        app.extensions["backroom.store"].close()
    assert pg.backend_overrides("json", tmp_path) == {"SHOP_DATA_DIR": str(tmp_path / "data"),
                                                      "SHOP_DATABASE_URL": ""}


def test_several_pools_in_one_process_share_nothing(shop, pg_shop):
    other = PostgresStore(pg_shop.url, pg_shop.schema)
    try:
        p = commit(shop, lambda uow: uow.products.add(product()))
        assert read(other, lambda uow: uow.products.get(p["id"])) == p
        assert other._pool_here() is not shop._pool_here()
    finally:
        other.close()


def test_writers_that_create_unless_a_username_exists_run_one_after_the_other(shop):
    """As when several workers start with SHOP_ADMIN_USERNAME set: one creates, the others find it."""
    start = threading.Barrier(3)
    outcomes = []

    def ensure(n):
        start.wait(timeout=10)
        with shop.unit_of_work() as uow:
            if uow.users.find_by_username("Owner") is None:
                time.sleep(0.1)
                uow.users.add(user(username="owner", role="admin"))
                outcomes.append("created")
            else:
                outcomes.append("found")
            uow.commit()

    threads = [threading.Thread(target=ensure, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["created", "found", "found"]


def test_writers_that_fill_an_empty_catalog_run_one_after_the_other(shop):
    start = threading.Barrier(2)
    outcomes = []

    def seed_once():
        start.wait(timeout=10)
        with shop.unit_of_work() as uow:
            if uow.products.count() == 0:
                time.sleep(0.1)
                uow.products.add(product(sku="DEMO-1"))
                outcomes.append("seeded")
            else:
                outcomes.append("skipped")
            uow.commit()

    threads = [threading.Thread(target=seed_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["seeded", "skipped"]
