"""Vendors, supply links, contacts, purchase orders, receipts, average cost and reorder suggestions:
the rules, through the in-memory store."""
from datetime import date
from decimal import Decimal

import pytest

from app.services import purchasing
from app.services.errors import (DuplicateValue, InvalidTransition, NotFound, OverReceipt, SupplyExists,
                                 ValidationFailed, VendorArchived)
from app.storage.base import Query
from app.storage.memory import MemoryStore
from tests.unit.builders import (add_location, add_product, default_location_id, ledger_sum, quantity_at, read,
                                 run, stock_of)


def vendor(store, **fields):
    data = {"name": f"Vendor {next(_names)}", **fields}
    return run(store, lambda uow: purchasing.create_vendor(uow, data))


_names = iter(range(1, 10 ** 6))


def link(store, vendor_record, product, **fields):
    data = {"product_id": product["id"], **fields}
    return run(store, lambda uow: purchasing.create_link(uow, vendor_record["id"], data))


def draft(store, vendor_record, lines, **fields):
    """A draft of [(product, quantity)] or [(product, quantity, unit_cost)]."""
    items = [{"product_id": line[0]["id"], "quantity": line[1],
              **({"unit_cost": Decimal(line[2])} if len(line) > 2 else {})} for line in lines]
    data = {"vendor_id": vendor_record["id"], "lines": items, **fields}
    return run(store, lambda uow: purchasing.create_purchase_order(uow, data, "u1", "EUR"))


def act(store, action, purchase_order, *args):
    fn = getattr(purchasing, f"{action}_purchase_order")
    return run(store, lambda uow: fn(uow, purchase_order["id"], *args))


def order(store, purchase_order, note=None, **kwargs):
    return run(store, lambda uow: purchasing.order_purchase_order(uow, purchase_order["id"], note, "u1", **kwargs))


def receive(store, purchase_order, lines, **fields):
    data = {"lines": [{"product_id": p["id"], "quantity": q} for p, q in lines], **fields}
    return run(store, lambda uow: purchasing.receive_purchase_order(uow, purchase_order["id"], data, "u2"))


def product_of(store, product):
    return read(store, lambda uow: uow.products.get(product["id"]))


def events(store, kind):
    return read(store, lambda uow: [e for e in uow.events.list(Query(limit=200))[0] if e["type"] == kind])


@pytest.fixture
def penguin(memory_store):
    return vendor(memory_store, name="Penguin Trade", email="orders@penguin.example")


# ---- vendors --------------------------------------------------------------------------------------

def test_a_vendor_is_active_with_its_name_trimmed_and_blank_fields_null(memory_store):
    made = vendor(memory_store, name="  Penguin Trade ", contact_name=" ", specialty="classics")
    assert (made["name"], made["contact_name"], made["specialty"], made["status"], made["version"]) == (
        "Penguin Trade", None, "classics", "active", 1)


def test_vendor_names_are_unique_in_any_case_archived_ones_too(memory_store, penguin):
    run(memory_store, lambda uow: purchasing.archive_vendor(uow, penguin["id"]))
    with pytest.raises(DuplicateValue) as err:
        vendor(memory_store, name="PENGUIN TRADE")
    assert err.value.code == "duplicate_name"


@pytest.mark.parametrize("fields", [{"name": "   "}, {"name": "N" * 201}, {"status": "archived"}])
def test_a_bad_vendor_is_refused_under_its_field(memory_store, fields):
    with pytest.raises(ValidationFailed) as err:
        vendor(memory_store, **fields)
    assert list(err.value.errors) == list(fields)


def test_archiving_and_reviving_a_vendor_keeps_what_it_has_and_put_keeps_the_status(memory_store, penguin):
    archived = run(memory_store, lambda uow: purchasing.archive_vendor(uow, penguin["id"]))
    assert (archived["status"], archived["version"]) == ("archived", 2)
    replaced = run(memory_store, lambda uow: purchasing.update_vendor(uow, penguin["id"], {"name": "Penguin"},
                                                                     replace=True))
    assert (replaced["status"], replaced["email"]) == ("archived", None)
    revived = run(memory_store, lambda uow: purchasing.update_vendor(uow, penguin["id"], {"status": "active"}))
    assert revived["status"] == "active"


# ---- supply links ---------------------------------------------------------------------------------

