"""The storage contract, one suite run against every backend: the JSON files and PostgreSQL behave the same.

List semantics are checked against repositories.evaluate(), which defines them: each query's
answer from the store must equal evaluate() over the very records that were stored.
"""
import pytest

from app.storage.base import Query, StoreError, UniqueViolation, new_id
from app.storage.jsonfile import JsonFileStore
from app.storage.postgres import PostgresStore
from app.storage.repositories import OrderRepository, ProductRepository, evaluate
from tests.processes import CTX, TIMEOUT, run_processes
from tests.unit.builders import read, run as commit



@pytest.fixture
def shop(backend, tmp_path, request):
    """An empty store on this backend."""
    if backend == "json":
        store = JsonFileStore(str(tmp_path / "data"))
        store.address = ("json", str(tmp_path / "data"))
    else:
        pg_shop = request.getfixturevalue("pg_shop")
        pg_shop.wipe()
        store = PostgresStore(pg_shop.url, pg_shop.schema)
        store.address = ("postgres", pg_shop.url, pg_shop.schema)
    yield store
    store.close()


def open_store(address):
    if address[0] == "json":
        return JsonFileStore(address[1])
    return PostgresStore(address[1], address[2])


# ---- small factories: only the fields a test is about ----------------------------------------------

_n = iter(range(1, 1_000_000))


def product(**fields):
    n = next(_n)
    record = {"id": new_id(), "sku": f"SKU-{n:05d}", "title": f"Product {n}", "kind": "general",
              "author": None, "isbn": None, "barcode": None, "description": None, "category": None,
              "price": "10.00", "cost": None, "stock": 10, "low_stock_threshold": 5, "status": "active"}
    record.update(fields)
    return record


def user(**fields):
    n = next(_n)
    record = {"id": new_id(), "username": f"user{n}", "email": None, "role": "clerk", "active": True,
              "password_hash": "scrypt:not-a-real-hash"}
    record.update(fields)
    return record


def order(number, lines=(), **fields):
    record = {"id": new_id(), "number": number, "status": "pending", "payment_status": "unpaid",
              "items": [{"product_id": p["id"], "sku": p["sku"], "title": p["title"], "quantity": q,
                         "unit_price": p["price"], "line_total": p["price"]} for p, q in lines],
              "subtotal": "10.00", "total": "10.00", "currency": "EUR", "customer": None,
              "customer_id": None, "payment": None, "notes": None, "cancel_reason": None,
              "created_by": None}
    record.update(fields)
    return record


def movement(product_record, delta, **fields):
    record = {"id": new_id(), "product_id": product_record["id"], "location_id": "loc-main", "delta": delta,
              "stock_after": product_record["stock"], "location_stock_after": product_record["stock"],
              "reason": "count", "ref": None, "note": None, "user_id": None}
    record.update(fields)
    return record


def delivery(order_record, **fields):
    record = {"id": new_id(), "order_id": order_record["id"], "status": "pending",
              "address": "1 High Street, Bath", "carrier": None, "tracking_number": None,
              "estimated_date": "2026-11-25",
              "events": [{"status": "pending", "at": "2026-11-21T10:00:00Z", "note": None, "user_id": None}],
              "created_by": None}
    record.update(fields)
    return record


# ---- records --------------------------------------------------------------------------------------

def test_add_stamps_a_record_and_get_returns_it_unchanged(shop):
    added = commit(shop, lambda uow: uow.products.add(product(price="12.50", cost="7.00")))

    assert added["version"] == 1 and added["created_at"] == added["updated_at"]
    assert added["created_at"].endswith("Z") and len(added["created_at"]) == 20
    got = read(shop, lambda uow: uow.products.get(added["id"]))
    assert got == added and list(got) == list(added)


def test_update_bumps_the_version_and_moves_updated_at(shop):
    added = commit(shop, lambda uow: uow.products.add(product(created_at="2020-01-01T00:00:00Z",
                                                                 updated_at="2020-01-01T00:00:00Z")))

    def rename(uow):
        record = uow.products.get(added["id"])
        record["title"] = "Renamed"
        return uow.products.update(record)
    updated = commit(shop, rename)

    assert updated["version"] == 2 and updated["updated_at"] > "2020-01-01T00:00:00Z"
    assert updated["created_at"] == "2020-01-01T00:00:00Z"
    assert read(shop, lambda uow: uow.products.get(added["id"])) == updated


def test_every_collection_gives_back_exactly_what_it_was_given(shop):
    """Nulls stay null, absent fields stay absent, extra and nested fields and key order survive."""
    p = product(title="Ünïcode “quotes” 📚", description="line\nbreak", cost="0.00", stock=0,
                extra_field={"nested": [1, 2.5, None, "x"]}, price="9999999999.99")
    u = user(email="Ada@Example.com", role="admin")
    o = order(1001, [(p, 2)], customer={"name": "Ada", "email": "ada@example.com", "phone": None},
              payment={"method": "card", "amount": "10.00", "reference": None, "paid_at": "2026-11-21T10:15:00Z"},
              cancelled_at="2026-11-22T08:00:00Z")
    weird_order = order(1002, customer="just a string", payment={"method": "cash"}, items=None)
    weird_order.pop("notes")
    d = delivery(o, address={"name": "Ada", "line1": "1 Road", "city": "Zürich", "postal_code": "8000"})
    m = movement(p, 0, ref="r", note="n", created_at="2026-11-21T10:15:00Z")
    s = {"id": new_id(), "user_id": u["id"], "refresh_id": new_id(), "revoked": False}
    attempt = {"id": "a" * 32, "failures": [1763720100.123456, 1763720101.5], "updated_at": "2026-11-21T10:15:00Z"}
    key = {"id": "k" * 40, "user_id": u["id"], "endpoint": "orders", "fingerprint": "f" * 64, "status": 201,
           "response": {"id": o["id"], "total": "10.00", "items": [{"q": 1}]}, "headers": {"Location": "/x"},
           "created_at": "2026-11-21T10:15:00Z"}

    def write(uow):
        uow.users.add(u)
        uow.sessions.add(s)
        uow.products.add(p)
        uow.movements.add(m)
        uow.orders.add(o)
        uow.orders.add(weird_order)
        uow.deliveries.add(d)
        uow.login_attempts.save(attempt)
        uow.idempotency.save(key)
    commit(shop, write)

    with shop.reader() as uow:
        for repo, record in ((uow.users, u), (uow.sessions, s), (uow.products, p), (uow.movements, m),
                             (uow.orders, o), (uow.orders, weird_order), (uow.deliveries, d),
                             (uow.login_attempts, attempt), (uow.idempotency, key)):
            got = repo.get(record["id"])
            assert got == record
            assert list(got) == list(record)
    assert "notes" not in read(shop, lambda uow: uow.orders.get(weird_order["id"]))


@pytest.mark.backends("json")
def test_json_files_give_back_exact_values_after_reopening_and_after_compaction(shop):
    """Read back from the journal by a fresh process's store, then from the snapshot files:
    integers past 64 bits stay integers (orjson alone would make them floats), floats, text
    with escapes and numbers inside strings stay as they were."""
    p = product(stock=10**30, low_stock_threshold=-(2**63) - 1, title="1234567890123456789012",
                description='quote " backslash \\ newline \n tab \t \u2028 é 📚', extra=[0.1, 1e16, -2.5e-7])
    attempt = {"id": "b" * 32, "failures": [1763720100.123456, 1763720101.5], "updated_at": "2026-11-21T10:15:00Z"}

    def write(uow):
        uow.products.add(p)
        uow.login_attempts.save(attempt)
    commit(shop, write)
    for step in ("journal", "snapshots"):
        if step == "snapshots":
            shop.checkpoint()
        fresh = open_store(shop.address)
        try:
            assert read(fresh, lambda uow: uow.products.get(p["id"])) == p, step
            assert read(fresh, lambda uow: uow.login_attempts.get(attempt["id"])) == attempt, step
        finally:
            fresh.close()


@pytest.mark.parametrize("odd", ["nope", "", 42, None, "a\x00b", ["x"]])
def test_get_of_an_id_that_names_nothing_is_none(shop, odd):
    commit(shop, lambda uow: uow.products.add(product()))
    assert read(shop, lambda uow: uow.products.get(odd)) is None


