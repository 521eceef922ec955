"""Moving a shop: a JSON store copied into PostgreSQL and back is the store it was, record for record."""
import io

import pytest
from werkzeug.security import generate_password_hash

from app.services import catalog, deliveries, idempotency, invites, orders, password_reset, settings, stock
from app.services import (catalog, deliveries, idempotency, invites, locations, orders, password_reset,
                          stock)
from app.services import users as user_service
from app.services import customers, notifications, storefront, webhooks
from app.storage.base import COLLECTIONS, LOGS, Query
from app.storage.jsonfile import JsonFileStore
from app.storage.postgres import PostgresStore
from scripts import move_shop
from scripts.demo_data import seed

CONFIG = {"CURRENCY": "EUR", "DELIVERY_DAYS": 3, "TIMEZONE": "Europe/Amsterdam"}


@pytest.fixture
def fast_hashing(monkeypatch):
    monkeypatch.setattr(user_service, "hash_password",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"))


@pytest.fixture
def json_shop(tmp_path, fast_hashing):
    """A JSON store that has seen a bit of everything: the demo shop, then a day of trading."""
    folder = tmp_path / "shop"
    store = JsonFileStore(str(folder))
    seed(store, CONFIG, out=io.StringIO())
    with store.unit_of_work() as uow:
        manager = uow.users.find_by_username("manager")
        product = catalog.create_product(uow, {"sku": "MUG-2", "title": "Mug “two”", "price": "7.25",
                                               "stock": 4, "barcode": "036000291452"}, manager["id"])
        order = orders.place_order(uow, {"items": [{"product_id": product["id"], "quantity": 2}],
                                         "notes": "ring twice"}, manager["id"], "EUR")
        orders.cancel_order(uow, order["id"], "changed mind", manager["id"])
        stock.adjust_stock(uow, product["id"], -1, "damaged", "dropped", None, manager["id"])
        back = uow.locations.find_by_code("BACK")
        locations.create_transfer(uow, {"from_location_id": back["id"], "note": "to the floor",
                                        "to_location_id": uow.locations.default()["id"],
                                        "lines": [{"product_id": product["id"], "quantity": 1}]}, manager["id"])
        locations.create_count(uow, back["id"], {"note": "aisle 3", "lines": [
            {"barcode": "GEN-GIFTCARD-25", "counted": 58}]}, manager["id"])
        pending = [o for o in uow.orders.list(orders_query())[0] if o["status"] == "pending"][0]
        failed = deliveries.create_delivery(uow, {"order_id": pending["id"], "address": "1 Lane"}, manager["id"])
        deliveries.advance_delivery(uow, failed["id"], "failed", "nobody home", manager["id"])
        session = user_service.start_session(uow, manager)
        user_service.end_session(uow, session["id"])
        user_service.record_failed_login(uow, "ghost", "10.0.0.1")
        idempotency.remember(uow, manager["id"], "orders.create", "key-1", {"a": 1}, 201,
                             {"id": order["id"], "total": "14.50"}, {"Location": "/api/orders/x"})
        uow.jobs.enqueue("example", {"order_id": order["id"]})
        settings.ensure_record(uow)
        invites.create_invite(uow, {"role": "clerk", "email": "sam@example.com"}, manager["id"], "Shop")
        password_reset.act_on_request(uow, {"username": "manager"}, "Shop", 1800)
        uow.conversations.add({"id": "cnv_example", "user_id": manager["id"], "messages": [
            {"role": "user", "content": "Any Dune?", "products": [], "at": "2026-11-21T10:15:00Z"}]})
        # section 11: a customer (with an address) and a storefront key
        customers.create_customer(uow, {"name": "Ada", "email": "ada.copy@example.com", "addresses": [
            {"line1": "1 Road", "city": "York", "country": "GB"}]})
        storefront.create_key(uow, {"name": "Web shop", "allowed_origins": ["https://shop.example"]})
        uow.rate_limits.save({"id": "assistant:ip:10.0.0.1", "hits": [1763720100.25],
                              "updated_at": "2026-11-21T10:15:00Z"})
        # section 13: a webhook (its delivery queued by the events below), a preference, a ticket
        webhooks.create_webhook(uow, {"url": "https://93.184.215.14/hooks", "events": ["*"]})
        notifications.set_preferences(uow, manager["id"], {"email": {"stock.low": True}})
        uow.stream_tickets.save({"id": "ticket-hash", "user_id": manager["id"],
                                 "expires_at": "2026-11-21T10:16:00Z", "used": False,
                                 "created_at": "2026-11-21T10:15:00Z", "updated_at": "2026-11-21T10:15:00Z",
                                 "version": 1})
        uow.events.add("order.cancelled", order)
        uow.events.add("stock.low", product)
        uow.commit()
    with store.unit_of_work() as uow:  # the failed delivery notified the manager: read it
        [note] = notifications.list_notifications(uow, manager["id"], Query(limit=1))[0]
        notifications.mark_read(uow, manager["id"], note["id"])
        uow.commit()
    (folder / "secret.key").write_text("a-shared-secret\n")
    return folder


def orders_query():
    return Query(limit=200)


def all_records(folder):
    store = JsonFileStore(str(folder))
    with store.snapshot() as tx:
        records = {c: sorted((dict(r) for r in tx.scan(c)), key=lambda r: r["id"]) for c in COLLECTIONS}
        records.update({log: list(tx.log_oldest_first(log)) for log in LOGS})  # in commit order
        return records


@pytest.fixture
def target(pg_shop):
    pg_shop.wipe()
    return pg_shop


def test_a_json_shop_copied_to_postgres_and_back_is_identical(json_shop, target, tmp_path):
    out = io.StringIO()
    assert move_shop.json_to_postgres(str(json_shop), target.url, target.schema, out=out)
    back = tmp_path / "back"
    assert move_shop.postgres_to_json(target.url, str(back), target.schema, out=out)

    before, after = all_records(json_shop), all_records(back)
    for collection in COLLECTIONS + LOGS:
        assert after[collection] == before[collection], collection
        assert [list(r) for r in after[collection]] == [list(r) for r in before[collection]], collection
    assert [c for c in COLLECTIONS + LOGS if not before[c]] == [], "the sample shop should exercise every collection"
    assert "stock total" in out.getvalue() and "differs" not in out.getvalue()


def test_the_copy_in_postgres_answers_like_the_json_store(json_shop, target):
    move_shop.json_to_postgres(str(json_shop), target.url, target.schema, out=io.StringIO())
    source = JsonFileStore(str(json_shop))
    copy = PostgresStore(target.url, target.schema)
    try:
        with source.reader() as a, copy.reader() as b:
            for product in a.products.list(orders_query())[0]:
                assert b.products.get(product["id"]) == product
                assert b.movements.for_product(product["id"]) == a.movements.for_product(product["id"])
                assert sum(m["delta"] for m in b.movements.for_product(product["id"])) == product["stock"]
            assert b.orders.list(orders_query()) == a.orders.list(orders_query())
            assert b.users.find_by_username("MANAGER") == a.users.find_by_username("manager")
        with copy.unit_of_work() as uow:
            assert uow.orders.next_number() == 1006  # five orders were placed in JSON
    finally:
        copy.close()


def test_a_target_that_holds_records_is_refused_unless_forced(json_shop, target, tmp_path):
    move_shop.json_to_postgres(str(json_shop), target.url, target.schema, out=io.StringIO())
    with pytest.raises(move_shop.MoveRefused):
        move_shop.json_to_postgres(str(json_shop), target.url, target.schema, out=io.StringIO())
    assert move_shop.json_to_postgres(str(json_shop), target.url, target.schema, force=True, out=io.StringIO())

    with pytest.raises(move_shop.MoveRefused):
        move_shop.postgres_to_json(target.url, str(json_shop), target.schema, out=io.StringIO())
    with pytest.raises(move_shop.MoveRefused):
        move_shop.json_to_postgres(str(tmp_path / "nothing-here"), target.url, target.schema, out=io.StringIO())


def test_the_command_line_moves_and_says_the_copy_matches(json_shop, target, tmp_path, capsys):
    out = io.StringIO()
    code = move_shop.main(["to-postgres", "--data-dir", str(json_shop), "--database-url", target.url,
                           "--schema", target.schema], out=out)
    assert code == 0, out.getvalue()
    assert "The copy matches its source." in out.getvalue() and "SHOP_SECRET_KEY" in out.getvalue()
    again = move_shop.main(["to-postgres", "--data-dir", str(json_shop), "--database-url", target.url,
                            "--schema", target.schema], out=io.StringIO())
    assert again == 3 and "--force" in capsys.readouterr().err
    code = move_shop.main(["to-json", "--data-dir", str(tmp_path / "back"), "--database-url", target.url,
                           "--schema", target.schema], out=out)
    assert code == 0