def test_the_first_link_of_a_product_is_its_primary_and_later_ones_are_not(memory_store, penguin):
    other = vendor(memory_store)
    product = add_product(memory_store)
    first = link(memory_store, penguin, product, cost="5.20", vendor_sku=" PEN-1 ")
    second = link(memory_store, other, product)
    assert (first["is_primary"], first["cost"], first["vendor_sku"], first["min_order_quantity"],
            first["pack_size"]) == (True, "5.20", "PEN-1", 1, 1)
    assert second["is_primary"] is False


def test_making_a_link_primary_clears_the_previous_primary_in_the_same_unit_of_work(memory_store, penguin):
    other = vendor(memory_store)
    product = add_product(memory_store)
    first = link(memory_store, penguin, product)
    link(memory_store, other, product, is_primary=True)
    with memory_store.reader() as uow:
        old = purchasing.get_link(uow, penguin["id"], product["id"])
        new = purchasing.get_link(uow, other["id"], product["id"])
    assert (old["is_primary"], old["version"]) == (False, first["version"] + 1)
    assert new["is_primary"] is True
    run(memory_store, lambda uow: purchasing.update_link(uow, penguin["id"], product["id"], {"is_primary": True}))
    primaries = read(memory_store, lambda uow: [l["vendor_id"] for l in uow.supply_links.for_product(product["id"])
                                                if l["is_primary"]])
    assert primaries == [penguin["id"]]


def test_deleting_the_primary_leaves_none_and_promotes_no_other(memory_store, penguin):
    other = vendor(memory_store)
    product = add_product(memory_store)
    link(memory_store, penguin, product)
    link(memory_store, other, product)
    run(memory_store, lambda uow: purchasing.delete_link(uow, penguin["id"], product["id"]))
    links = read(memory_store, lambda uow: uow.supply_links.for_product(product["id"]))
    assert [(l["vendor_id"], l["is_primary"]) for l in links] == [(other["id"], False)]


def test_a_vendor_links_a_product_once_and_only_an_active_one_to_an_active_vendor(memory_store, penguin):
    product = add_product(memory_store)
    link(memory_store, penguin, product)
    with pytest.raises(SupplyExists):
        link(memory_store, penguin, product)
    archived = add_product(memory_store, status="archived")
    with pytest.raises(ValidationFailed) as err:
        link(memory_store, penguin, archived)
    assert list(err.value.errors) == ["product_id"]
    gone = vendor(memory_store)
    run(memory_store, lambda uow: purchasing.archive_vendor(uow, gone["id"]))
    with pytest.raises(VendorArchived):
        link(memory_store, gone, add_product(memory_store))


def test_a_links_vendor_and_product_never_change(memory_store, penguin):
    product = add_product(memory_store)
    link(memory_store, penguin, product)
    with pytest.raises(ValidationFailed) as err:
        run(memory_store, lambda uow: purchasing.update_link(uow, penguin["id"], product["id"],
                                                             {"product_id": "another"}))
    assert list(err.value.errors) == ["product_id"]


def test_a_products_links_list_the_primary_first_then_oldest_first(memory_store, penguin):
    a, b = vendor(memory_store), vendor(memory_store)
    product = add_product(memory_store)
    link(memory_store, penguin, product)
    link(memory_store, a, product)
    link(memory_store, b, product, is_primary=True)
    links, total = read(memory_store, lambda uow: purchasing.product_links(uow, product["id"], Query()))
    assert [l["vendor_id"] for l in links] == [b["id"], penguin["id"], a["id"]] and total == 3


# ---- contacts -------------------------------------------------------------------------------------

def test_a_contact_is_recorded_with_its_author_and_event_archived_vendors_too(memory_store, penguin):
    product = add_product(memory_store, status="archived")
    run(memory_store, lambda uow: purchasing.archive_vendor(uow, penguin["id"]))
    contact = run(memory_store, lambda uow: purchasing.record_contact(uow, penguin["id"], {
        "contact_type": "phone", "message": " Asked for the spring list ", "product_id": product["id"]}, "u7"))
    assert (contact["message"], contact["user_id"], contact["product_id"]) == (
        "Asked for the spring list", "u7", product["id"])
    assert "version" not in contact and "updated_at" not in contact
    assert [e["data"] for e in events(memory_store, "vendor.contacted")] == [contact]