def test_count_counts_committed_records(shop):
    commit(shop, lambda uow: [uow.products.add(product()) for _ in range(3)])
    assert read(shop, lambda uow: uow.products.count()) == 3
    assert read(shop, lambda uow: uow.orders.count()) == 0


# ---- unique keys ----------------------------------------------------------------------------------

@pytest.mark.parametrize("first, second, field", [
    ({"sku": "Tote-1"}, {"sku": "TOTE-1"}, "sku"),
    ({"barcode": "4006381333931"}, {"barcode": "4006381333931"}, "barcode"),
    ({"barcode": "036000291452"}, {"barcode": "0036000291452"}, "barcode"),  # UPC-A == its EAN-13
    ({"isbn": "9780141439518"}, {"isbn": "9780141439518"}, "isbn"),
])
def test_a_taken_unique_key_is_a_unique_violation_naming_it(shop, first, second, field):
    commit(shop, lambda uow: uow.products.add(product(**first)))

    with shop.unit_of_work() as uow:
        with pytest.raises(UniqueViolation) as caught:
            uow.products.add(product(**second))
        other = uow.products.add(product())  # the unit of work is still usable
        uow.commit()

    assert caught.value.field == field
    assert read(shop, lambda uow: uow.products.count()) == 2
    assert read(shop, lambda uow: uow.products.get(other["id"])) == other


def test_changing_a_record_to_a_taken_key_is_a_unique_violation(shop):
    a, b = commit(shop, lambda uow: [uow.products.add(product(sku="A")), uow.products.add(product(sku="B"))])
    with shop.unit_of_work() as uow:
        record = uow.products.get(b["id"])
        record["sku"] = "a"
        with pytest.raises(UniqueViolation) as caught:
            uow.products.update(record)
    assert caught.value.field == "sku"
    assert read(shop, lambda uow: uow.products.get(b["id"]))["sku"] == "B"


def test_usernames_are_unique_whatever_their_case(shop):
    commit(shop, lambda uow: uow.users.add(user(username="Clerk")))
    with shop.unit_of_work() as uow:
        with pytest.raises(UniqueViolation) as caught:
            uow.users.add(user(username="cLERK"))
    assert caught.value.field == "username"


def test_lookups_find_products_by_sku_barcode_and_isbn(shop):
    book = commit(shop, lambda uow: uow.products.add(product(sku="Bk-1", isbn="9780141439518",
                                                             barcode="9780141439518")))
    can = commit(shop, lambda uow: uow.products.add(product(barcode="036000291452")))
    with shop.reader() as uow:
        assert uow.products.find_by_sku("bk-1") == book
        assert uow.products.find_by_isbn("9780141439518") == book
        assert uow.products.find_by_barcode("9780141439518") == book
        assert uow.products.find_by_barcode("0036000291452") == can
        assert uow.products.find_by_barcode("036000291452") == can
        for look in (uow.products.find_by_sku, uow.products.find_by_barcode, uow.products.find_by_isbn):
            assert look("nothing") is None and look("") is None and look(None) is None
            assert look("bk\x00") is None


def test_users_are_found_by_username_whatever_its_case_and_admins_counted(shop):
    admin = commit(shop, lambda uow: uow.users.add(user(username="Owner", role="admin")))
    commit(shop, lambda uow: [uow.users.add(user(role="admin", active=False)), uow.users.add(user())])
    with shop.reader() as uow:
        assert uow.users.find_by_username("OWNER") == admin
        assert uow.users.find_by_username("nobody") is None
        assert uow.users.count_active_admins() == 1
    with shop.unit_of_work() as uow:
        assert uow.users.count_active_admins() == 1


# ---- stock ----------------------------------------------------------------------------------------

LOC, OTHER = "loc-main", "loc-back"


def stocked(shop, **levels):
    """A committed product holding `levels` (location id -> quantity); its stock is their sum."""
    levels = levels or {LOC: 10}
    p = product(stock=sum(levels.values()))

    def add(uow):
        uow.products.add(p)
        for location_id, quantity in levels.items():
            uow.stock_levels.add({"id": f"{p['id']}:{location_id}", "product_id": p["id"],
                                  "location_id": location_id, "quantity": quantity})
        return p
    return commit(shop, add)


def test_change_stock_never_goes_below_zero(shop):
    p = stocked(shop, **{LOC: 3})

    taken = commit(shop, lambda uow: uow.products.change_stock(p["id"], LOC, -3))
    short = commit(shop, lambda uow: uow.products.change_stock(p["id"], LOC, -1))
    missing = commit(shop, lambda uow: uow.products.change_stock("no-such-product", LOC, 1))

    assert taken[0]["stock"] == 0 and taken[0]["version"] == 2 and taken[1] == 0
    assert short is None and missing is None
    assert read(shop, lambda uow: uow.products.get(p["id"])) == taken[0]
    back = commit(shop, lambda uow: uow.products.change_stock(p["id"], LOC, 5))
    assert back[0]["stock"] == 5 and back[0]["version"] == 3 and back[1] == 5


def test_change_stock_is_short_at_a_location_whatever_the_others_hold(shop):
    p = stocked(shop, **{LOC: 2, OTHER: 3})

    short = commit(shop, lambda uow: uow.products.change_stock(p["id"], LOC, -3))
    taken = commit(shop, lambda uow: uow.products.change_stock(p["id"], OTHER, -3))

    assert short is None
    assert taken[0]["stock"] == 2 and taken[1] == 0
    with shop.reader() as uow:
        assert uow.stock_levels.quantity(p["id"], LOC) == 2
        assert uow.stock_levels.quantity(p["id"], OTHER) == 0
        assert uow.stock_levels.quantity(p["id"], "nowhere") == 0


def test_stock_put_where_a_product_had_none_makes_its_level_there(shop):
    p = stocked(shop, **{LOC: 1})

    put = commit(shop, lambda uow: uow.products.change_stock(p["id"], OTHER, 4))

    assert put[0]["stock"] == 5 and put[1] == 4
    with shop.reader() as uow:
        levels = uow.stock_levels.for_product(p["id"])
        assert {(lv["location_id"], lv["quantity"]) for lv in levels} == {(LOC, 1), (OTHER, 4)}
        assert [lv["product_id"] for lv in uow.stock_levels.at_location(OTHER)] == [p["id"]]
        assert uow.stock_levels.stock_at(OTHER) == [
            {"product_id": p["id"], "sku": p["sku"], "title": p["title"], "quantity": 4}]


def test_a_location_emptied_lists_no_stock_there(shop):
    p = stocked(shop, **{LOC: 2})
    commit(shop, lambda uow: uow.products.change_stock(p["id"], LOC, -2))
    assert read(shop, lambda uow: uow.stock_levels.stock_at(LOC)) == []


def location(**fields):
    n = next(_n)
    record = {"id": new_id(), "name": f"Room {n}", "code": f"R{n}", "kind": "other", "address": None,
              "is_default": False, "status": "active"}
    record.update(fields)
    return record


def test_locations_have_unique_names_in_any_case_and_unique_codes(shop):
    first = commit(shop, lambda uow: uow.locations.add(location(name="Back Room", code="BACK")))
    for clash, field in ((location(name="back room"), "name"), (location(code="BACK"), "code")):
        with pytest.raises(UniqueViolation) as err:
            commit(shop, lambda uow: uow.locations.add(clash))
        assert err.value.field == field
    with shop.reader() as uow:
        assert uow.locations.find_by_code("BACK") == first
        assert uow.locations.default() is None


def test_the_default_location_is_found_and_read_for_stock(shop):
    commit(shop, lambda uow: uow.locations.add(location()))
    main = commit(shop, lambda uow: uow.locations.add(location(is_default=True)))
    with shop.unit_of_work() as uow:
        assert uow.locations.default() == main
        assert uow.locations.default_for_stock() == main
        assert uow.locations.for_stock(main["id"]) == main
        assert uow.locations.for_stock("nowhere") is None


