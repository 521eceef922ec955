"""The storefront: keys and their origins, checkout, tracking and held stock; through the in-memory store."""
from datetime import datetime, timedelta, timezone

import pytest

from app.services import deliveries, orders, storefront
from app.services.errors import (InsufficientStock, InvalidStorefrontKey, NotFound,
                                 StorefrontKeyRequired, ValidationFailed)
from app.storage.base import Query
from tests.unit.builders import add_product, ledger_sum, read, run, stock_of

ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}


def checkout(store, lines, hold=3600, **fields):
    data = {"items": [{"product_id": p["id"], "quantity": q} for p, q in lines], "customer": ADA, **fields}
    return run(store, lambda uow: storefront.place_order(uow, data, "EUR", hold))


def later(seconds):
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


def test_a_key_is_pk_and_32_letters_and_digits_and_origins_are_checked(memory_store):
    made = run(memory_store, lambda uow: storefront.create_key(uow, {"name": "Web", "allowed_origins": [
        "https://shop.example", "http://localhost:5173"]}))
    assert made["key"].startswith("pk_") and len(made["key"]) == 35 and made["key"][3:].isalnum()
    with pytest.raises(ValidationFailed) as refused:
        run(memory_store, lambda uow: storefront.create_key(uow, {"name": "Bad", "allowed_origins": [
            "https://ok.example", "https://shop.example/path", "*", "ftp://x.example"]}))
    assert set(refused.value.errors) == {"allowed_origins.1", "allowed_origins.2", "allowed_origins.3"}


def test_a_revoked_or_unknown_key_opens_nothing(memory_store):
    made = run(memory_store, lambda uow: storefront.create_key(uow, {"name": "Web"}))
    assert read(memory_store, lambda uow: storefront.authenticate(uow, made["key"]))["id"] == made["id"]
    run(memory_store, lambda uow: storefront.revoke_key(uow, made["id"]))
    with pytest.raises(InvalidStorefrontKey):
        read(memory_store, lambda uow: storefront.authenticate(uow, made["key"]))
    with pytest.raises(InvalidStorefrontKey):
        read(memory_store, lambda uow: storefront.authenticate(uow, "pk_unknown"))
    with pytest.raises(StorefrontKeyRequired):
        read(memory_store, lambda uow: storefront.authenticate(uow, None))


def test_the_builtin_key_is_made_once(memory_store):
    first = run(memory_store, storefront.ensure_builtin_key)
    assert first["builtin"] and first["allowed_origins"] == []
    assert run(memory_store, storefront.ensure_builtin_key) is None
    run(memory_store, lambda uow: storefront.revoke_key(uow, first["id"]))
    assert run(memory_store, storefront.ensure_builtin_key)["id"] != first["id"]


def test_a_checkout_is_a_pending_unpaid_storefront_order_linked_to_its_customer(memory_store):
    book = add_product(memory_store, price="12.50", stock=5)
    order = checkout(memory_store, [(book, 2)], notes="please ring twice")
    assert (order["channel"], order["status"], order["payment_status"], order["created_by"]) == (
        "storefront", "pending", "unpaid", None)
    assert order["customer"] == ADA and order["notes"] == "please ring twice"
    customer = read(memory_store, lambda uow: uow.customers.find_by_email("ADA@example.com"))
    assert order["customer_id"] == customer["id"]
    assert stock_of(memory_store, book["id"]) == 3
    sale = read(memory_store, lambda uow: uow.movements.for_product(book["id"]))[-1]
    assert (sale["reason"], sale["user_id"]) == ("sale", None)
    created = read(memory_store, lambda uow: uow.events.list(Query(limit=10))[0])
    assert [e["type"] for e in created][:2] == ["order.created", "customer.created"]
    assert created[0]["data"]["channel"] == "storefront"


def test_the_public_order_shows_no_staff_fields(memory_store):
    book = add_product(memory_store, price="12.50", stock=5)
    order = checkout(memory_store, [(book, 1)])
    shown = read(memory_store, lambda uow: storefront.order_view(uow, order))
    assert set(shown) == {"number", "status", "payment_status", "lines", "subtotal", "total", "currency",
                          "shipping_address", "hold_expires_at", "created_at", "delivery"}
    assert set(shown["lines"][0]) == {"title", "quantity", "unit_price", "line_total"}
    product = storefront.product_view(read(memory_store, lambda uow: storefront.get_product(uow, book["id"])), "EUR")
    assert "cost" not in product and "stock" not in product and product["available"] is True


def test_checkout_is_all_or_nothing(memory_store):
    plenty, scarce = add_product(memory_store, stock=9), add_product(memory_store, stock=1)
    with pytest.raises(InsufficientStock):
        checkout(memory_store, [(plenty, 2), (scarce, 2)])
    assert (stock_of(memory_store, plenty["id"]), stock_of(memory_store, scarce["id"])) == (9, 1)
    assert read(memory_store, lambda uow: uow.customers.count()) == 0


