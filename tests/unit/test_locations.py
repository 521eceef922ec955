"""Locations, stock per location, transfers and stock counts: the rules, through the in-memory store."""
import pytest

from app.services import catalog, locations, orders, stock
from app.services.errors import (DefaultLocation, DuplicateValue, InsufficientStock, InvalidTransition,
                                 LocationArchived, LocationInUse, LocationNotEmpty, NotFound,
                                 ValidationFailed)
from app.storage.base import Query
from app.storage.memory import MemoryStore
from tests.unit.builders import (add_location, add_order, add_product, default_location_id,
                                 ledger_sum, ledger_sum_at, quantity_at, read, run, stock_of)


@pytest.fixture
def back(memory_store):
    return add_location(memory_store, name="Back room", code="BACK")


def move(store, source, destination, lines, complete=True, user="u1", **fields):
    """A transfer of [(product, quantity)] from one location id to another."""
    data = {"from_location_id": source, "to_location_id": destination, "complete": complete,
            "lines": [{"product_id": p["id"], "quantity": q} for p, q in lines], **fields}
    return run(store, lambda uow: locations.create_transfer(uow, data, user))


def count(store, location_id, lines, note=None):
    data = {"note": note, "lines": [{"product_id": p["id"], "counted": n} for p, n in lines]}
    return run(store, lambda uow: locations.create_count(uow, location_id, data, "u1"))


def events(store, kind):
    return read(store, lambda uow: [e for e in uow.events.list(Query(limit=200))[0] if e["type"] == kind])


def assert_ledger_holds(store, product, *location_ids):
    assert ledger_sum(store, product["id"]) == stock_of(store, product["id"])
    for location_id in location_ids:
        assert ledger_sum_at(store, product["id"], location_id) == quantity_at(store, product["id"], location_id)


# ---- the start-up step ------------------------------------------------------------------------------

def test_a_store_without_locations_gets_the_default_one_holding_every_products_stock():
    store = MemoryStore()
    with store.unit_of_work() as uow:  # as a store made before locations: records without them
        uow.products.add({"id": "p1", "sku": "A", "title": "A", "price": "1.00", "stock": 7, "status": "active"})
        uow.movements.add({"id": "m1", "product_id": "p1", "delta": 7, "stock_after": 7, "reason": "opening",
                           "ref": None, "note": None, "user_id": None})
        uow.orders.add({"id": "o1", "number": 1001, "items": [], "created_by": None})
        uow.commit()

    made = run(store, locations.ensure_default_location)

    assert (made["name"], made["code"], made["kind"], made["is_default"]) == ("Shop", "MAIN", "store", True)
    assert quantity_at(store, "p1", made["id"]) == 7
    movement = read(store, lambda uow: uow.movements.for_product("p1"))[0]
    assert list(movement)[:6] == ["id", "product_id", "location_id", "delta", "stock_after",
                                  "location_stock_after"]
    assert (movement["location_id"], movement["location_stock_after"]) == (made["id"], 7)
    assert read(store, lambda uow: uow.orders.get("o1"))["location_id"] == made["id"]


def test_a_store_with_a_location_is_left_alone_by_the_start_up_step(memory_store):
    before = default_location_id(memory_store)
    assert run(memory_store, locations.ensure_default_location) is None
    assert read(memory_store, lambda uow: uow.locations.count()) == 1
    assert default_location_id(memory_store) == before


# ---- locations --------------------------------------------------------------------------------------

def test_a_code_is_trimmed_and_upper_cased_and_a_name_trimmed(memory_store):
    made = add_location(memory_store, name="  Back room ", code=" back-1 ")
    assert (made["name"], made["code"], made["kind"], made["status"], made["is_default"]) == (
        "Back room", "BACK-1", "stockroom", "active", False)


@pytest.mark.parametrize("field, value", [("code", "BACK ROOM"), ("code", "X" * 17), ("code", "  "),
                                          ("name", "   "), ("name", "N" * 101), ("kind", "shed")])
def test_a_bad_name_code_or_kind_is_refused_under_its_field(memory_store, field, value):
    with pytest.raises(ValidationFailed) as err:
        add_location(memory_store, **{field: value})
    assert list(err.value.errors) == [field]