def test_transfers_and_counts_keep_their_lines_and_filter_by_a_product_on_them(shop):
    a, b = new_id(), new_id()
    line = {"sku": "S", "title": "T", "quantity": 2}
    transfers = [{"id": new_id(), "number": n, "from_location_id": LOC, "to_location_id": OTHER,
                  "lines": [{**line, "product_id": pid}], "status": "pending", "note": None,
                  "created_by": None, "completed_by": None, "completed_at": None}
                 for n, pid in ((1, a), (2, b))]
    count = {"id": new_id(), "location_id": LOC, "note": "aisle 3", "created_by": None,
             "lines": [{"product_id": b, "sku": "S", "title": "T", "expected": 3, "counted": 1, "delta": -2}]}
    commit(shop, lambda uow: [uow.transfers.add(t) for t in transfers] + [uow.stock_counts.add(count)])
    with shop.reader() as uow:
        assert uow.transfers.list(Query(filters={"product_id": b}))[0] == [transfers[1]]
        assert uow.stock_counts.list(Query(filters={"product_id": b}))[0] == [count]
        assert uow.stock_counts.list(Query(filters={"product_id": a}))[1] == 0
        assert uow.stock_counts.get(count["id"]) == count
    assert "version" not in count and "updated_at" not in count


def test_movements_are_kept_per_product_in_creation_order(shop):
    p, q = commit(shop, lambda uow: [uow.products.add(product()), uow.products.add(product())])
    first = commit(shop, lambda uow: uow.movements.add(movement(p, 10)))
    commit(shop, lambda uow: uow.movements.add(movement(q, 1)))
    second = commit(shop, lambda uow: uow.movements.add(movement(p, -2, reason="sale")))
    with shop.reader() as uow:
        assert uow.movements.for_product(p["id"]) == [first, second]
        assert uow.movements.for_product("nothing") == []
    assert "version" not in first and "updated_at" not in first


# ---- transactions ---------------------------------------------------------------------------------

def test_leaving_a_unit_of_work_without_commit_changes_nothing(shop):
    p = stocked(shop, **{LOC: 5})

    with shop.unit_of_work() as uow:
        uow.products.add(product())
        uow.products.change_stock(p["id"], LOC, -5)
        uow.movements.add(movement(p, -5))
        uow.orders.next_number()
    with pytest.raises(RuntimeError):
        with shop.unit_of_work() as uow:
            uow.products.change_stock(p["id"], LOC, -5)
            raise RuntimeError("the service failed half way")

    with shop.reader() as uow:
        assert uow.products.count() == 1
        assert uow.products.get(p["id"]) == p
        assert uow.stock_levels.quantity(p["id"], LOC) == 5
        assert uow.movements.for_product(p["id"]) == []
    assert commit(shop, lambda uow: uow.orders.next_number()) == 1001


def test_a_unit_of_work_sees_its_own_writes_before_commit(shop):
    with shop.unit_of_work() as uow:
        p = uow.products.add(product(sku="Own-1"))
        assert uow.products.get(p["id"]) == p
        assert uow.products.find_by_sku("own-1") == p
        assert uow.products.list(Query())[1] == 1


def test_a_reader_cannot_commit(shop):
    with shop.reader() as uow:
        with pytest.raises(StoreError):
            uow.commit()


def test_order_numbers_start_at_1001_and_grow_by_one(shop):
    assert [commit(shop, lambda uow: uow.orders.next_number()) for _ in range(3)] == [1001, 1002, 1003]


def test_related_records_are_found_by_their_owner(shop):
    p = commit(shop, lambda uow: uow.products.add(product()))
    o1, o2 = commit(shop, lambda uow: [uow.orders.add(order(1001, [(p, 1)])), uow.orders.add(order(1002))])
    d1 = commit(shop, lambda uow: uow.deliveries.add(delivery(o1)))
    d2 = commit(shop, lambda uow: uow.deliveries.add(delivery(o1, status="failed")))
    u = commit(shop, lambda uow: uow.users.add(user()))
    s1 = commit(shop, lambda uow: uow.sessions.add({"id": new_id(), "user_id": u["id"], "refresh_id": "r",
                                                    "revoked": False}))
    with shop.reader() as uow:
        assert uow.deliveries.for_order(o1["id"]) == [d1, d2]
        assert uow.deliveries.for_order(o2["id"]) == []
        assert uow.sessions.for_user(u["id"]) == [s1]


def test_a_deleted_session_is_gone_and_the_others_stay(shop):
    u = user()
    first = {"id": new_id(), "user_id": u["id"], "refresh_id": new_id(), "revoked": True}
    second = {"id": new_id(), "user_id": u["id"], "refresh_id": new_id(), "revoked": False}

    def write(uow):
        uow.users.add(u)
        uow.sessions.add(first)
        uow.sessions.add(second)
    commit(shop, write)
    commit(shop, lambda uow: uow.sessions.delete(first["id"]))
    assert read(shop, lambda uow: uow.sessions.get(first["id"])) is None
    assert [s["id"] for s in read(shop, lambda uow: uow.sessions.for_user(u["id"]))] == [second["id"]]


def test_a_delivery_keeps_its_growing_history(shop):
    o = commit(shop, lambda uow: uow.orders.add(order(1001)))
    d = commit(shop, lambda uow: uow.deliveries.add(delivery(o)))

    def advance(uow):
        record = uow.deliveries.get(d["id"])
        record["events"].append({"status": "in_transit", "at": "2026-11-22T09:00:00Z", "note": "van",
                                 "user_id": "u1"})
        record["status"] = "in_transit"
        return uow.deliveries.update(record)
    moved = commit(shop, advance)

    got = read(shop, lambda uow: uow.deliveries.get(d["id"]))
    assert got == moved and len(got["events"]) == 2 and got["version"] == 2


def test_login_attempts_and_idempotency_keys_are_saved_read_and_forgotten(shop):
    u = commit(shop, lambda uow: uow.users.add(user()))
    attempt = {"id": "attempt-1", "failures": [1.5], "updated_at": "2026-11-21T10:00:00Z"}
    commit(shop, lambda uow: uow.login_attempts.save(attempt))
    attempt["failures"].append(2.25)
    commit(shop, lambda uow: uow.login_attempts.save(attempt))
    assert read(shop, lambda uow: uow.login_attempts.get("attempt-1")) == attempt
    commit(shop, lambda uow: uow.login_attempts.delete("attempt-1"))
    assert read(shop, lambda uow: uow.login_attempts.get("attempt-1")) is None
    stale = {"id": "stale", "failures": [1.0], "updated_at": "2026-11-21T09:59:59Z"}
    recent = dict(stale, id="recent", updated_at="2026-11-21T10:00:00Z")
    commit(shop, lambda uow: [uow.login_attempts.save(stale), uow.login_attempts.save(recent)])
    commit(shop, lambda uow: uow.login_attempts.purge_before("2026-11-21T10:00:00Z"))
    assert read(shop, lambda uow: uow.login_attempts.get("stale")) is None
    assert read(shop, lambda uow: uow.login_attempts.get("recent")) == recent

    old = {"id": "old", "user_id": u["id"], "endpoint": "e", "fingerprint": "f", "status": 201,
           "response": {}, "headers": {}, "created_at": "2026-11-20T09:59:59Z"}
    young = dict(old, id="young", created_at="2026-11-20T10:00:00Z")
    commit(shop, lambda uow: [uow.idempotency.save(old), uow.idempotency.save(young)])
    commit(shop, lambda uow: uow.idempotency.purge_before("2026-11-20T10:00:00Z"))
    with shop.reader() as uow:
        assert uow.idempotency.get("old") is None
        assert uow.idempotency.get("young") == young


# ---- lists: the same answers as evaluate() ----------------------------------------------------------

T = ["2026-11-20T09:00:00Z", "2026-11-20T10:00:00Z", "2026-11-21T00:00:00Z", "2026-11-21T23:59:59Z"]


def catalog_records():
    specs = [
        dict(title="apple", author="Jane", category="books", kind="book", price="10.00", stock=0, cost="4.00"),
        dict(title="Apple", author="jane", category="Books", price="9.50", stock=3, low_stock_threshold=3),
        dict(title="banana", author=None, category=None, price="100.00", stock=10, cost=None),
        dict(title="Äpfel", author="JANE AUSTEN", category="gifts", price="9.50", stock=5, status="archived"),
        dict(title="zebra 100%_done", author="Zoë", category="books", price="0.00", stock=6,
             low_stock_threshold=0, kind="book", isbn="9780141439518", barcode="9780141439518"),
        dict(title="Zebra", category=None, price="10.00", stock=1, cost="10.00", barcode="036000291452"),
        dict(title="éclair", author="", category="", price="2.05", stock=5, low_stock_threshold=10),
        dict(title="10 things", price="19.99", stock=7, cost="0.50", sku="sku-TEN"),
        dict(title="9 lives", price="1.00", stock=0, status="archived", kind="book", sku="SKU-nine"),
        dict(title="", author="jan", price="10.00", stock=2),
    ]
    return [product(created_at=T[i % len(T)], **spec) for i, spec in enumerate(specs)]


