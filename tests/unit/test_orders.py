"""Order rules: all-or-nothing lines, exact money, payment, and the order state machine."""
from decimal import Decimal

import pytest

from app.services import catalog, deliveries, orders, stock
from app.services.errors import (Forbidden, InsufficientStock, InvalidTransition,
                                 PaymentAmountMismatch, ValidationFailed)
from app.services.idempotency import fingerprint
from tests.unit.builders import (add_order, add_product, default_location_id, ledger_sum, read, run,
                                 stock_of)


def _pay(store, order, amount=None, method="cash"):
    return run(store, lambda uow: orders.pay_order(
        uow, order["id"], {"method": method, "amount": Decimal(amount or order["total"])}))


def _cancel(store, order, may_refund=False, reason=None):
    return run(store, lambda uow: orders.cancel_order(uow, order["id"], reason, "u1",
                                                      may_refund=may_refund))


def _order_count(store):
    return read(store, lambda uow: uow.orders.count())


def test_order_takes_stock_and_writes_a_sale_movement_per_line(memory_store):
    a, b = add_product(memory_store, stock=5), add_product(memory_store, stock=3)
    order = add_order(memory_store, [(a, 2), (b, 3)])
    assert (stock_of(memory_store, a["id"]), stock_of(memory_store, b["id"])) == (3, 0)
    for product, qty in ((a, 2), (b, 3)):
        sale = read(memory_store, lambda uow: uow.movements.for_product(product["id"]))[-1]
        assert (sale["reason"], sale["delta"], sale["ref"]) == ("sale", -qty, order["id"])


def test_order_beyond_stock_changes_nothing(memory_store):
    a, b = add_product(memory_store, stock=5), add_product(memory_store, stock=1)
    with pytest.raises(InsufficientStock) as err:
        add_order(memory_store, [(a, 2), (b, 2)])
    assert err.value.extra["shortages"] == [
        {"index": 1, "product_id": b["id"], "location_id": default_location_id(memory_store),
         "requested": 2, "available": 1}]
    assert list(err.value.errors) == ["items.1"]
    assert (stock_of(memory_store, a["id"]), stock_of(memory_store, b["id"])) == (5, 1)
    assert ledger_sum(memory_store, a["id"]) == 5
    assert _order_count(memory_store) == 0


def test_every_short_line_is_reported(memory_store):
    a, b, c = (add_product(memory_store, stock=n) for n in (1, 5, 0))
    with pytest.raises(InsufficientStock) as err:
        add_order(memory_store, [(a, 2), (b, 1), (c, 1)])
    assert sorted(err.value.errors) == ["items.0", "items.2"]
    assert [s["index"] for s in err.value.extra["shortages"]] == [0, 2]


def test_unknown_archived_and_repeated_lines_are_refused_per_line(memory_store):
    a = add_product(memory_store, stock=5)
    gone = add_product(memory_store, stock=5)
    run(memory_store, lambda uow: catalog.archive_product(uow, gone["id"]))
    data = {"items": [{"product_id": a["id"], "quantity": 1},
                      {"product_id": "no-such-id", "quantity": 1},
                      {"product_id": gone["id"], "quantity": 1},
                      {"barcode": a["sku"], "quantity": 1}]}
    with pytest.raises(ValidationFailed) as err:
        run(memory_store, lambda uow: orders.place_order(uow, data, "u1", "EUR"))
    assert sorted(err.value.errors) == ["items.1", "items.2", "items.3"]
    assert stock_of(memory_store, a["id"]) == 5


def test_a_line_may_name_its_product_by_barcode_isbn_or_sku(memory_store):
    book = add_product(memory_store, kind="book", isbn="9780141439518", stock=5)
    mug = add_product(memory_store, sku="MUG-9", stock=5)
    data = {"items": [{"barcode": "0141439513", "quantity": 1}, {"barcode": "MUG-9", "quantity": 2}]}
    order = run(memory_store, lambda uow: orders.place_order(uow, data, "u1", "EUR"))
    assert [line["product_id"] for line in order["items"]] == [book["id"], mug["id"]]
    assert stock_of(memory_store, mug["id"]) == 3


def test_money_is_exact(memory_store):
    dime = add_product(memory_store, price="0.10", stock=10)
    third = add_product(memory_store, price="0.33", stock=10)
    order = add_order(memory_store, [(dime, 3), (third, 3)])
    assert order["items"][0]["line_total"] == "0.30"
    assert order["items"][1]["line_total"] == "0.99"
    assert order["subtotal"] == order["total"] == "1.29"
    assert order["items"][0]["unit_price"] == "0.10"