@pytest.mark.parametrize("fields, field", [({"message": "  "}, "message"), ({"message": "x" * 5001}, "message"),
                                           ({"product_id": "nothing"}, "product_id")])
def test_a_bad_contact_is_refused_under_its_field(memory_store, penguin, fields, field):
    data = {"contact_type": "email", "message": "hello", **fields}
    with pytest.raises(ValidationFailed) as err:
        run(memory_store, lambda uow: purchasing.record_contact(uow, penguin["id"], data, "u1"))
    assert list(err.value.errors) == [field]


# ---- purchase orders: defaults and lines ------------------------------------------------------------

def test_a_draft_numbers_from_1_and_takes_the_links_cost_else_the_products(memory_store, penguin):
    linked = add_product(memory_store, cost="4.00", sku="LINKED")
    unlinked = add_product(memory_store, cost="3.00", sku="UNLINKED")
    link(memory_store, penguin, linked, cost="5.20", vendor_sku="PEN-0141")
    made = draft(memory_store, penguin, [(linked, 12), (unlinked, 6), (add_product(memory_store), 1, "0.10")])
    assert (made["number"], made["status"], made["currency"], made["ordered_at"]) == (1, "draft", "EUR", None)
    assert [(l["sku"], l["vendor_sku"], l["unit_cost"], l["line_total"], l["received_quantity"])
            for l in made["lines"][:2]] == [("LINKED", "PEN-0141", "5.20", "62.40", 0),
                                            ("UNLINKED", None, "3.00", "18.00", 0)]
    assert made["subtotal"] == "80.50"
    assert [(e["status"], e["user_id"], e["note"]) for e in made["events"]] == [("draft", "u1", None)]
    assert draft(memory_store, penguin, [(linked, 1)])["number"] == 2


def test_a_line_with_no_cost_anywhere_is_refused_under_its_index(memory_store, penguin):
    priced = add_product(memory_store, cost="1.00")
    with pytest.raises(ValidationFailed) as err:
        draft(memory_store, penguin, [(priced, 1), (add_product(memory_store), 2)])
    assert list(err.value.errors) == ["lines.1"]
    assert read(memory_store, lambda uow: uow.purchase_orders.count()) == 0


def test_lines_refuse_archived_and_repeated_products_and_an_unknown_or_archived_vendor(memory_store, penguin):
    product = add_product(memory_store, cost="1.00")
    with pytest.raises(ValidationFailed) as err:
        draft(memory_store, penguin, [(product, 1), (add_product(memory_store, status="archived", cost="1.00"), 1),
                                      (product, 2)])
    assert sorted(err.value.errors) == ["lines.1", "lines.2"]
    with pytest.raises(ValidationFailed) as err:
        draft(memory_store, {"id": "nobody"}, [(product, 1)])
    assert list(err.value.errors) == ["vendor_id"]
    run(memory_store, lambda uow: purchasing.archive_vendor(uow, penguin["id"]))
    with pytest.raises(VendorArchived):
        draft(memory_store, penguin, [(product, 1)])


def test_a_line_may_name_its_product_by_barcode(memory_store, penguin):
    book = add_product(memory_store, kind="book", isbn="9780141439518", cost="2.00")
    data = {"vendor_id": penguin["id"], "lines": [{"barcode": "9780141439518", "quantity": 6}]}
    made = run(memory_store, lambda uow: purchasing.create_purchase_order(uow, data, "u1", "EUR"))
    assert made["lines"][0]["product_id"] == book["id"]


def test_lines_change_only_while_draft_and_notes_until_finished(memory_store, penguin):
    product = add_product(memory_store, cost="1.00")
    made = draft(memory_store, penguin, [(product, 2)])
    changed = run(memory_store, lambda uow: purchasing.update_purchase_order(
        uow, made["id"], {"lines": [{"product_id": product["id"], "quantity": 5}], "notes": "more"}))
    assert (changed["lines"][0]["quantity"], changed["subtotal"], changed["notes"]) == (5, "5.00", "more")
    order(memory_store, made)
    with pytest.raises(InvalidTransition):
        run(memory_store, lambda uow: purchasing.update_purchase_order(uow, made["id"], {"lines": []}))
    run(memory_store, lambda uow: purchasing.update_purchase_order(uow, made["id"], {"expected_date": date(2026, 12, 1)}))
    act(memory_store, "cancel", made, None, "u1")
    with pytest.raises(InvalidTransition):
        run(memory_store, lambda uow: purchasing.update_purchase_order(uow, made["id"], {"notes": "late"}))