PRODUCT_SORT = ("title", "sku", "price", "cost", "stock", "created_at", "updated_at", "author", "category",
                "kind", "status", "low_stock_threshold")
PRODUCT_SEARCH = ("title", "author", "isbn", "sku", "barcode")


def product_queries():
    queries = [Query(), Query(sort=[("id", True)]), Query(limit=3), Query(limit=3, offset=8),
               Query(limit=5, offset=50), Query(sort=[("id", True)], limit=4, offset=2)]
    for filters in ({"status": "active"}, {"kind": ["book", "general"]}, {"category": None},
                    {"category": ["books", None]}, {"category": ""}, {"status": "\x00hidden"},
                    {"low_stock": True}, {"low_stock": False}, {"status": "active", "low_stock": True},
                    {"kind": "book", "status": "archived"}, {"stock": 5}, {"price": "9.50"},
                    {"price": "9.5"}, {"id": "nothing"}):
        queries.append(Query(filters=filters))
        queries.append(Query(filters=filters, sort=[("title", False)], limit=2, offset=1))
    for needle in ("apple", "APP", "äp", "jane", "9", "100%_", "%", "_", "sku-", "Zoë", "0360", "nothing", "\x00"):
        queries.append(Query(q=needle, q_fields=PRODUCT_SEARCH))
        queries.append(Query(q=needle, q_fields=("title",), sort=[("price", True)], filters={"status": "active"}))
    queries.append(Query(q="apple", q_fields=()))
    for name in PRODUCT_SORT:
        queries.append(Query(sort=[(name, False)]))
        queries.append(Query(sort=[(name, True)], limit=4, offset=1))
    queries += [Query(sort=[("price", False), ("title", True)]), Query(sort=[("category", False), ("id", True)]),
                Query(sort=[("id", False), ("title", True)]), Query(sort=[("cost", True), ("stock", False)]),
                Query(sort=[("stock", True), ("stock", False)])]
    for since, until in ((T[1], T[2]), (T[1], None), (None, T[1]), ("2026-11-21", None), (None, "2026-11-21"),
                         (T[3], T[0]), ("2026-11-20T10:00:00.5Z", None)):
        queries.append(Query(since=since, until=until))
        queries.append(Query(since=since, until=until, sort=[("created_at", True)], limit=3))
    return queries


def assert_lists_like_evaluate(repo, records, queries, numeric=(), special=None):
    ordered = sorted(records, key=lambda r: r["id"])
    for query in queries:
        expected = evaluate(ordered, query, numeric, special)
        assert repo.list(query) == expected, query


def test_product_lists_filter_search_sort_and_page_as_evaluate_does(shop):
    records = catalog_records()
    commit(shop, lambda uow: [uow.products.add(r) for r in records])
    with shop.reader() as uow:
        assert_lists_like_evaluate(uow.products, records, product_queries(), ProductRepository.numeric,
                                   ProductRepository.special)


def test_order_lists_filter_search_sort_and_page_as_evaluate_does(shop):
    p = commit(shop, lambda uow: uow.products.add(product()))
    customers = [None, {"name": "Ada Lovelace", "email": "ADA@example.com"}, {"name": "Bob"},
                 {"name": "ada", "email": "ada@example.com", "phone": "+44 1"}, {"email": None}]
    records = [order(1001 + i, [(p, 1)] if i % 2 else [], customer=customers[i % len(customers)],
                     status=("pending", "paid", "cancelled")[i % 3], total=("10.00", "9.00", "100.00")[i % 3],
                     subtotal="1.00", notes=("gift", None, "Ada's")[i % 3], customer_id=(None, "c-17")[i % 2],
                     created_at=T[i % len(T)])
               for i in range(12)]
    commit(shop, lambda uow: [uow.orders.add(r) for r in records])
    search = ("number", "notes", "customer_id", "customer.name", "customer.email")
    queries = [Query(), Query(sort=[("id", True)], limit=5), Query(filters={"status": "paid"}),
               Query(filters={"status": ["paid", "cancelled"], "payment_status": "unpaid"}),
               Query(filters={"customer_email": "ada@EXAMPLE.com"}), Query(filters={"customer_email": ""}),
               Query(filters={"customer_email": "nobody@example.com"})]
    for needle in ("100", "1005", "ada", "EXAMPLE", "'s", "c-1", "gift", "+44"):
        queries.append(Query(q=needle, q_fields=search, sort=[("id", True)]))
    for name in ("created_at", "updated_at", "number", "total", "status", "payment_status"):
        queries += [Query(sort=[(name, False)]), Query(sort=[(name, True)], limit=4, offset=3)]
    queries += [Query(since=T[1], until=T[2], sort=[("total", True)]), Query(since="2026-11-21")]
    with shop.reader() as uow:
        assert_lists_like_evaluate(uow.orders, records, queries, OrderRepository.numeric, OrderRepository.special)


def test_other_lists_filter_search_sort_and_page_as_evaluate_does(shop):
    p, q = commit(shop, lambda uow: [uow.products.add(product()), uow.products.add(product())])
    o = commit(shop, lambda uow: uow.orders.add(order(1001)))
    addresses = ["1 High Road, Bath", {"name": "Ada", "line1": "2 Low Road", "city": "Zürich"},
                 {"name": "Bob", "city": "road"}, "Cityside"]
    deliveries = [delivery(o, address=addresses[i % 4], carrier=(None, "DHL", "dpd")[i % 3],
                           status=("pending", "failed")[i % 2], estimated_date=f"2026-11-2{i % 5}",
                           tracking_number=(None, "3SABC")[i % 2], created_at=T[i % 4]) for i in range(8)]
    movements = [movement(p if i % 2 else q, (-1) ** i * i, reason=("sale", "count")[i % 2],
                          note=(None, "Damaged box")[i % 2], ref=(None, o["id"])[i % 3 == 0],
                          created_at=T[i % 4]) for i in range(9)]
    people = [user(username=name, role=role, active=active, email=email, created_at=T[i % 4])
              for i, (name, role, active, email) in enumerate([
                  ("Ada", "admin", True, "ada@x.com"), ("bob", "clerk", False, None),
                  ("Çelik", "viewer", True, "c@x.com"), ("ada2", "clerk", True, "ADA@y.com")])]
    commit(shop, lambda uow: [uow.deliveries.add(r) for r in deliveries])
    commit(shop, lambda uow: [uow.movements.add(r) for r in movements])
    commit(shop, lambda uow: [uow.users.add(r) for r in people])

    address_search = ("carrier", "tracking_number", "address", "address.name", "address.line1",
                      "address.city", "address.postal_code")
    delivery_queries = [Query(filters={"status": "failed"}), Query(filters={"order_id": o["id"]}, limit=3)]
    for needle in ("road", "ada", "zür", "dhl", "3sabc", "city", "name", "nothing"):
        delivery_queries.append(Query(q=needle, q_fields=address_search, sort=[("id", True)]))
    for name in ("created_at", "updated_at", "status", "estimated_date", "carrier"):
        delivery_queries += [Query(sort=[(name, False)]), Query(sort=[(name, True)], limit=3, offset=2)]
    movement_queries = [Query(filters={"product_id": p["id"]}), Query(filters={"reason": "sale"}),
                        Query(filters={"product_id": q["id"], "reason": "count"}),
                        Query(q="damaged", q_fields=("note", "ref")), Query(q=o["id"][:8], q_fields=("note", "ref")),
                        Query(since=T[1], until=T[2], sort=[("id", True)])]
    for name in ("created_at", "delta", "stock_after", "reason"):
        movement_queries += [Query(sort=[(name, False)]), Query(sort=[(name, True)], limit=4)]
    user_queries = [Query(filters={"role": "clerk"}), Query(filters={"active": False}),
                    Query(filters={"active": True, "role": "clerk"}), Query(q="ADA", q_fields=("username", "email")),
                    Query(q="ç", q_fields=("username", "email"))]
    for name in ("username", "role", "created_at", "updated_at"):
        user_queries += [Query(sort=[(name, False)]), Query(sort=[(name, True)], limit=2, offset=1)]
    with shop.reader() as uow:
        assert_lists_like_evaluate(uow.deliveries, deliveries, delivery_queries)
        assert_lists_like_evaluate(uow.movements, movements, movement_queries)
        assert_lists_like_evaluate(uow.users, people, user_queries)