def test_names_are_unique_in_any_case_and_codes_unique(memory_store, back):
    with pytest.raises(DuplicateValue) as err:
        add_location(memory_store, name="BACK ROOM")
    assert err.value.code == "duplicate_name"
    with pytest.raises(DuplicateValue) as err:
        add_location(memory_store, code="back")
    assert err.value.code == "duplicate_code"


def test_a_new_location_that_is_not_active_is_refused(memory_store):
    with pytest.raises(ValidationFailed) as err:
        add_location(memory_store, status="archived")
    assert list(err.value.errors) == ["status"]


def test_making_a_location_the_default_clears_the_previous_one(memory_store, back):
    main = read(memory_store, lambda uow: uow.locations.default())
    run(memory_store, lambda uow: locations.update_location(uow, back["id"], {"is_default": True}))
    with memory_store.reader() as uow:
        old, new = uow.locations.get(main["id"]), uow.locations.get(back["id"])
    assert (old["is_default"], old["version"]) == (False, main["version"] + 1)
    assert (new["is_default"], new["version"]) == (True, 2)
    made = add_location(memory_store, is_default=True)
    assert [loc["id"] for loc in read(memory_store, lambda uow: uow.locations.list(Query())[0])
            if loc["is_default"]] == [made["id"]]


def test_the_default_cannot_stop_being_it_nor_be_archived(memory_store):
    main = default_location_id(memory_store)
    with pytest.raises(DefaultLocation):
        run(memory_store, lambda uow: locations.update_location(uow, main, {"is_default": False}))
    with pytest.raises(DefaultLocation):
        run(memory_store, lambda uow: locations.archive_location(uow, main))


def test_a_location_holding_stock_or_named_by_a_pending_transfer_is_not_archived(memory_store, back):
    product = add_product(memory_store, stock=5)
    move(memory_store, default_location_id(memory_store), back["id"], [(product, 2)])
    with pytest.raises(LocationNotEmpty):
        run(memory_store, lambda uow: locations.archive_location(uow, back["id"]))
    move(memory_store, back["id"], default_location_id(memory_store), [(product, 2)])
    move(memory_store, default_location_id(memory_store), back["id"], [(product, 1)], complete=False)
    with pytest.raises(LocationInUse):
        run(memory_store, lambda uow: locations.archive_location(uow, back["id"]))


def test_an_archived_location_cannot_be_the_default_until_it_is_revived(memory_store, back):
    archived = run(memory_store, lambda uow: locations.archive_location(uow, back["id"]))
    assert archived["status"] == "archived"
    with pytest.raises(LocationArchived):
        run(memory_store, lambda uow: locations.update_location(uow, back["id"], {"is_default": True}))
    revived = run(memory_store, lambda uow: locations.update_location(
        uow, back["id"], {"status": "active", "is_default": True}))
    assert (revived["status"], revived["is_default"]) == ("active", True)


# ---- stock at a location ----------------------------------------------------------------------------

def test_opening_stock_adjustments_and_receiving_go_where_they_are_told(memory_store, back):
    product = run(memory_store, lambda uow: catalog.create_product(uow, {
        "sku": "AT-BACK", "title": "T", "price": "1.00", "stock": 4, "barcode": "4006381333931",
        "location_id": back["id"]}, "u1"))
    assert "location_id" not in product and product["stock"] == 4
    run(memory_store, lambda uow: stock.adjust_stock(uow, product["id"], -1, "damaged", location_id=back["id"]))
    received = run(memory_store, lambda uow: stock.receive_stock(uow, "4006381333931", 3, location_id=back["id"]))
    assert (received["location_id"], received["location_stock_after"], received["stock_after"]) == (back["id"], 6, 6)
    assert quantity_at(memory_store, product["id"], back["id"]) == 6
    assert quantity_at(memory_store, product["id"], default_location_id(memory_store)) == 0
    assert_ledger_holds(memory_store, product, back["id"])


def test_an_unknown_or_archived_location_is_refused_under_its_field(memory_store, back):
    product = add_product(memory_store)
    run(memory_store, lambda uow: locations.archive_location(uow, back["id"]))
    for location_id in ("nowhere", back["id"]):
        with pytest.raises(ValidationFailed) as err:
            add_order(memory_store, [(product, 1)], location_id=location_id)
        assert list(err.value.errors) == ["location_id"]
        with pytest.raises(ValidationFailed) as err:
            run(memory_store, lambda uow: stock.adjust_stock(uow, product["id"], 1, "other",
                                                              location_id=location_id))
        assert list(err.value.errors) == ["location_id"]