# ---- the machine ----------------------------------------------------------------------------------

def test_ordering_puts_the_quantities_on_order_and_records_its_event(memory_store, penguin):
    product = add_product(memory_store, cost="1.00")
    made = draft(memory_store, penguin, [(product, 12)])
    ordered = order(memory_store, made, "by email")
    assert (ordered["status"], ordered["ordered_at"] is not None) == ("ordered", True)
    assert [(e["status"], e["note"]) for e in ordered["events"]] == [("draft", None), ("ordered", "by email")]
    after = product_of(memory_store, product)
    assert (after["on_order"], after["version"]) == (12, product["version"] + 1)
    assert [e["data"]["id"] for e in events(memory_store, "purchase_order.ordered")] == [made["id"]]


def test_ordered_without_expected_date_it_is_the_order_day_plus_the_longest_lead_time(memory_store, penguin):
    slow, quick = add_product(memory_store, cost="1.00"), add_product(memory_store, cost="1.00")
    link(memory_store, penguin, slow, lead_time_days=10)
    link(memory_store, penguin, quick, lead_time_days=3)
    made = order(memory_store, draft(memory_store, penguin, [(slow, 1), (quick, 1)]), today=date(2026, 12, 25))
    assert made["expected_date"] == "2027-01-04"
    kept = order(memory_store, draft(memory_store, penguin, [(slow, 1)], expected_date=date(2026, 12, 1)))
    assert kept["expected_date"] == "2026-12-01"
    none = order(memory_store, draft(memory_store, penguin, [(add_product(memory_store, cost="1.00"), 1)]))
    assert none["expected_date"] is None


@pytest.mark.parametrize("path, action, expected", [
    ((), "receive", InvalidTransition), ((), "close", InvalidTransition), ((), "cancel", "cancelled"),
    (("order",), "order", InvalidTransition), (("order",), "close", InvalidTransition),
    (("order",), "cancel", "cancelled"),
    (("order", "part"), "cancel", InvalidTransition), (("order", "part"), "close", "closed"),
    (("order", "part"), "order", InvalidTransition),
    (("order", "all"), "receive", InvalidTransition), (("order", "all"), "close", InvalidTransition),
    (("order", "all"), "cancel", InvalidTransition),
    (("cancel",), "order", InvalidTransition), (("cancel",), "cancel", InvalidTransition),
    (("order", "part", "close"), "receive", InvalidTransition),
    (("order", "part", "close"), "cancel", InvalidTransition),
])
def test_every_edge_of_the_machine_and_no_other(memory_store, penguin, path, action, expected):
    product = add_product(memory_store, cost="1.00")
    made = draft(memory_store, penguin, [(product, 4)])
    steps = {"order": lambda: order(memory_store, made), "part": lambda: receive(memory_store, made, [(product, 1)]),
             "all": lambda: receive(memory_store, made, [(product, 4)]),
             "close": lambda: act(memory_store, "close", made, None, "u1"),
             "cancel": lambda: act(memory_store, "cancel", made, None, "u1")}
    for step in path:
        steps[step]()
    before = read(memory_store, lambda uow: uow.purchase_orders.get(made["id"]))
    if expected is InvalidTransition:
        with pytest.raises(InvalidTransition):
            steps[action]() if action != "receive" else receive(memory_store, made, [(product, 1)])
        assert read(memory_store, lambda uow: uow.purchase_orders.get(made["id"])) == before
    else:
        assert steps[action]()["status"] == expected


def test_cancel_and_close_take_what_is_still_outstanding_off_order(memory_store, penguin):
    product = add_product(memory_store, cost="1.00")
    first = order(memory_store, draft(memory_store, penguin, [(product, 10)]))
    second = order(memory_store, draft(memory_store, penguin, [(product, 5)]))
    assert product_of(memory_store, product)["on_order"] == 15
    act(memory_store, "cancel", second, "vendor out of stock", "u1")
    assert product_of(memory_store, product)["on_order"] == 10
    receive(memory_store, first, [(product, 4)])
    assert product_of(memory_store, product)["on_order"] == 6
    closed = act(memory_store, "close", first, "the rest will not come", "u1")
    assert (closed["status"], closed["events"][-1]["note"]) == ("closed", "the rest will not come")
    assert product_of(memory_store, product)["on_order"] == 0