def test_a_query_on_fields_sql_does_not_index_is_still_answered_as_evaluate_does(shop):
    records = [product(extra_field=i % 3, price=str(i) + ".00") for i in range(6)]
    commit(shop, lambda uow: [uow.products.add(r) for r in records])
    queries = [Query(filters={"extra_field": 1}), Query(sort=[("extra_field", True)]),
               Query(q="1", q_fields=("extra_field",))]
    with shop.reader() as uow:
        assert_lists_like_evaluate(uow.products, records, queries, ProductRepository.numeric,
                                   ProductRepository.special)


# ---- several processes ----------------------------------------------------------------------------

def take_one_at_a_time(results, address, product_id, barrier):
    """A buyer in its own process: take one unit per unit of work until the product is sold out."""
    store = open_store(address)
    barrier.wait(timeout=TIMEOUT)
    taken = 0
    while True:
        with store.unit_of_work() as uow:
            changed = uow.products.change_stock(product_id, LOC, -1)
            if changed is None:
                break
            updated, there = changed
            uow.movements.add({"id": new_id(), "product_id": product_id, "location_id": LOC, "delta": -1,
                               "stock_after": updated["stock"], "location_stock_after": there,
                               "reason": "sale", "ref": None, "note": None, "user_id": None})
            uow.commit()
        taken += 1
    store.close()
    results.put(taken)


def test_buyers_in_several_processes_never_oversell(shop):
    p = stocked(shop, **{LOC: 40})
    commit(shop, lambda uow: uow.movements.add(movement(p, 40, reason="opening")))
    buyers = 4
    barrier = CTX.Barrier(buyers)
    taken = run_processes(take_one_at_a_time, [(shop.address, p["id"], barrier)] * buyers)
    assert sum(taken) == 40
    with shop.reader() as uow:
        after = uow.products.get(p["id"])
        ledger = uow.movements.for_product(p["id"])
    assert after["stock"] == 0 and after["version"] == 41
    assert sum(m["delta"] for m in ledger) == 0 and len(ledger) == 41
    assert sorted(m["stock_after"] for m in ledger if m["reason"] == "sale") == list(range(40))
    assert read(shop, lambda uow: uow.stock_levels.quantity(p["id"], LOC)) == 0


def test_a_ledger_by_id_follows_the_order_of_commits_made_by_several_processes(shop):
    # new_id alone is monotonic only within a process. The JSON store makes a writer's ids sort
    # after every id committed before it; PostgreSQL, after the product's earlier movements.
    p = stocked(shop, **{LOC: 300})
    commit(shop, lambda uow: uow.movements.add(movement(p, 300, reason="opening")))
    buyers = 4
    barrier = CTX.Barrier(buyers)
    assert sum(run_processes(take_one_at_a_time, [(shop.address, p["id"], barrier)] * buyers)) == 300
    with shop.reader() as uow:
        by_id = sorted(uow.movements.for_product(p["id"]), key=lambda m: m["id"])
    assert [m["stock_after"] for m in by_id] == [300, *range(299, -1, -1)]


# ---- logs, events (the outbox) and jobs ----------------------------------------------------------

def test_an_event_commits_with_its_change_and_only_then(shop):
    p = commit(shop, lambda uow: uow.products.add(product()))

    def change_and_record(uow):
        record = uow.products.get(p["id"])
        record["title"] = "Renamed"
        uow.products.update(record)
        return uow.events.add("product.updated", record)
    event = commit(shop, change_and_record)

    with shop.unit_of_work() as uow:  # left without commit: neither the change nor its event
        record = uow.products.get(p["id"])
        record["title"] = "Never"
        uow.products.update(record)
        uow.events.add("product.updated", record)
    with shop.reader() as uow:
        assert uow.products.get(p["id"])["title"] == "Renamed"
        page, total = uow.events.list(Query())
    assert total == 1 and page == [event]
    assert event["id"].startswith("evt_") and "." not in event["id"]
    assert event["data"]["title"] == "Renamed" and event["at"].endswith("Z")


def test_a_log_lists_newest_first_with_filters_and_gets_by_id(shop):
    events = [commit(shop, lambda uow, n=n: uow.events.add("stock.low" if n % 2 else "order.paid", {"n": n}))
              for n in range(7)]
    with shop.reader() as uow:
        page, total = uow.events.list(Query(limit=3))
        assert total == 7 and [e["data"]["n"] for e in page] == [6, 5, 4]
        page, total = uow.events.list(Query(filters={"type": "stock.low"}, limit=2, offset=1))
        assert total == 3 and [e["data"]["n"] for e in page] == [3, 1]
        page, total = uow.events.list(Query(filters={"type": ["stock.low", "nothing"]}, sort=[("id", False)]))
        assert [e["data"]["n"] for e in page] == [1, 3, 5]
        assert uow.events.get(events[2]["id"]) == events[2]
        assert uow.events.get("evt_none") is None and uow.events.count() == 7
        assert uow.events.list(Query(since="2999-01-01T00:00:00Z")) == ([], 0)
        assert uow.events.list(Query(until="2000-01-01T00:00:00Z")) == ([], 0)


def test_a_consumer_reads_committed_events_after_an_id_in_commit_order(shop):
    first = commit(shop, lambda uow: uow.events.add("a", {"n": 0}))
    commit(shop, lambda uow: [uow.events.add("b", {"n": 1}), uow.events.add("c", {"n": 2})])
    commit(shop, lambda uow: uow.events.add("d", {"n": 3}))
    assert [e["type"] for e in shop.events_after(None)] == ["a", "b", "c", "d"]
    assert [e["type"] for e in shop.events_after(first["id"])] == ["b", "c", "d"]
    assert [e["type"] for e in shop.events_after(first["id"], limit=2)] == ["b", "c"]
    last = shop.events_after(None)[-1]
    assert shop.events_after(last["id"]) == []
    assert shop.events_after("evt_unknown") is None  # not kept: the consumer must start again


def record_events_in_a_process(results, address, writer, count):
    store = open_store(address)
    for n in range(count):
        with store.unit_of_work() as uow:
            uow.events.add("test.counted", {"writer": writer, "n": n})
            uow.commit()
    store.close()
    results.put(writer)


def test_events_committed_by_several_processes_are_read_by_another_in_commit_order(shop):
    run_processes(record_events_in_a_process, [(shop.address, w, 25) for w in range(3)])
    reader = open_store(shop.address)
    seen, after = [], None
    while True:  # page through as a consumer does
        batch = reader.events_after(after, limit=10)
        if not batch:
            break
        seen += batch
        after = batch[-1]["id"]
    reader.close()
    assert len(seen) == 75 and len({e["id"] for e in seen}) == 75
    for writer in range(3):  # each process's events in the order it committed them
        assert [e["data"]["n"] for e in seen if e["data"]["writer"] == writer] == list(range(25))


@pytest.mark.backends("json")
def test_the_json_store_keeps_logs_in_files_not_in_memory(shop, tmp_path):
    commit(shop, lambda uow: [uow.events.add("big", {"text": "x" * 1000}) for _ in range(50)])
    assert "events" not in shop.tables.records
    segments = list((tmp_path / "data" / "logs" / "events").glob("*.jsonl"))
    assert len(segments) == 1 and segments[0].read_text().count("\n") == 50
    with shop.reader() as uow:
        assert uow.events.count() == 50


@pytest.mark.backends("json")
def test_a_json_log_rotates_by_size_and_reads_across_segments(shop, tmp_path):
    shop.segment_bytes = 2000
    for n in range(30):
        commit(shop, lambda uow, n=n: uow.events.add("t", {"n": n, "pad": "p" * 100}))
    segments = sorted((tmp_path / "data" / "logs" / "events").glob("*.jsonl"))
    assert len(segments) > 2
    with shop.reader() as uow:
        page, total = uow.events.list(Query(limit=200))
    assert total == 30 and [e["data"]["n"] for e in page] == list(range(29, -1, -1))
    assert [e["data"]["n"] for e in shop.events_after(page[-1]["id"])] == list(range(1, 30))