def test_an_order_holds_no_floats(memory_store):
    product = add_product(memory_store, price=Decimal("19.99"), stock=10)
    order = add_order(memory_store, [(product, 7)],
                      payment={"method": "cash", "amount": Decimal("139.93")})

    def values(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from values(v)
        elif isinstance(value, list):
            for v in value:
                yield from values(v)
        else:
            yield value
    stored = read(memory_store, lambda uow: uow.orders.get(order["id"]))
    assert not any(isinstance(v, float) for v in values(stored))
    assert stored["total"] == "139.93"


def test_order_keeps_a_snapshot_of_each_line(memory_store):
    product = add_product(memory_store, sku="TEA-1", title="Tea", price="4.50", stock=3)
    order = add_order(memory_store, [(product, 2)])
    run(memory_store, lambda uow: catalog.update_product(uow, product["id"],
                                                         {"title": "Green tea", "price": "9.00"}))
    kept = read(memory_store, lambda uow: uow.orders.get(order["id"]))
    assert kept["items"] == [{"product_id": product["id"], "sku": "TEA-1", "title": "Tea",
                              "quantity": 2, "unit_price": "4.50", "line_total": "9.00"}]
    assert kept["currency"] == "EUR"


def test_order_number_starts_at_1001_and_increases(memory_store):
    product = add_product(memory_store, stock=10)
    numbers = [add_order(memory_store, [(product, 1)])["number"] for _ in range(3)]
    assert numbers == [1001, 1002, 1003]


def test_a_refused_order_does_not_use_up_a_number(memory_store):
    product = add_product(memory_store, stock=1)
    assert add_order(memory_store, [(product, 1)])["number"] == 1001
    with pytest.raises(InsufficientStock):
        add_order(memory_store, [(product, 1)])
    run(memory_store, lambda uow: stock.adjust_stock(uow, product["id"], 1, "received"))
    assert add_order(memory_store, [(product, 1)])["number"] == 1002


def test_payment_in_the_create_body_makes_the_order_paid(memory_store):
    product = add_product(memory_store, price="12.50", stock=2)
    order = add_order(memory_store, [(product, 2)],
                      payment={"method": "card", "amount": Decimal("25.00"), "reference": "r1"})
    assert (order["status"], order["payment_status"]) == ("paid", "paid")
    assert order["payment"]["amount"] == "25.00" and order["payment"]["paid_at"].endswith("Z")


def test_payment_in_the_create_body_must_equal_the_total(memory_store):
    product = add_product(memory_store, price="12.50", stock=2)
    with pytest.raises(PaymentAmountMismatch):
        add_order(memory_store, [(product, 2)], payment={"method": "cash", "amount": Decimal("25.01")})
    assert stock_of(memory_store, product["id"]) == 2
    assert _order_count(memory_store) == 0


def test_pay_makes_a_pending_order_paid(memory_store):
    order = add_order(memory_store, [(add_product(memory_store, price="3.00"), 2)])
    paid = _pay(memory_store, order, "6")
    assert (paid["status"], paid["payment_status"], paid["payment"]["amount"]) == ("paid", "paid", "6.00")
    assert paid["version"] == order["version"] + 1


def test_pay_with_another_amount_is_refused(memory_store):
    order = add_order(memory_store, [(add_product(memory_store, price="3.00"), 2)])
    with pytest.raises(PaymentAmountMismatch):
        _pay(memory_store, order, "5.99")
    assert read(memory_store, lambda uow: uow.orders.get(order["id"]))["payment_status"] == "unpaid"


def test_paying_twice_is_an_invalid_transition(memory_store):
    order = add_order(memory_store, [(add_product(memory_store), 1)])
    _pay(memory_store, order)
    with pytest.raises(InvalidTransition):
        _pay(memory_store, order)


def test_a_cancelled_order_cannot_be_paid(memory_store):
    order = add_order(memory_store, [(add_product(memory_store), 1)])
    _cancel(memory_store, order)
    with pytest.raises(InvalidTransition):
        _pay(memory_store, order)


def test_complete_needs_a_paid_order(memory_store):
    order = add_order(memory_store, [(add_product(memory_store), 1)])
    with pytest.raises(InvalidTransition):
        run(memory_store, lambda uow: orders.complete_order(uow, order["id"]))
    _pay(memory_store, order)
    done = run(memory_store, lambda uow: orders.complete_order(uow, order["id"]))
    assert done["status"] == "completed"
    with pytest.raises(InvalidTransition):
        run(memory_store, lambda uow: orders.complete_order(uow, order["id"]))


def test_cancel_returns_stock_as_order_cancelled_movements(memory_store):
    a, b = add_product(memory_store, stock=5), add_product(memory_store, stock=5)
    order = add_order(memory_store, [(a, 2), (b, 1)])
    cancelled = _cancel(memory_store, order, reason="changed mind")
    assert (cancelled["status"], cancelled["payment_status"]) == ("cancelled", "unpaid")
    assert cancelled["cancel_reason"] == "changed mind"
    for product, qty in ((a, 2), (b, 1)):
        assert stock_of(memory_store, product["id"]) == 5
        back = read(memory_store, lambda uow: uow.movements.for_product(product["id"]))[-1]
        assert (back["reason"], back["delta"], back["ref"]) == ("order_cancelled", qty, order["id"])


def test_paid_order_cancel_needs_refund_right(memory_store):
    product = add_product(memory_store, stock=5)
    order = add_order(memory_store, [(product, 2)])
    _pay(memory_store, order)
    with pytest.raises(Forbidden):
        _cancel(memory_store, order, may_refund=False)
    assert stock_of(memory_store, product["id"]) == 3
    refunded = _cancel(memory_store, order, may_refund=True)
    assert (refunded["status"], refunded["payment_status"]) == ("cancelled", "refunded")
    assert stock_of(memory_store, product["id"]) == 5


@pytest.mark.parametrize("setup", ["cancelled", "completed"])
def test_closed_orders_cannot_be_cancelled(memory_store, setup):
    product = add_product(memory_store, stock=5)
    order = add_order(memory_store, [(product, 1)])
    if setup == "cancelled":
        _cancel(memory_store, order)
    else:
        _pay(memory_store, order)
        run(memory_store, lambda uow: orders.complete_order(uow, order["id"]))
    before = stock_of(memory_store, product["id"])
    with pytest.raises(InvalidTransition):
        _cancel(memory_store, order, may_refund=True)
    assert stock_of(memory_store, product["id"]) == before


def test_shipped_order_cannot_be_cancelled_or_completed(memory_store):
    order = add_order(memory_store, [(add_product(memory_store), 1)])
    _pay(memory_store, order)
    delivery = run(memory_store, lambda uow: deliveries.create_delivery(
        uow, {"order_id": order["id"], "address": "1 High St"}, "u1"))
    run(memory_store, lambda uow: deliveries.advance_delivery(uow, delivery["id"], "in_transit"))
    with pytest.raises(InvalidTransition):
        _cancel(memory_store, order, may_refund=True)
    with pytest.raises(InvalidTransition):
        run(memory_store, lambda uow: orders.complete_order(uow, order["id"]))


def test_cash_on_delivery_pays_a_shipped_order_and_keeps_it_shipped(memory_store):
    order = add_order(memory_store, [(add_product(memory_store), 1)])
    delivery = run(memory_store, lambda uow: deliveries.create_delivery(
        uow, {"order_id": order["id"], "address": "1 High St"}, "u1"))
    run(memory_store, lambda uow: deliveries.advance_delivery(uow, delivery["id"], "in_transit"))
    paid = _pay(memory_store, order)
    assert (paid["status"], paid["payment_status"]) == ("shipped", "paid")


def test_cash_on_delivery_pays_a_delivered_order_and_keeps_it_delivered(memory_store):
    order = add_order(memory_store, [(add_product(memory_store), 1)])
    delivery = run(memory_store, lambda uow: deliveries.create_delivery(
        uow, {"order_id": order["id"], "address": "1 High St"}, "u1"))
    run(memory_store, lambda uow: deliveries.advance_delivery(uow, delivery["id"], "in_transit"))
    run(memory_store, lambda uow: deliveries.advance_delivery(uow, delivery["id"], "delivered"))
    paid = _pay(memory_store, order)
    assert (paid["status"], paid["payment_status"]) == ("delivered", "paid")


def test_cancelling_an_order_cancels_its_pending_delivery(memory_store):
    order = add_order(memory_store, [(add_product(memory_store), 1)])
    delivery = run(memory_store, lambda uow: deliveries.create_delivery(
        uow, {"order_id": order["id"], "address": "1 High St"}, "u1"))
    _cancel(memory_store, order)
    kept = read(memory_store, lambda uow: uow.deliveries.get(delivery["id"]))
    assert kept["status"] == "cancelled" and kept["events"][-1]["status"] == "cancelled"


def test_idempotency_compares_bodies_as_parsed_json():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
