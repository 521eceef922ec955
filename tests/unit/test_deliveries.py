"""Delivery rules: one active delivery per order, the delivery machine, and the order following it."""
from datetime import date
from decimal import Decimal

import pytest

from app.services import deliveries, orders
from app.services.deliveries import add_working_days, default_estimate
from app.services.errors import (DeliveryExists, InvalidTransition, OrderNotDeliverable,
                                 ValidationFailed)
from tests.unit.builders import add_order, add_product, read, run


def _order(store, paid=False):
    order = add_order(store, [(add_product(store), 1)])
    if paid:
        order = run(store, lambda uow: orders.pay_order(
            uow, order["id"], {"method": "card", "amount": Decimal(order["total"])}))
    return order


def _deliver(store, order, **fields):
    data = {"order_id": order["id"], "address": "1 High St, Bath"}
    data.update(fields)
    return run(store, lambda uow: deliveries.create_delivery(uow, data, "u1"))


def _move(store, delivery, status, note=None):
    return run(store, lambda uow: deliveries.advance_delivery(uow, delivery["id"], status, note, "u2"))


def _order_status(store, order):
    return read(store, lambda uow: uow.orders.get(order["id"])["status"])


def test_delivery_starts_pending_with_its_creation_event(memory_store):
    delivery = _deliver(memory_store, _order(memory_store), note="ring twice")
    assert delivery["status"] == "pending"
    assert [(e["status"], e["note"], e["user_id"]) for e in delivery["events"]] == [
        ("pending", "ring twice", "u1")]
    assert delivery["events"][0]["at"].endswith("Z")


def test_unknown_order_is_a_validation_error(memory_store):
    with pytest.raises(ValidationFailed) as err:
        run(memory_store, lambda uow: deliveries.create_delivery(
            uow, {"order_id": "nope", "address": "x"}, "u1"))
    assert "order_id" in err.value.errors


@pytest.mark.parametrize("close", ["cancel", "complete"])
def test_closed_order_is_not_deliverable(memory_store, close):
    order = _order(memory_store, paid=True)
    if close == "cancel":
        run(memory_store, lambda uow: orders.cancel_order(uow, order["id"], may_refund=True))
    else:
        run(memory_store, lambda uow: orders.complete_order(uow, order["id"]))
    with pytest.raises(OrderNotDeliverable):
        _deliver(memory_store, order)


def test_delivered_order_is_not_deliverable_again(memory_store):
    order = _order(memory_store)
    delivery = _deliver(memory_store, order)
    _move(memory_store, delivery, "in_transit")
    _move(memory_store, delivery, "delivered")
    with pytest.raises(OrderNotDeliverable):
        _deliver(memory_store, order)


def test_second_active_delivery_is_refused(memory_store):
    order = _order(memory_store)
    _deliver(memory_store, order)
    with pytest.raises(DeliveryExists):
        _deliver(memory_store, order)


@pytest.mark.parametrize("end", ["failed", "cancelled"])
def test_a_new_delivery_may_replace_a_failed_or_cancelled_one(memory_store, end):
    order = _order(memory_store)
    first = _deliver(memory_store, order)
    _move(memory_store, first, end)
    assert _deliver(memory_store, order)["status"] == "pending"


def test_delivery_in_transit_ships_the_order(memory_store):
    order = _order(memory_store, paid=True)
    delivery = _deliver(memory_store, order)
    assert _order_status(memory_store, order) == "paid"
    _move(memory_store, delivery, "in_transit")
    assert _order_status(memory_store, order) == "shipped"


def test_delivered_delivery_delivers_the_order(memory_store):
    order = _order(memory_store, paid=True)
    delivery = _deliver(memory_store, order)
    _move(memory_store, delivery, "in_transit")
    _move(memory_store, delivery, "out_for_delivery")
    assert _order_status(memory_store, order) == "shipped"
    done = _move(memory_store, delivery, "delivered", note="left with neighbour")
    assert _order_status(memory_store, order) == "delivered"
    assert [e["status"] for e in done["events"]] == ["pending", "in_transit", "out_for_delivery",
                                                     "delivered"]
    assert done["events"][-1]["note"] == "left with neighbour"
    assert done["events"][-1]["user_id"] == "u2"