@pytest.mark.backends("json")
def test_log_bytes_a_crash_left_uncommitted_are_cut_and_lost_committed_ones_put_back(shop, tmp_path):
    commit(shop, lambda uow: [uow.events.add("kept", {"n": n}) for n in range(3)])
    segment = tmp_path / "data" / "logs" / "events" / "000001.jsonl"
    whole = segment.read_bytes()
    segment.write_bytes(whole + b'{"id": "evt_orphan", "type": "never committed"}\n')
    reopened = open_store(shop.address)
    assert segment.read_bytes() == whole  # an unacknowledged writer's bytes are cut off
    segment.write_bytes(whole[:-20])  # a crash lost the tail, though its journal line is durable
    reopened.close()
    again = open_store(shop.address)
    assert segment.read_bytes() == whole
    with again.reader() as uow:
        assert [e["type"] for e in uow.events.list(Query())[0]] == ["kept"] * 3
    again.checkpoint()  # the journal lines go; the log stays whole
    assert [e["data"]["n"] for e in open_store(shop.address).events_after(None)] == [0, 1, 2]


@pytest.mark.backends("json")
def test_a_journal_of_the_release_before_keeps_log_entries_among_its_ops_and_still_repairs(shop, tmp_path):
    import json as _json
    commit(shop, lambda uow: [uow.events.add("kept", {"n": n}) for n in range(3)])
    data = tmp_path / "data"
    journal = data / "journal.jsonl"
    header, *lines = journal.read_bytes().split(b"\n")
    assert any(b"\t" in line for line in lines), "log entries follow the ops after a TAB"
    old = []
    for line in lines:  # the form the release before wrote: entries inside "ops"
        head, tab, tail = line.partition(b"\t")
        if tab:
            entry = _json.loads(head)
            entry["ops"] = _json.loads(tail) + entry["ops"]
            line = _json.dumps(entry, separators=(",", ":")).encode()
        old.append(line)
    journal.write_bytes(b"\n".join([header, *old]))
    segment = data / "logs" / "events" / "000001.jsonl"
    whole = segment.read_bytes()
    segment.write_bytes(whole[:-20])  # a lost tail, put back from the old-form lines
    again = open_store(shop.address)
    assert segment.read_bytes() == whole
    assert [e["data"]["n"] for e in again.events_after(None)] == [0, 1, 2]


def test_committing_processes_leave_compaction_to_the_background_process_until_far_behind(tmp_path):
    import json as _json
    import time as _time
    store = JsonFileStore(str(tmp_path / "own"), compact_bytes=4096)
    store.commit_compact_factor = 4  # as make serve's workers are set
    journal = tmp_path / "own" / "journal.jsonl"

    def base_tx():
        return _json.loads(journal.read_bytes().split(b"\n", 1)[0])["base_tx"]

    while journal.stat().st_size <= 2 * 4096:
        commit(store, lambda uow: uow.products.add(product()))
    assert base_tx() == 0 and not store.compacting  # past the size, yet no commit compacted
    assert store.compact_if_due() is True  # the background process's task
    assert base_tx() > 0 and journal.stat().st_size < 4096
    assert store.compact_if_due() is False  # nothing due now
    compacted = base_tx()
    while journal.stat().st_size <= 4 * 4096 + 1024:  # far behind: a commit compacts after all
        commit(store, lambda uow: uow.products.add(product()))
    deadline = _time.monotonic() + 10
    while base_tx() == compacted and _time.monotonic() < deadline:
        _time.sleep(0.02)
    assert base_tx() > compacted
    with JsonFileStore(str(tmp_path / "own")).reader() as uow:
        assert uow.products.count() == read(store, lambda u: u.products.count())


def test_a_compaction_rewrites_only_the_files_of_collections_changed_since_they_were_written(tmp_path):
    """A collection unchanged since its snapshot file was written keeps that file (the orders of a
    shop that only edits its catalog are not rewritten); the new journal's header names what each
    file holds, and a store opened after it, or one that read a file a compaction then replaced,
    sees every record."""
    import json as _json
    folder = tmp_path / "own"
    store = JsonFileStore(str(folder))
    commit(store, lambda uow: uow.products.add(product()))
    store.compact()
    users_file, products_file = folder / "users.json", folder / "products.json"
    untouched = (users_file.stat().st_ino, users_file.read_bytes())
    before = products_file.stat().st_ino
    stale = JsonFileStore(str(folder))  # has read every file as it is now
    commit(store, lambda uow: uow.products.add(product()))
    store.compact()
    header = _json.loads((folder / "journal.jsonl").read_bytes().split(b"\n", 1)[0])
    assert (users_file.stat().st_ino, users_file.read_bytes()) == untouched
    assert products_file.stat().st_ino != before
    assert header["files"]["products"] == header["base_tx"]
    assert header["files"]["users"] < header["base_tx"]
    assert _json.loads(products_file.read_bytes())["count"] == 2
    with JsonFileStore(str(folder)).reader() as uow:
        assert uow.products.count() == 2
    with stale.reader() as uow:  # follows on, or reloads: never the old file without the journal
        assert uow.products.count() == 2


def test_jobs_are_claimed_by_one_worker_until_its_lease_runs_out(shop):
    from datetime import datetime, timedelta, timezone
    commit(shop, lambda uow: [uow.jobs.enqueue("mail", {"n": n}) for n in range(3)])
    later = commit(shop, lambda uow: uow.jobs.enqueue("mail", {"n": 9}, run_at="2999-01-01T00:00:00Z"))
    commit(shop, lambda uow: uow.jobs.enqueue("other", {}))
    first = commit(shop, lambda uow: uow.jobs.claim("w1", ["mail"], 60, limit=2))
    second = commit(shop, lambda uow: uow.jobs.claim("w2", ["mail"], 60, limit=5))
    assert [j["payload"]["n"] for j in first] == [0, 1] and [j["payload"]["n"] for j in second] == [2]
    assert all(j["status"] == "claimed" and j["attempts"] == 1 for j in first + second)
    assert {j["claimed_by"] for j in first} == {"w1"} and later["id"] not in {j["id"] for j in first + second}
    assert commit(shop, lambda uow: uow.jobs.claim("w3", ["mail"], 60)) == []
    # w1 died: once its lease has run out, its jobs are another's
    soon = datetime.now(timezone.utc) + timedelta(seconds=120)
    taken = commit(shop, lambda uow: uow.jobs.claim("w3", ["mail"], 60, now=soon))
    assert sorted(j["payload"]["n"] for j in taken) == [0, 1, 2]
    assert all(j["attempts"] == 2 and j["claimed_by"] == "w3" for j in taken)


def claim_jobs_in_a_process(results, address, worker):
    store = open_store(address)
    mine = []
    for _ in range(50):
        with store.unit_of_work() as uow:
            claimed = uow.jobs.claim(worker, ["work"], 60, limit=3)
            uow.commit()
        if not claimed:
            break
        mine += [j["payload"]["n"] for j in claimed]
    store.close()
    results.put(mine)


def test_processes_claiming_jobs_at_once_never_take_the_same_one(shop):
    commit(shop, lambda uow: [uow.jobs.enqueue("work", {"n": n}) for n in range(60)])
    taken = run_processes(claim_jobs_in_a_process, [(shop.address, f"w{n}",) for n in range(4)])
    every = sorted(n for mine in taken for n in mine)
    assert every == list(range(60))


def commit_an_event_later(results, address, delay):
    import time
    time.sleep(delay)
    store = open_store(address)
    with store.unit_of_work() as uow:
        uow.events.add("test.woke", {})
        uow.commit()
    store.close()
    results.put("done")