def test_tracking_needs_the_orders_email_and_answers_every_miss_alike(memory_store):
    book = add_product(memory_store)
    order = checkout(memory_store, [(book, 1)])
    found = read(memory_store, lambda uow: storefront.track_order(uow, str(order["number"]), "ADA@example.com"))
    assert found["number"] == order["number"]
    misses = [(str(order["number"]), "eve@example.com"), ("999999", "ada@example.com"),
              ("12ab", "ada@example.com"), ("-1", "ada@example.com")]
    details = set()
    for number, email in misses:
        with pytest.raises(NotFound) as missed:
            read(memory_store, lambda uow: storefront.track_order(uow, number, email))
        details.add(missed.value.detail)
    assert len(details) == 1


def test_an_expired_hold_is_cancelled_once_and_its_stock_returned(memory_store):
    book = add_product(memory_store, stock=5)
    order = checkout(memory_store, [(book, 2)], hold=60)
    assert run(memory_store, lambda uow: storefront.expire_holds(uow, later(30))) == []

    cancelled = run(memory_store, lambda uow: storefront.expire_holds(uow, later(61)))

    assert [o["id"] for o in cancelled] == [order["id"]]
    assert (cancelled[0]["status"], cancelled[0]["cancel_reason"]) == ("cancelled", "hold_expired")
    assert stock_of(memory_store, book["id"]) == 5 == ledger_sum(memory_store, book["id"])
    back = read(memory_store, lambda uow: uow.movements.for_product(book["id"]))[-1]
    assert (back["reason"], back["delta"], back["user_id"]) == ("order_cancelled", 2, None)
    assert run(memory_store, lambda uow: storefront.expire_holds(uow, later(120))) == []
    assert stock_of(memory_store, book["id"]) == 5
    kinds = [e["type"] for e in read(memory_store, lambda uow: uow.events.list(Query(limit=10))[0])]
    assert kinds.count("order.cancelled") == 1


def test_a_paid_or_delivering_order_keeps_its_stock(memory_store):
    book = add_product(memory_store, price="4.00", stock=5)
    paid = checkout(memory_store, [(book, 1)], hold=60)
    run(memory_store, lambda uow: orders.pay_order(uow, paid["id"], {"method": "card", "amount": "4.00"}))
    shipping = checkout(memory_store, [(book, 1)], hold=60, shipping_address={
        "line1": "1 Road", "city": "York", "postal_code": "YO1", "country": "GB"})
    run(memory_store, lambda uow: deliveries.create_delivery(uow, {"order_id": shipping["id"]}, "u1"))
    assert run(memory_store, lambda uow: storefront.expire_holds(uow, later(61))) == []
    assert stock_of(memory_store, book["id"]) == 3


def test_with_no_hold_nothing_expires(memory_store):
    book = add_product(memory_store, stock=5)
    order = checkout(memory_store, [(book, 1)], hold=0)
    assert order["hold_expires_at"] is None
    assert run(memory_store, lambda uow: storefront.expire_holds(uow, later(10 ** 6))) == []


def test_the_plain_checkout_loader_agrees_with_the_schema():
    from marshmallow import ValidationError

    from schemas.storefront import StorefrontOrderSchema, load_plain_checkout
    line = {"product_id": "p1", "quantity": 2}
    bodies = [{"items": [line], "customer": ADA}, {"items": [line], "customer": {**ADA, "phone": None}},
              {"items": [line, {"product_id": "p2", "quantity": 20}], "customer": {**ADA, "phone": "+44"},
               "shipping_address": None, "notes": "ring twice"},
              {"items": [line], "customer": {**ADA, "email": "not an address"}},
              {"items": [line], "customer": {"name": "", "email": "a@example.com"}},
              {"items": [line], "customer": {**ADA, "phone": "1" * 51}},
              {"items": [{"product_id": "p1", "quantity": True}], "customer": ADA},
              {"items": [{"product_id": "p1", "quantity": 0}], "customer": ADA},
              {"items": [line] * 51, "customer": ADA}, {"items": [], "customer": ADA},
              {"items": [line], "customer": ADA, "notes": "x\x00"}, {"items": [line], "customer": ADA, "payment": 1},
              {"items": [line], "customer": {**ADA, "id": "x"}}, {"items": [line]},
              {"items": [line], "customer": {**ADA, "email": "ada@localhost"}}]
    for body in bodies:
        fast = load_plain_checkout(body, 20)
        try:
            slow = StorefrontOrderSchema().load(body)
        except ValidationError:
            slow = None
        assert fast is None or fast == slow, body
    assert load_plain_checkout(bodies[0], 20) is not None and load_plain_checkout(bodies[2], 20) is not None
    assert load_plain_checkout({"items": [{"product_id": "p1", "quantity": 21}], "customer": ADA}, 20) is None