@pytest.mark.parametrize("paid,back_to", [(True, "paid"), (False, "pending")])
def test_failed_delivery_returns_order_to_paid(memory_store, paid, back_to):
    order = _order(memory_store, paid=paid)
    delivery = _deliver(memory_store, order)
    _move(memory_store, delivery, "in_transit")
    _move(memory_store, delivery, "failed")
    assert _order_status(memory_store, order) == back_to


def test_failed_delivery_may_be_retried_and_ships_again(memory_store):
    order = _order(memory_store, paid=True)
    delivery = _deliver(memory_store, order)
    _move(memory_store, delivery, "in_transit")
    _move(memory_store, delivery, "failed")
    retried = _move(memory_store, delivery, "in_transit")
    assert retried["status"] == "in_transit"
    assert _order_status(memory_store, order) == "shipped"


def test_retry_is_refused_when_the_order_has_another_active_delivery(memory_store):
    order = _order(memory_store)
    first = _deliver(memory_store, order)
    _move(memory_store, first, "failed")
    _deliver(memory_store, order)
    with pytest.raises(DeliveryExists):
        _move(memory_store, first, "in_transit")
    assert read(memory_store, lambda uow: uow.deliveries.get(first["id"]))["status"] == "failed"


ALLOWED = {
    "pending": {"in_transit", "failed", "cancelled"},
    "in_transit": {"out_for_delivery", "delivered", "failed"},
    "out_for_delivery": {"delivered", "failed"},
    "failed": {"in_transit"},
    "delivered": set(),
    "cancelled": set(),
}
PATH_TO = {
    "pending": [],
    "in_transit": ["in_transit"],
    "out_for_delivery": ["in_transit", "out_for_delivery"],
    "failed": ["failed"],
    "delivered": ["in_transit", "delivered"],
    "cancelled": ["cancelled"],
}


@pytest.mark.parametrize("start", list(ALLOWED))
def test_every_move_the_machine_forbids_is_an_invalid_transition(memory_store, start):
    for target in set(ALLOWED) - ALLOWED[start]:
        order = _order(memory_store)
        delivery = _deliver(memory_store, order)
        for step in PATH_TO[start]:
            delivery = _move(memory_store, delivery, step)
        status_before = _order_status(memory_store, order)
        with pytest.raises(InvalidTransition):
            _move(memory_store, delivery, target)
        assert read(memory_store, lambda uow: uow.deliveries.get(delivery["id"]))["status"] == start
        assert _order_status(memory_store, order) == status_before


@pytest.mark.parametrize("start", list(ALLOWED))
def test_every_move_the_machine_allows_succeeds(memory_store, start):
    for target in ALLOWED[start]:
        order = _order(memory_store)
        delivery = _deliver(memory_store, order)
        for step in PATH_TO[start]:
            delivery = _move(memory_store, delivery, step)
        assert _move(memory_store, delivery, target)["status"] == target


def test_working_day_estimate_skips_weekends():
    friday = date(2026, 11, 20)
    assert add_working_days(friday, 1) == date(2026, 11, 23)       # Monday
    assert add_working_days(friday, 3) == date(2026, 11, 25)       # Wednesday
    assert add_working_days(date(2026, 11, 16), 3) == date(2026, 11, 19)  # Mon -> Thu
    assert add_working_days(date(2026, 11, 21), 1) == date(2026, 11, 23)  # Sat -> Mon
    assert add_working_days(friday, 0) == friday


def test_default_estimate_counts_from_the_order_day_in_the_shop_time_zone():
    late_friday_utc = {"created_at": "2026-11-20T23:30:00Z"}        # Saturday in Berlin
    assert default_estimate(late_friday_utc, 3, "UTC") == "2026-11-25"
    assert default_estimate(late_friday_utc, 3, "Europe/Berlin") == "2026-11-25"
    assert default_estimate({"created_at": "2026-11-19T23:30:00Z"}, 1, "Europe/Berlin") == "2026-11-23"
    assert default_estimate({"created_at": "2026-11-19T23:30:00Z"}, 1, "UTC") == "2026-11-20"


def test_delivery_estimate_defaults_from_its_order_and_keeps_an_explicit_one(memory_store):
    order = _order(memory_store)
    default = run(memory_store, lambda uow: deliveries.create_delivery(
        uow, {"order_id": order["id"], "address": "x"}, "u1", delivery_days=5))
    assert default["estimated_date"] == default_estimate(order, 5, "UTC")
    other = _order(memory_store)
    explicit = _deliver(memory_store, other, estimated_date=date(2027, 1, 4))
    assert explicit["estimated_date"] == "2027-01-04"