def test_an_order_short_at_its_location_is_refused_whatever_other_locations_hold(memory_store, back):
    product = add_product(memory_store, stock=5)
    move(memory_store, default_location_id(memory_store), back["id"], [(product, 4)])
    with pytest.raises(InsufficientStock) as err:
        add_order(memory_store, [(product, 2)])
    assert err.value.extra["shortages"] == [{"index": 0, "product_id": product["id"],
                                             "location_id": default_location_id(memory_store),
                                             "requested": 2, "available": 1}]
    order = add_order(memory_store, [(product, 2)], location_id=back["id"])
    assert order["location_id"] == back["id"]
    assert quantity_at(memory_store, product["id"], back["id"]) == 2 and stock_of(memory_store, product["id"]) == 3
    assert_ledger_holds(memory_store, product, back["id"], default_location_id(memory_store))


def test_an_order_naming_no_location_is_taken_at_the_default_one(memory_store):
    product = add_product(memory_store, stock=3)
    order = add_order(memory_store, [(product, 1)])
    sale = read(memory_store, lambda uow: uow.movements.for_product(product["id"]))[-1]
    assert order["location_id"] == sale["location_id"] == default_location_id(memory_store)
    assert (sale["stock_after"], sale["location_stock_after"]) == (2, 2)


def test_a_cancel_returns_stock_to_the_orders_location_or_the_default_if_archived_since(memory_store, back):
    product = add_product(memory_store, stock=6)
    move(memory_store, default_location_id(memory_store), back["id"], [(product, 3)])
    kept = add_order(memory_store, [(product, 1)], location_id=back["id"])
    run(memory_store, lambda uow: orders.cancel_order(uow, kept["id"]))
    assert quantity_at(memory_store, product["id"], back["id"]) == 3
    gone = add_order(memory_store, [(product, 3)], location_id=back["id"])
    run(memory_store, lambda uow: locations.archive_location(uow, back["id"]))
    run(memory_store, lambda uow: orders.cancel_order(uow, gone["id"]))
    assert quantity_at(memory_store, product["id"], back["id"]) == 0
    assert quantity_at(memory_store, product["id"], default_location_id(memory_store)) == 6
    assert_ledger_holds(memory_store, product, back["id"], default_location_id(memory_store))


def test_a_products_stock_lists_every_active_location_default_first_and_the_total(memory_store, back):
    product = add_product(memory_store, stock=5)
    add_location(memory_store, name="Annex", code="ANNEX")
    gone = add_location(memory_store, name="Attic", code="ATTIC")
    run(memory_store, lambda uow: locations.archive_location(uow, gone["id"]))
    move(memory_store, default_location_id(memory_store), back["id"], [(product, 2)])
    answer = read(memory_store, lambda uow: locations.product_stock(uow, product["id"]))
    assert answer["total"] == 5
    assert [(loc["name"], loc["quantity"]) for loc in answer["locations"]] == [
        ("Shop", 3), ("Annex", 0), ("Back room", 2)]


def test_a_locations_stock_lists_the_products_it_holds_archived_ones_too(memory_store, back):
    a, b, c = (add_product(memory_store, sku=sku, stock=4) for sku in ("B-2", "A-1", "C-3"))
    move(memory_store, default_location_id(memory_store), back["id"], [(a, 1), (b, 2)])
    run(memory_store, lambda uow: catalog.archive_product(uow, a["id"]))
    rows, total = read(memory_store, lambda uow: locations.location_stock(uow, back["id"], Query(sort=[("sku", False)])))
    assert total == 2 and [(r["sku"], r["quantity"]) for r in rows] == [("A-1", 2), ("B-2", 1)]
    assert set(rows[0]) == {"product_id", "sku", "title", "quantity"}
    assert c["id"] not in [r["product_id"] for r in rows]


# ---- transfers --------------------------------------------------------------------------------------

