"""Stock rules: every change writes one movement, nothing goes below zero, the ledger sums to stock."""
import random

import pytest

from app.services import orders, stock
from app.services.errors import InsufficientStock, NotFound, ValidationFailed
from tests.unit.builders import (add_order, add_product, default_location_id, ledger_sum, read, run,
                                 stock_of)


def _movements(store, product_id):
    return read(store, lambda uow: uow.movements.for_product(product_id))


def test_adjustment_changes_stock_and_writes_one_movement(memory_store):
    product = add_product(memory_store, stock=5)
    movement = run(memory_store, lambda uow: stock.adjust_stock(
        uow, product["id"], -2, "damaged", note="dropped", ref="BOX-9", user_id="u1"))
    assert stock_of(memory_store, product["id"]) == 3
    assert movement["delta"] == -2 and movement["stock_after"] == 3
    assert (movement["reason"], movement["note"], movement["ref"], movement["user_id"]) == (
        "damaged", "dropped", "BOX-9", "u1")
    assert len(_movements(memory_store, product["id"])) == 2


def test_movement_has_no_updated_at_or_version(memory_store):
    product = add_product(memory_store, stock=1)
    movement = run(memory_store, lambda uow: stock.adjust_stock(uow, product["id"], 1, "count"))
    assert set(movement) == {"id", "product_id", "location_id", "delta", "stock_after",
                             "location_stock_after", "reason", "ref", "note", "user_id", "created_at"}


def test_adjustment_below_zero_is_refused_and_changes_nothing(memory_store):
    product = add_product(memory_store, stock=2)
    with pytest.raises(InsufficientStock) as err:
        run(memory_store, lambda uow: stock.adjust_stock(uow, product["id"], -3, "lost"))
    assert err.value.extra["shortages"] == [
        {"product_id": product["id"], "location_id": default_location_id(memory_store), "requested": 3, "available": 2}]
    assert stock_of(memory_store, product["id"]) == 2
    assert len(_movements(memory_store, product["id"])) == 1


def test_taking_exactly_the_stock_leaves_zero(memory_store):
    product = add_product(memory_store, stock=2)
    run(memory_store, lambda uow: stock.adjust_stock(uow, product["id"], -2, "lost"))
    assert stock_of(memory_store, product["id"]) == 0


@pytest.mark.parametrize("delta", [0, 1.5, True, "3"])
def test_adjustment_delta_must_be_a_non_zero_integer(memory_store, delta):
    product = add_product(memory_store, stock=2)
    with pytest.raises(ValidationFailed):
        run(memory_store, lambda uow: stock.adjust_stock(uow, product["id"], delta, "count"))


@pytest.mark.parametrize("reason", ["sale", "opening", "order_cancelled", "stolen"])
def test_adjustment_reason_must_be_a_manual_one(memory_store, reason):
    product = add_product(memory_store, stock=2)
    with pytest.raises(ValidationFailed):
        run(memory_store, lambda uow: stock.adjust_stock(uow, product["id"], 1, reason))


def test_adjusting_an_unknown_product_is_not_found(memory_store):
    with pytest.raises(NotFound):
        run(memory_store, lambda uow: stock.adjust_stock(uow, "nope", 1, "count"))


def test_receive_finds_the_product_by_isbn10_barcode_or_sku(memory_store):
    book = add_product(memory_store, kind="book", isbn="9780141439518", stock=0)
    mug = add_product(memory_store, sku="MUG-1", barcode="4006381333931", stock=0)
    run(memory_store, lambda uow: stock.receive_stock(uow, "0141439513", 2))
    run(memory_store, lambda uow: stock.receive_stock(uow, "4006381333931\n", 3))
    movement = run(memory_store, lambda uow: stock.receive_stock(uow, "mug-1", 1, note="late"))
    assert stock_of(memory_store, book["id"]) == 2
    assert stock_of(memory_store, mug["id"]) == 4
    assert (movement["reason"], movement["delta"], movement["note"]) == ("received", 1, "late")


def test_receiving_an_unknown_code_is_not_found(memory_store):
    with pytest.raises(NotFound):
        run(memory_store, lambda uow: stock.receive_stock(uow, "0000", 1))


def test_uncommitted_unit_of_work_changes_nothing(memory_store):
    product = add_product(memory_store, stock=5)
    with memory_store.unit_of_work() as uow:
        stock.adjust_stock(uow, product["id"], -5, "lost")
        assert uow.products.get(product["id"])["stock"] == 0  # the unit sees its own write
    assert stock_of(memory_store, product["id"]) == 5
    assert len(_movements(memory_store, product["id"])) == 1


def test_a_failing_unit_of_work_changes_nothing(memory_store):
    product = add_product(memory_store, stock=5)
    with pytest.raises(RuntimeError):
        with memory_store.unit_of_work() as uow:
            stock.adjust_stock(uow, product["id"], 3, "received")
            raise RuntimeError("crash before commit")
    assert stock_of(memory_store, product["id"]) == 5


def test_ledger_sums_to_stock_after_any_sequence(memory_store):
    rnd = random.Random(1234)
    products = [add_product(memory_store, stock=rnd.randint(0, 6)) for _ in range(4)]
    placed = []
    for _ in range(150):
        action = rnd.choice(["adjust", "order", "cancel"])
        product = rnd.choice(products)
        try:
            if action == "adjust":
                run(memory_store, lambda uow: stock.adjust_stock(
                    uow, product["id"], rnd.choice([-3, -1, 1, 2, 5]),
                    rnd.choice(stock.ADJUSTMENT_REASONS)))
            elif action == "order":
                lines = rnd.sample(products, rnd.randint(1, 3))
                placed.append(add_order(memory_store, [(p, rnd.randint(1, 3)) for p in lines]))
            elif placed:
                order = placed.pop(rnd.randrange(len(placed)))
                run(memory_store, lambda uow: orders.cancel_order(uow, order["id"]))
        except InsufficientStock:
            pass
    for product in products:
        current = stock_of(memory_store, product["id"])
        assert current >= 0
        assert ledger_sum(memory_store, product["id"]) == current
        last = _movements(memory_store, product["id"])[-1]
        assert last["stock_after"] == current

