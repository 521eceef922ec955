"""Tiny builders of committed shop data in a store, naming only the fields a test is about."""
import itertools

from app.services import catalog, locations, orders, users

_numbers = itertools.count(1)


def add_product(store, **fields):
    """A committed product; name only the fields the test is about."""
    data = {"sku": f"SKU-{next(_numbers)}", "title": "A product", "price": "10.00", "stock": 10}
    data.update(fields)
    with store.unit_of_work() as uow:
        product = catalog.create_product(uow, data, "u-test")
        uow.commit()
    return product


def add_order(store, lines, **fields):
    """A committed order; lines are [(product, quantity)]."""
    data = {"items": [{"product_id": p["id"], "quantity": q} for p, q in lines]}
    data.update(fields)
    with store.unit_of_work() as uow:
        order = orders.place_order(uow, data, "u-test", "EUR")
        uow.commit()
    return order


def add_user(store, role="clerk", **fields):
    data = {"username": f"user{next(_numbers)}", "password": "long-enough-1", "role": role}
    data.update(fields)
    with store.unit_of_work() as uow:
        user = users.create_user(uow, data)
        uow.commit()
    return user


def read(store, fn):
    """fn(uow) on committed state."""
    with store.reader() as uow:
        return fn(uow)


def run(store, fn):
    """fn(uow) in a unit of work that commits when fn returns."""
    with store.unit_of_work() as uow:
        result = fn(uow)
        uow.commit()
    return result


def ledger_sum(store, product_id):
    return read(store, lambda uow: sum(m["delta"] for m in uow.movements.for_product(product_id)))


def stock_of(store, product_id):
    return read(store, lambda uow: uow.products.get(product_id)["stock"])


def default_location_id(store):
    return read(store, lambda uow: uow.locations.default()["id"])


def add_location(store, **fields):
    """A committed active location; name only the fields the test is about."""
    n = next(_numbers)
    data = {"name": f"Room {n}", "code": f"ROOM-{n}", "kind": "stockroom"}
    data.update(fields)
    return run(store, lambda uow: locations.create_location(uow, data))


def quantity_at(store, product_id, location_id):
    return read(store, lambda uow: uow.stock_levels.quantity(product_id, location_id))


def ledger_sum_at(store, product_id, location_id):
    return read(store, lambda uow: sum(m["delta"] for m in uow.movements.for_product(product_id)
                                       if m["location_id"] == location_id))