def test_a_pending_transfer_holds_nothing_and_completing_moves_every_line(memory_store, back):
    main = default_location_id(memory_store)
    a, b = add_product(memory_store, stock=5), add_product(memory_store, stock=2)
    planned = move(memory_store, main, back["id"], [(a, 3), (b, 2)], complete=False, note="restock")
    assert (planned["status"], planned["number"], planned["completed_at"]) == ("pending", 1, None)
    assert quantity_at(memory_store, a["id"], main) == 5

    done = run(memory_store, lambda uow: locations.complete_transfer(uow, planned["id"], "u2"))

    assert (done["status"], done["completed_by"], done["version"]) == ("completed", "u2", 2)
    assert quantity_at(memory_store, a["id"], back["id"]) == 3 and quantity_at(memory_store, a["id"], main) == 2
    assert stock_of(memory_store, a["id"]) == 5
    moves = [m for m in read(memory_store, lambda uow: uow.movements.for_product(a["id"])) if m["ref"] == done["id"]]
    assert [(m["reason"], m["delta"], m["stock_after"], m["location_stock_after"], m["note"], m["user_id"])
            for m in moves] == [("transfer_out", -3, 2, 2, "restock", "u2"),
                                ("transfer_in", 3, 5, 3, "restock", "u2")]
    assert [e["data"]["id"] for e in events(memory_store, "transfer.completed")] == [done["id"]]
    assert_ledger_holds(memory_store, a, main, back["id"])
    assert_ledger_holds(memory_store, b, main, back["id"])


def test_a_transfer_short_at_the_source_moves_nothing_and_stays_pending(memory_store, back):
    main = default_location_id(memory_store)
    a, b = add_product(memory_store, stock=5), add_product(memory_store, stock=1)
    planned = move(memory_store, main, back["id"], [(a, 2), (b, 3)], complete=False)
    with pytest.raises(InsufficientStock) as err:
        run(memory_store, lambda uow: locations.complete_transfer(uow, planned["id"], "u1"))
    assert list(err.value.errors) == ["lines.1"]
    assert err.value.extra["shortages"] == [{"index": 1, "product_id": b["id"], "location_id": main,
                                             "requested": 3, "available": 1}]
    assert read(memory_store, lambda uow: uow.transfers.get(planned["id"]))["status"] == "pending"
    assert quantity_at(memory_store, a["id"], main) == 5


def test_a_transfer_completed_on_create_that_is_short_leaves_no_transfer(memory_store, back):
    product = add_product(memory_store, stock=1)
    with pytest.raises(InsufficientStock):
        move(memory_store, default_location_id(memory_store), back["id"], [(product, 2)])
    assert read(memory_store, lambda uow: uow.transfers.count()) == 0
    assert move(memory_store, default_location_id(memory_store), back["id"], [(product, 1)])["number"] == 1


def test_only_a_pending_transfer_is_completed_or_cancelled(memory_store, back):
    product = add_product(memory_store, stock=5)
    done = move(memory_store, default_location_id(memory_store), back["id"], [(product, 1)])
    for action in (lambda uow: locations.complete_transfer(uow, done["id"], "u1"),
                   lambda uow: locations.cancel_transfer(uow, done["id"])):
        with pytest.raises(InvalidTransition):
            run(memory_store, action)
    planned = move(memory_store, default_location_id(memory_store), back["id"], [(product, 1)], complete=False)
    cancelled = run(memory_store, lambda uow: locations.cancel_transfer(uow, planned["id"]))
    assert cancelled["status"] == "cancelled"
    with pytest.raises(InvalidTransition):
        run(memory_store, lambda uow: locations.complete_transfer(uow, planned["id"], "u1"))
    assert quantity_at(memory_store, product["id"], back["id"]) == 1


def test_transfer_lines_are_named_as_a_scanner_reads_them_and_snapshot_sku_and_title(memory_store, back):
    product = add_product(memory_store, isbn="9780141439518", kind="book", title="Pride and Prejudice")
    transfer = run(memory_store, lambda uow: locations.create_transfer(uow, {
        "from_location_id": default_location_id(memory_store), "to_location_id": back["id"],
        "lines": [{"barcode": "0141439513", "quantity": 2}]}, "u1"))
    assert transfer["lines"] == [{"product_id": product["id"], "sku": product["sku"],
                                  "title": "Pride and Prejudice", "quantity": 2}]


@pytest.mark.parametrize("lines, field", [
    ([], "lines"), ([{"product_id": "nope", "quantity": 1}], "lines.0"),
    ("archived", "lines.0"), ("repeated", "lines.1")])