# ---- receiving ------------------------------------------------------------------------------------

def test_a_receipt_writes_a_received_movement_per_line_at_the_location(memory_store, penguin):
    a, b = add_product(memory_store, cost="1.00", stock=0), add_product(memory_store, cost="2.00", stock=3)
    back = add_location(memory_store)
    made = order(memory_store, draft(memory_store, penguin, [(a, 5), (b, 2)]))
    received = receive(memory_store, made, [(a, 5), (b, 1)], location_id=back["id"], note="carton 1 of 2")
    assert received["status"] == "partially_received"
    assert [l["received_quantity"] for l in received["lines"]] == [5, 1]
    assert (received["events"][-1]["status"], received["events"][-1]["note"], received["events"][-1]["user_id"]) == (
        "partially_received", "carton 1 of 2", "u2")
    movements = read(memory_store, lambda uow: uow.movements.list(Query(filters={"ref": made["id"]}))[0])
    assert sorted((m["product_id"], m["delta"], m["reason"], m["location_id"], m["note"], m["user_id"])
                  for m in movements) == sorted([(a["id"], 5, "received", back["id"], "carton 1 of 2", "u2"),
                                                 (b["id"], 1, "received", back["id"], "carton 1 of 2", "u2")])
    assert (stock_of(memory_store, a["id"]), stock_of(memory_store, b["id"])) == (5, 4)
    assert quantity_at(memory_store, a["id"], back["id"]) == 5
    assert ledger_sum(memory_store, b["id"]) == 4
    done = receive(memory_store, made, [(b, 1)])
    assert done["status"] == "received"
    assert quantity_at(memory_store, b["id"], default_location_id(memory_store)) == 4  # 3 + 1 to the default
    assert [e["data"]["status"] for e in events(memory_store, "purchase_order.received")] == [
        "received", "partially_received"]  # newest first


def test_an_over_receipt_is_refused_whole_with_its_overages(memory_store, penguin):
    a, b = add_product(memory_store, cost="1.00"), add_product(memory_store, cost="1.00")
    made = order(memory_store, draft(memory_store, penguin, [(a, 5), (b, 2)]))
    receive(memory_store, made, [(b, 1)])
    before = read(memory_store, lambda uow: uow.purchase_orders.get(made["id"]))
    with pytest.raises(OverReceipt) as err:
        receive(memory_store, made, [(a, 5), (b, 2)])
    assert err.value.code == "over_receipt"
    assert list(err.value.errors) == ["lines.1"]
    assert err.value.extra["overages"] == [{"index": 1, "product_id": b["id"], "requested": 2, "outstanding": 1}]
    assert read(memory_store, lambda uow: uow.purchase_orders.get(made["id"])) == before
    assert stock_of(memory_store, a["id"]) == 10


def test_receipt_lines_must_be_on_the_purchase_order_once_and_the_location_active(memory_store, penguin):
    a, stranger = add_product(memory_store, cost="1.00"), add_product(memory_store, cost="1.00")
    made = order(memory_store, draft(memory_store, penguin, [(a, 5)]))
    with pytest.raises(ValidationFailed) as err:
        receive(memory_store, made, [(a, 1), (stranger, 1)])
    assert list(err.value.errors) == ["lines.1"]
    with pytest.raises(ValidationFailed) as err:
        receive(memory_store, made, [(a, 1), (a, 1)])
    assert list(err.value.errors) == ["lines.1"]
    with pytest.raises(ValidationFailed) as err:
        receive(memory_store, made, [(a, 1)], location_id="nowhere")
    assert list(err.value.errors) == ["location_id"]
    with pytest.raises(ValidationFailed) as err:
        receive(memory_store, made, [])
    assert list(err.value.errors) == ["lines"]


def test_the_status_is_judged_before_the_body(memory_store, penguin):
    product = add_product(memory_store, cost="1.00")
    made = draft(memory_store, penguin, [(product, 5)])
    with pytest.raises(InvalidTransition):
        run(memory_store, lambda uow: purchasing.receive_purchase_order(
            uow, made["id"], {}, "u1", invalid=ValidationFailed(errors={"lines.0": ["bad"]})))