def test_a_listener_is_woken_when_another_process_commits_an_event(shop):
    import time
    listener = open_store(shop.address)
    assert listener.wait_for_events(0.2) is False  # nothing happens: it waits the whole time
    proc_results = CTX.Queue()
    proc = CTX.Process(target=commit_an_event_later, args=(proc_results, shop.address, 0.5))
    proc.start()
    started = time.monotonic()
    woke = listener.wait_for_events(10)
    waited = time.monotonic() - started
    proc.join(timeout=TIMEOUT)
    assert woke and waited < 5
    assert [e["type"] for e in listener.events_after(None)] == ["test.woke"]
    listener.close()
# ---- section 14: categories, products in them, conversations, rate limits ---------------------------

def category(**fields):
    n = next(_n)
    record = {"id": new_id(), "name": f"Category {n}", "slug": f"category-{n}", "parent_id": None,
              "description": None}
    record.update(fields)
    return record


def test_categories_round_trip_with_unique_names_and_slugs_and_their_children(shop):
    top = category(name="Crime fiction", slug="crime-fiction", description="Détectives")
    child = category(parent_id=top["id"])
    commit(shop, lambda uow: [uow.categories.add(top), uow.categories.add(child)])
    with shop.reader() as uow:
        assert uow.categories.get(top["id"]) == top
        assert uow.categories.find_by_name("CRIME FICTION")["id"] == top["id"]
        assert uow.categories.find_by_slug("crime-fiction")["id"] == top["id"]
        assert [c["id"] for c in uow.categories.children_of(top["id"])] == [child["id"]]
    for clash in (category(name="crime Fiction"), category(slug="crime-fiction")):
        with pytest.raises(UniqueViolation):
            commit(shop, lambda uow: uow.categories.add(clash))
    commit(shop, lambda uow: uow.categories.delete(child["id"]))
    assert read(shop, lambda uow: uow.categories.children_of(top["id"])) == []


def test_products_are_found_and_counted_by_category_and_unlinked_names_listed(shop):
    crime = category()
    poetry = category()
    products = [product(category_id=crime["id"], category=crime["name"], review=[]),
                product(category_id=crime["id"], status="draft"),
                product(category_id=poetry["id"]),
                product(category="Old name", category_id=None),
                product(category="  ")]
    commit(shop, lambda uow: [uow.categories.add(crime), uow.categories.add(poetry),
                              *[uow.products.add(p) for p in products]])
    with shop.reader() as uow:
        assert [p["id"] for p in uow.products.in_category(crime["id"])] == [p["id"] for p in products[:2]]
        assert uow.products.count_active_in([crime["id"]]) == 1
        assert uow.products.count_active_in([crime["id"], poetry["id"], "nope"]) == 2
        assert uow.products.count_active_in([]) == 0
        unlinked, total = uow.products.list(Query(filters={"unlinked_category": True}, limit=10))
        assert [p["id"] for p in unlinked] == [products[3]["id"]] and total == 1
        in_either, _ = uow.products.list(Query(filters={"category_id": [crime["id"], poetry["id"]]}))
        assert len(in_either) == 3
        assert uow.products.get(products[0]["id"]) == products[0]


def test_conversations_keep_their_messages_and_are_found_by_owner(shop):
    u = commit(shop, lambda uow: uow.users.add(user()))
    mine = {"id": "cnv_" + "a" * 24, "user_id": u["id"], "messages": [
        {"role": "user", "content": "Any Middlemarch?", "products": [], "at": "2026-11-21T10:15:00Z"},
        {"role": "assistant", "content": "Yes", "products": [{"id": "p", "price": "8.50"}],
         "at": "2026-11-21T10:15:00Z"}]}
    anonymous = {"id": "cnv_" + "b" * 24, "user_id": None, "messages": []}
    commit(shop, lambda uow: [uow.conversations.add(mine), uow.conversations.add(anonymous)])
    with shop.reader() as uow:
        assert uow.conversations.get(mine["id"]) == mine
        assert [c["id"] for c in uow.conversations.of_user(u["id"])] == [mine["id"]]
        page, total = uow.conversations.list(Query(filters={"user_id": None}))
        assert [c["id"] for c in page] == [anonymous["id"]] and total == 1
    mine["messages"].append({"role": "user", "content": "x", "products": [], "at": "2026-11-21T10:16:00Z"})
    commit(shop, lambda uow: uow.conversations.update(mine))
    assert read(shop, lambda uow: uow.conversations.get(mine["id"]))["version"] == 2


def test_rate_limit_windows_are_saved_read_and_forgotten(shop):
    window = {"id": "assistant:user:1", "hits": [1763720100.5, 1763720101.25], "updated_at": "2026-11-21T10:15:00Z"}
    old = dict(window, id="assistant:ip:127.0.0.1", updated_at="2026-11-21T10:00:00Z")
    commit(shop, lambda uow: [uow.rate_limits.save(window), uow.rate_limits.save(old)])
    commit(shop, lambda uow: uow.rate_limits.purge_before("2026-11-21T10:10:00Z", field="updated_at"))
    with shop.reader() as uow:
        assert uow.rate_limits.get(window["id"]) == window
        assert uow.rate_limits.get(old["id"]) is None


# ---- reports' aggregates (section 15): the SQL and the Python answer alike -------------------------

def _summary(rows):
    return sorted((r["key"] or "", r["payment_status"], r["orders"], r["items_sold"], str(r["amount"]))
                  for r in rows)


def test_sales_summary_groups_by_shop_day_product_and_category_alike(shop):
    from datetime import date
    tea, pen = product(category="drinks", price="2.00"), product(category=None, price="1.00")

    def lines(*pairs):
        return [{"product_id": p["id"], "sku": p["sku"], "title": p["title"], "quantity": q,
                 "unit_price": p["price"], "line_total": total} for p, q, total in pairs]
    records = [
        order(1, created_at="2026-11-21T22:59:59Z", payment_status="paid", total="4.00",
              items=lines((tea, 2, "4.00"))),
        order(2, created_at="2026-11-21T23:00:00Z", payment_status="refunded", total="5.00",
              items=lines((tea, 1, "2.00"), (pen, 3, "3.00"))),
        order(3, created_at="2026-11-21T12:00:00Z", payment_status="unpaid", total="9.00",
              items=lines((pen, 9, "9.00"))),
        order(4, created_at="2026-11-19T23:00:00Z", payment_status="paid", total="1.00",
              items=lines((pen, 1, "1.00"))),  # the 20th in Berlin: outside the range
    ]

    def put(uow):
        for p in (tea, pen):
            uow.products.add(p)
        for o in records:
            uow.orders.add(o)
    commit(shop, put)
    first, last, statuses = date(2026, 11, 21), date(2026, 11, 22), ("paid", "refunded")
    by_day = read(shop, lambda uow: uow.orders.sales_summary(first, last, "Europe/Berlin", statuses, "day"))
    assert _summary(by_day) == [("2026-11-21", "paid", 1, 2, "4.00"), ("2026-11-22", "refunded", 1, 4, "5.00")]
    by_product = read(shop, lambda uow: uow.orders.sales_summary(first, last, "Europe/Berlin", statuses, "product"))
    assert _summary(by_product) == sorted([(tea["id"], "paid", 1, 2, "4.00"), (tea["id"], "refunded", 1, 1, "2.00"),
                                           (pen["id"], "refunded", 1, 3, "3.00")])
    by_category = read(shop, lambda uow: uow.orders.sales_summary(first, last, "Europe/Berlin", statuses, "category"))
    assert _summary(by_category) == [("", "refunded", 1, 3, "3.00"), ("drinks", "paid", 1, 2, "4.00"),
                                     ("drinks", "refunded", 1, 1, "2.00")]
    counts = read(shop, lambda uow: uow.orders.count_by_status())
    assert counts == {"pending": 4}