def test_bad_transfer_lines_are_refused_under_their_index(memory_store, back, lines, field):
    product = add_product(memory_store)
    if lines == "archived":
        run(memory_store, lambda uow: catalog.archive_product(uow, product["id"]))
        lines = [{"product_id": product["id"], "quantity": 1}]
    elif lines == "repeated":
        lines = [{"product_id": product["id"], "quantity": 1}, {"barcode": product["sku"], "quantity": 1}]
    with pytest.raises(ValidationFailed) as err:
        run(memory_store, lambda uow: locations.create_transfer(uow, {
            "from_location_id": default_location_id(memory_store), "to_location_id": back["id"],
            "lines": lines}, "u1"))
    assert list(err.value.errors) == [field]


def test_a_transfer_to_the_same_location_is_refused_under_to_location_id(memory_store):
    product = add_product(memory_store)
    main = default_location_id(memory_store)
    with pytest.raises(ValidationFailed) as err:
        move(memory_store, main, main, [(product, 1)])
    assert list(err.value.errors) == ["to_location_id"]


def test_a_product_archived_after_planning_still_moves(memory_store, back):
    product = add_product(memory_store, stock=3)
    planned = move(memory_store, default_location_id(memory_store), back["id"], [(product, 3)], complete=False)
    run(memory_store, lambda uow: catalog.archive_product(uow, product["id"]))
    run(memory_store, lambda uow: locations.complete_transfer(uow, planned["id"], "u1"))
    assert quantity_at(memory_store, product["id"], back["id"]) == 3


# ---- stock counts -----------------------------------------------------------------------------------

def test_a_count_corrects_each_line_that_differs_with_one_count_movement(memory_store):
    main = default_location_id(memory_store)
    a, b, untouched = (add_product(memory_store, stock=n) for n in (6, 2, 9))
    made = count(memory_store, main, [(a, 4), (b, 2)], note="aisle 3")

    assert [(ln["product_id"], ln["expected"], ln["counted"], ln["delta"]) for ln in made["lines"]] == [
        (a["id"], 6, 4, -2), (b["id"], 2, 2, 0)]
    assert "version" not in made and "updated_at" not in made
    counted = [m for m in read(memory_store, lambda uow: uow.movements.list(Query(limit=200))[0])
               if m["ref"] == made["id"]]
    assert [(m["product_id"], m["reason"], m["delta"], m["note"]) for m in counted] == [
        (a["id"], "count", -2, "aisle 3")]
    assert stock_of(memory_store, a["id"]) == 4 and stock_of(memory_store, untouched["id"]) == 9
    assert [e["data"]["id"] for e in events(memory_store, "stock_count.created")] == [made["id"]]
    assert_ledger_holds(memory_store, a, main)


def test_a_count_where_nothing_differs_is_kept_and_writes_no_movement(memory_store):
    product = add_product(memory_store, stock=2)
    made = count(memory_store, default_location_id(memory_store), [(product, 2)])
    assert read(memory_store, lambda uow: uow.stock_counts.get(made["id"])) == made
    assert len(read(memory_store, lambda uow: uow.movements.for_product(product["id"]))) == 1


def test_a_count_finds_stock_at_another_location_than_it_was_thought(memory_store, back):
    product = add_product(memory_store, stock=0)
    made = count(memory_store, back["id"], [(product, 3)])
    assert made["lines"][0]["delta"] == 3
    assert quantity_at(memory_store, product["id"], back["id"]) == 3 and stock_of(memory_store, product["id"]) == 3


def test_a_count_at_an_archived_location_is_refused(memory_store, back):
    product = add_product(memory_store)
    run(memory_store, lambda uow: locations.archive_location(uow, back["id"]))
    with pytest.raises(LocationArchived):
        count(memory_store, back["id"], [(product, 1)])
    with pytest.raises(NotFound):
        count(memory_store, "nowhere", [(product, 1)])


def test_a_count_with_a_bad_line_changes_nothing(memory_store):
    product = add_product(memory_store, stock=5)
    with pytest.raises(ValidationFailed) as err:
        run(memory_store, lambda uow: locations.create_count(uow, default_location_id(memory_store), {
            "lines": [{"product_id": product["id"], "counted": 1}, {"product_id": "nope", "counted": 1}]}, "u1"))
    assert list(err.value.errors) == ["lines.1"]
    assert stock_of(memory_store, product["id"]) == 5