def test_a_product_archived_since_it_was_ordered_is_still_received(memory_store, penguin):
    from app.services import catalog
    product = add_product(memory_store, cost="1.00", stock=0)
    made = order(memory_store, draft(memory_store, penguin, [(product, 3)]))
    run(memory_store, lambda uow: catalog.archive_product(uow, product["id"]))
    receive(memory_store, made, [(product, 3)])
    assert stock_of(memory_store, product["id"]) == 3


# ---- average cost ---------------------------------------------------------------------------------

@pytest.mark.parametrize("stock, cost, quantity, unit_cost, expected", [
    (10, "4.00", 5, "5.00", "4.33"),   # section 10's first example
    (1, "1.00", 1, "1.01", "1.01"),    # 1.005 rounds half up
    (0, "9.99", 4, "2.50", "2.50"),    # nothing on hand: the unit cost
    (7, None, 3, "2.00", "2.00"),      # no cost before: the unit cost
    (3, "2.00", 1, "2.00", "2.00"),
    (2, "0.00", 2, "1.00", "0.50"),
    (1, "1.00", 2, "1.00", "1.00"),
    (2, "1.00", 1, "0.00", "0.67"),    # 0.666... up
    (1, "0.01", 2, "0.00", "0.00"),    # 0.00333... down
    (999_999, "12.34", 1, "99.99", "12.34"),
])
def test_average_cost_is_the_weighted_average_half_up_to_cents(stock, cost, quantity, unit_cost, expected):
    assert purchasing.average_cost(stock, cost, quantity, unit_cost) == expected


def test_a_receipt_moves_cost_to_the_average_line_by_line(memory_store, penguin):
    product = add_product(memory_store, stock=10, cost="4.00")
    made = order(memory_store, draft(memory_store, penguin, [(product, 5, "5.00")]))
    receive(memory_store, made, [(product, 5)])
    assert (product_of(memory_store, product)["cost"], product_of(memory_store, product)["on_order"]) == ("4.33", 0)
    empty = add_product(memory_store, stock=0, cost="9.00")
    second = order(memory_store, draft(memory_store, penguin, [(empty, 2, "3.10")]))
    receive(memory_store, second, [(empty, 1)])
    receive(memory_store, second, [(empty, 1)])
    assert product_of(memory_store, empty)["cost"] == "3.10"


# ---- suggestions ----------------------------------------------------------------------------------

def test_the_suggested_quantity_follows_section_10s_arithmetic():
    product = {"stock": 2, "on_order": 1, "low_stock_threshold": 5, "reorder_quantity": None}
    assert purchasing.suggested_quantity(product) == 7
    assert purchasing.suggested_quantity(product, {"min_order_quantity": 10, "pack_size": 1}) == 10
    assert purchasing.suggested_quantity(product, {"min_order_quantity": 10, "pack_size": 6}) == 12
    assert purchasing.suggested_quantity({**product, "reorder_quantity": 25}, {"min_order_quantity": 1,
                                                                               "pack_size": 10}) == 30
    assert purchasing.suggested_quantity({**product, "low_stock_threshold": 0, "stock": 0, "on_order": 0}) == 1


def test_suggestions_group_by_primary_vendor_by_name_with_the_vendorless_last(memory_store):
    zed, able, gone = vendor(memory_store, name="zed books"), vendor(memory_store, name="Able"), vendor(memory_store)
    low = [add_product(memory_store, sku=f"S-{n}", stock=1, low_stock_threshold=5, cost="1.00") for n in range(5)]
    add_product(memory_store, sku="S-PLENTY", stock=50, low_stock_threshold=5)
    add_product(memory_store, sku="S-OLD", stock=0, status="archived")
    link(memory_store, zed, low[1])
    link(memory_store, able, low[0])
    link(memory_store, able, low[2], min_order_quantity=20)
    link(memory_store, gone, low[3])
    run(memory_store, lambda uow: purchasing.archive_vendor(uow, gone["id"]))
    groups = read(memory_store, purchasing.suggestions)
    assert [(g["vendor_name"], [p["sku"] for p in g["products"]]) for g in groups] == [
        ("Able", ["S-0", "S-2"]), ("zed books", ["S-1"]), (None, ["S-3", "S-4"])]
    assert [p["suggested_quantity"] for p in groups[0]["products"]] == [9, 20]
    assert groups[0]["products"][0] == {"product_id": low[0]["id"], "sku": "S-0", "title": "A product", "stock": 1,
                                        "on_order": 0, "threshold": 5, "suggested_quantity": 9}
    assert read(memory_store, lambda uow: purchasing.suggestions(uow, zed["id"]))[0]["vendor_id"] == zed["id"]