def test_stock_as_of_and_movement_totals_agree_on_every_backend(shop):
    tea = product(stock=5)
    moves = [movement(tea, 5, stock_after=5, created_at="2026-11-20T10:00:00Z", reason="opening"),
             movement(tea, -2, stock_after=3, created_at="2026-11-21T10:00:00Z", reason="sale", note="Till"),
             movement(tea, 4, stock_after=7, created_at="2026-11-22T10:00:00Z", reason="received")]

    def put(uow):
        uow.products.add(tea)
        for m in moves:
            uow.movements.add(m)
    commit(shop, put)
    assert read(shop, lambda uow: uow.movements.stock_as_of("2026-11-21T23:59:59Z")) == {tea["id"]: 3}
    assert read(shop, lambda uow: uow.movements.stock_as_of("2026-11-19T23:59:59Z")) == {}
    every = read(shop, lambda uow: uow.movements.totals(Query()))
    assert every == {"movements": 3, "quantity_in": 9, "quantity_out": 2, "net": 7}
    sales_only = read(shop, lambda uow: uow.movements.totals(Query(filters={"reason": ["sale", "count"]})))
    assert sales_only == {"movements": 1, "quantity_in": 0, "quantity_out": 2, "net": -2}
    noted = read(shop, lambda uow: uow.movements.totals(Query(filters={"product_or_note": ("till", ())})))
    assert noted["movements"] == 1
    streamed = read(shop, lambda uow: [m["id"] for m in uow.movements.iterate(Query(sort=[("id", True)], limit=1))])
    assert streamed == [m["id"] for m in reversed(moves)]


# ---- section 11: customers, storefront keys, orders' channel, holds and customer links --------------

def customer(**fields):
    record = {"id": new_id(), "name": "Ada Lovelace", "email": None, "phone": None, "addresses": [],
              "notes": None, "erased": False}
    record.update(fields)
    return record


def test_customers_round_trip_with_emails_unique_in_any_case(shop):
    ada = customer(email="Ada@Example.com", addresses=[{"line1": "1 Road", "city": "York", "country": "GB"}])
    nameless = customer(name=None, email="b@example.com")
    commit(shop, lambda uow: [uow.customers.add(ada), uow.customers.add(nameless),
                              uow.customers.add(customer(email=None)), uow.customers.add(customer(email=None))])
    with shop.reader() as uow:
        assert uow.customers.get(ada["id"]) == ada
        assert uow.customers.find_by_email("ada@EXAMPLE.com")["id"] == ada["id"]
        assert uow.customers.find_by_email("nobody@example.com") is None
    with pytest.raises(UniqueViolation) as clash:
        commit(shop, lambda uow: uow.customers.add(customer(email="ADA@example.com")))
    assert clash.value.field == "email"
    ada.update(email=None, erased=True)  # erased: the email is free again
    commit(shop, lambda uow: uow.customers.update(ada))
    commit(shop, lambda uow: uow.customers.add(customer(email="ada@example.com")))
    with shop.reader() as uow:
        page, total = uow.customers.list(Query(filters={"erased": True}))
        assert total == 1 and page[0]["id"] == ada["id"]


def hold_queries(moment):
    """The held-stock queries exactly as services.storefront asks them."""
    return [Query(filters={"status": "pending", "payment_status": "unpaid", "channel": "storefront",
                           "hold_due": moment}, limit=10**9),
            Query(filters={"status": "pending", "channel": "storefront", "hold_after": moment},
                  sort=[("hold_expires_at", False)], limit=1)]


def test_the_holds_queries_answer_as_evaluate_does_as_orders_are_paid_cancelled_and_made(shop):
    """Every worker asks which holds are due and which comes next; the memory and JSON stores
    answer from the orders on hold they keep apart, which must follow every change (paid,
    cancelled, a hold made or ended in the unit of work asking, an order deleted)."""
    p = commit(shop, lambda uow: uow.products.add(product()))
    early, late = "2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z"
    records = [order(1001 + i, [(p, 1)], channel=("storefront", "staff")[i % 4 == 3],
                     hold_expires_at=(early, late, None)[i % 3], created_at=T[i % 4]) for i in range(12)]
    records[4].update(status="paid", payment_status="paid")
    records[6].update(status="cancelled")
    commit(shop, lambda uow: [uow.orders.add(r) for r in records])
    queries = hold_queries("2026-11-21T10:30:00Z")

    def check(repo, now):
        assert_lists_like_evaluate(repo, now, queries, OrderRepository.numeric, OrderRepository.special)

    with shop.reader() as uow:
        check(uow.orders, records)
        assert uow.orders.list(queries[0])[1] > 0 and uow.orders.list(queries[1])[0]
    due = [r for r in records if evaluate([r], queries[0], (), OrderRepository.special)[1]]
    paid, cancelled = dict(due[0], status="paid", payment_status="paid"), dict(due[1], status="cancelled")
    made = order(1100, [(p, 1)], channel="storefront", hold_expires_at=early)
    later = dict(next(r for r in records if r["hold_expires_at"] == late and r["channel"] == "storefront"),
                 hold_expires_at="2026-11-21T10:45:00Z")
    now = [{paid["id"]: paid, cancelled["id"]: cancelled, later["id"]: later}.get(r["id"], r) for r in records]
    with shop.unit_of_work() as uow:  # staged changes are seen by the unit of work making them
        uow.orders.update(paid)
        uow.orders.update(cancelled)
        uow.orders.update(later)
        uow.orders.add(made)
        check(uow.orders, now + [made])
        uow.commit()
    with shop.reader() as uow:  # and committed ones by every reader after
        check(uow.orders, now + [made])
        assert uow.orders.list(queries[1])[0][0]["id"] == later["id"]
    commit(shop, lambda uow: uow.orders.delete(made["id"]))
    with shop.reader() as uow:
        check(uow.orders, now)


def test_storefront_keys_are_found_by_key_and_listed_by_active_and_builtin(shop):
    web = {"id": new_id(), "name": "Web", "key": "pk_" + "a" * 32, "allowed_origins": ["https://shop.example"],
           "active": True, "builtin": False}
    page = {"id": new_id(), "name": "Shop page", "key": "pk_" + "b" * 32, "allowed_origins": [],
            "active": True, "builtin": True}
    commit(shop, lambda uow: [uow.storefront_keys.add(web), uow.storefront_keys.add(page)])
    with shop.reader() as uow:
        assert uow.storefront_keys.find_by_key(web["key"]) == uow.storefront_keys.get(web["id"])
        assert uow.storefront_keys.get(web["id"])["allowed_origins"] == ["https://shop.example"]
        assert uow.storefront_keys.find_by_key("pk_" + "A" * 32) is None  # keys are exact
        found, _ = uow.storefront_keys.list(Query(filters={"builtin": True, "active": True}))
        assert [k["id"] for k in found] == [page["id"]]
    with pytest.raises(UniqueViolation):
        commit(shop, lambda uow: uow.storefront_keys.add(dict(web, id=new_id())))


def test_orders_are_found_by_customer_and_number_and_holds_and_links_listed_as_evaluate_does(shop):
    p = commit(shop, lambda uow: uow.products.add(product()))
    ada = commit(shop, lambda uow: uow.customers.add(customer(email="ada@example.com")))
    holds = [None, "2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z"]
    records = [order(1001 + i, [(p, 1)], customer_id=(None, ada["id"], "cust-7")[i % 3],
                     channel=("staff", "storefront", None)[i % 3], hold_expires_at=holds[i % 3],
                     customer=({"name": "X", "email": "x@example.com"}, None, {"email": " "})[i % 2],
                     shipping_address=(None, {"line1": "1 Road", "city": "York", "postal_code": "Y1",
                                              "country": "GB"})[i % 2], created_at=T[i % 4])
               for i in range(9)]
    commit(shop, lambda uow: [uow.orders.add(r) for r in records])
    with shop.reader() as uow:
        assert [o["id"] for o in uow.orders.of_customer(ada["id"])] == [r["id"] for r in records if
                                                                       r["customer_id"] == ada["id"]]
        assert uow.orders.by_number(1004)["id"] == records[3]["id"]
        assert uow.orders.by_number(99) is None and uow.orders.by_number("1004") is None
        assert uow.orders.get(records[1]["id"]) == records[1]
        queries = [Query(filters={"channel": "storefront"}), Query(filters={"customer_id": ada["id"]}),
                   Query(filters={"hold_due": "2026-11-21T10:30:00Z"}),
                   Query(filters={"hold_after": "2026-11-21T10:30:00Z"}, sort=[("hold_expires_at", False)]),
                   Query(filters={"needs_customer_link": True}), Query(filters={"needs_customer_link": False}),
                   Query(filters={"hold_due": "not a time"})]
        assert_lists_like_evaluate(uow.orders, records, queries, OrderRepository.numeric, OrderRepository.special)
        assert_lists_like_evaluate(uow.products, [p], [Query(filters={"available": True}),
                                                       Query(filters={"available": False})],
                                   ProductRepository.numeric, ProductRepository.special)