def test_what_is_on_order_counts_against_the_threshold(memory_store, penguin):
    product = add_product(memory_store, stock=2, low_stock_threshold=5, cost="1.00")
    link(memory_store, penguin, product)
    order(memory_store, draft(memory_store, penguin, [(product, 2)]))
    assert read(memory_store, purchasing.suggestions)[0]["products"][0]["suggested_quantity"] == 6
    order(memory_store, draft(memory_store, penguin, [(product, 2)]))
    assert read(memory_store, purchasing.suggestions) == []


def test_drafts_from_suggestions_make_one_per_vendor_and_list_what_they_skip(memory_store, penguin):
    other = vendor(memory_store, name="Other")
    priced, costless, drafted = (add_product(memory_store, sku=f"D-{n}", stock=0, low_stock_threshold=2, cost=cost)
                                 for n, cost in ((1, "2.00"), (2, None), (3, "1.00")))
    alone = add_product(memory_store, sku="D-4", stock=0, low_stock_threshold=2, cost="1.00")
    link(memory_store, penguin, priced, cost="1.50", pack_size=5)
    link(memory_store, penguin, costless)
    link(memory_store, other, drafted)
    draft(memory_store, other, [(drafted, 1)])
    made, skipped = run(memory_store, lambda uow: purchasing.draft_from_suggestions(uow, None, "u1", "EUR"))
    assert [(po["vendor_id"], po["status"], [(l["product_id"], l["quantity"], l["unit_cost"]) for l in po["lines"]])
            for po in made] == [(penguin["id"], "draft", [(priced["id"], 5, "1.50")])]
    # in the suggestions' order: the groups by vendor name, the one without a vendor last
    assert [(s["sku"], s["reason"]) for s in skipped] == [("D-3", "on_draft"), ("D-2", "no_cost"),
                                                          ("D-4", "no_vendor")]
    again, skipped = run(memory_store, lambda uow: purchasing.draft_from_suggestions(uow, [other["id"]], "u1", "EUR"))
    assert again == [] and [(s["sku"], s["reason"]) for s in skipped] == [("D-3", "on_draft")]
    with pytest.raises(ValidationFailed) as err:
        run(memory_store, lambda uow: purchasing.draft_from_suggestions(uow, ["nobody"], "u1", "EUR"))
    assert list(err.value.errors) == ["vendor_ids.0"]
    assert alone["id"] not in {l["product_id"] for po in made for l in po["lines"]}


# ---- products and the start-up step ---------------------------------------------------------------

def test_a_new_product_has_nothing_on_order_and_no_reorder_quantity(memory_store):
    product = add_product(memory_store)
    assert (product["on_order"], product["reorder_quantity"]) == (0, None)
    with pytest.raises(ValidationFailed) as err:
        add_product(memory_store, on_order=3)
    assert list(err.value.errors) == ["on_order"]


def test_products_stored_before_purchasing_get_on_order_0_keeping_their_version():
    store = MemoryStore()
    run(store, lambda uow: uow.products.add({"id": "p1", "sku": "A", "title": "A", "price": "1.00", "stock": 7,
                                             "low_stock_threshold": 5, "status": "active"}))
    assert run(store, purchasing.fill_product_fields) == 1
    product = read(store, lambda uow: uow.products.get("p1"))
    assert (product["on_order"], product["reorder_quantity"], product["version"]) == (0, None, 1)
    assert run(store, purchasing.fill_product_fields) == 0


def test_an_unknown_purchase_order_vendor_or_link_is_not_found(memory_store, penguin):
    with pytest.raises(NotFound):
        read(memory_store, lambda uow: purchasing.get_purchase_order(uow, "nothing"))
    with pytest.raises(NotFound):
        read(memory_store, lambda uow: purchasing.get_vendor(uow, "nothing"))
    with pytest.raises(NotFound):
        read(memory_store, lambda uow: purchasing.get_link(uow, penguin["id"], "nothing"))
