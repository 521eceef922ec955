"""Customers: computed totals, orders linked by id or email, erasure, the start-up linking; through the in-memory store."""
import pytest

from app.services import customers, deliveries, orders
from app.services.errors import (CustomerErased, CustomerHasOpenOrders, DuplicateValue,
                                 InsufficientStock, ValidationFailed)
from app.storage.base import Query
from tests.unit.builders import add_order, add_product, read, run, stock_of


def add_customer(store, **fields):
    data = {"name": "Ada Lovelace", "email": "ada@example.com", **fields}
    return run(store, lambda uow: customers.create_customer(uow, data))


def view(store, customer_id):
    return read(store, lambda uow: customers.view_customer(uow, customer_id))


def events(store, kind):
    return read(store, lambda uow: [e for e in uow.events.list(Query(limit=200))[0] if e["type"] == kind])


def all_customers(store):
    return read(store, lambda uow: uow.customers.list(Query(limit=200))[0])


def test_a_customer_needs_a_name_or_an_email(memory_store):
    with pytest.raises(ValidationFailed) as refused:
        add_customer(memory_store, name=" ", email=None)
    assert "name" in refused.value.errors
    assert add_customer(memory_store, name=None, email="only@example.com")["name"] is None


def test_emails_are_unique_case_insensitively_and_kept_as_sent(memory_store):
    first = add_customer(memory_store, email="Ada@Example.com")
    assert first["email"] == "Ada@Example.com"
    with pytest.raises(DuplicateValue) as refused:
        add_customer(memory_store, email="ada@example.COM")
    assert refused.value.code == "duplicate_email"


def test_totals_count_every_order_but_sum_only_paid_ones(memory_store):
    ada = add_customer(memory_store)
    book = add_product(memory_store, price="12.50", stock=10)
    assert (view(memory_store, ada["id"])["order_count"], view(memory_store, ada["id"])["last_order_at"]) == (0, None)
    paid = add_order(memory_store, [(book, 2)], customer_id=ada["id"],
                     payment={"method": "cash", "amount": "25.00"})
    add_order(memory_store, [(book, 1)], customer_id=ada["id"])
    refunded = add_order(memory_store, [(book, 1)], customer_id=ada["id"],
                         payment={"method": "cash", "amount": "12.50"})
    run(memory_store, lambda uow: orders.cancel_order(uow, refunded["id"], may_refund=True))

    shown = view(memory_store, ada["id"])
    assert (shown["order_count"], shown["total_spent"]) == (3, "25.00")
    assert shown["last_order_at"] == refunded["created_at"]
    assert shown["version"] == ada["version"]  # computed when read: nothing moves
    assert paid["customer"] == {"name": "Ada Lovelace", "email": "ada@example.com", "phone": None}


def test_a_customer_id_fills_the_snapshot_and_sent_fields_override_it_there_only(memory_store):
    ada = add_customer(memory_store, phone="+44 1")
    book = add_product(memory_store)
    order = add_order(memory_store, [(book, 1)], customer_id=ada["id"], customer={"name": "A. King"})
    assert order["customer_id"] == ada["id"]
    assert order["customer"] == {"name": "A. King", "email": "ada@example.com", "phone": "+44 1"}
    assert view(memory_store, ada["id"])["name"] == "Ada Lovelace"


def test_an_unknown_customer_id_stays_the_clients_own_reference(memory_store):
    add_customer(memory_store)
    book = add_product(memory_store)
    order = add_order(memory_store, [(book, 1)], customer_id="cust-0042",
                      customer={"name": "Ada", "email": "ada@example.com"})
    assert order["customer_id"] == "cust-0042"
    assert len(all_customers(memory_store)) == 1


def test_an_email_links_the_customer_of_that_email_or_makes_one_once(memory_store):
    book = add_product(memory_store, stock=10)
    first = add_order(memory_store, [(book, 1)], customer={"name": "Bob", "email": "bob@example.com"})
    second = add_order(memory_store, [(book, 1)], customer={"name": "Robert", "email": "BOB@example.com"})
    made = all_customers(memory_store)
    assert len(made) == 1 and made[0]["name"] == "Bob"
    assert first["customer_id"] == second["customer_id"] == made[0]["id"]
    assert second["customer"]["name"] == "Robert"  # the snapshot keeps what was sent
    assert len(events(memory_store, "customer.created")) == 1


def test_a_refused_order_makes_no_customer(memory_store):
    book = add_product(memory_store, stock=1)
    with pytest.raises(InsufficientStock):
        add_order(memory_store, [(book, 5)], customer={"name": "Bob", "email": "bob@example.com"})
    assert all_customers(memory_store) == []


def test_an_erased_customer_cannot_be_named_by_an_order(memory_store):
    ada = add_customer(memory_store)
    run(memory_store, lambda uow: customers.erase_customer(uow, ada["id"]))
    book = add_product(memory_store, stock=3)
    with pytest.raises(CustomerErased):
        add_order(memory_store, [(book, 1)], customer_id=ada["id"])
    assert stock_of(memory_store, book["id"]) == 3


def test_erasure_removes_the_person_and_keeps_the_records(memory_store):
    ada = add_customer(memory_store, phone="+44 1", notes="prefers pickup",
                       addresses=[{"line1": "12 Square", "city": "London", "country": "GB"}])
    book = add_product(memory_store, price="5.00", stock=10)
    address = {"name": "Ada", "line1": "12 Square", "line2": None, "city": "London", "postal_code": "SW1",
               "country": "GB"}
    order = add_order(memory_store, [(book, 2)], customer_id=ada["id"], shipping_address=address,
                      payment={"method": "card", "amount": "10.00"}, notes="staff note")
    delivery = run(memory_store, lambda uow: deliveries.create_delivery(uow, {"order_id": order["id"]}, "u1"))
    with pytest.raises(CustomerHasOpenOrders):
        run(memory_store, lambda uow: customers.erase_customer(uow, ada["id"]))
    run(memory_store, lambda uow: deliveries.advance_delivery(uow, delivery["id"], "in_transit"))
    run(memory_store, lambda uow: deliveries.advance_delivery(uow, delivery["id"], "delivered"))

    erased = run(memory_store, lambda uow: customers.erase_customer(uow, ada["id"]))

    assert {k: erased[k] for k in ("name", "email", "phone", "notes", "addresses", "erased")} == {
        "name": None, "email": None, "phone": None, "notes": None, "addresses": [], "erased": True}
    assert (erased["order_count"], erased["total_spent"]) == (1, "10.00")
    kept = read(memory_store, lambda uow: uow.orders.get(order["id"]))
    assert kept["customer"] == {"name": None, "email": None, "phone": None}
    assert kept["shipping_address"] == {"name": None, "line1": None, "line2": None, "city": None,
                                        "postal_code": None, "country": "GB"}
    assert kept["notes"] == "staff note"  # a staff order's notes are the shop's
    assert kept["items"] == order["items"] and kept["total"] == "10.00"
    gone = read(memory_store, lambda uow: uow.deliveries.get(delivery["id"]))
    assert gone["address"]["country"] == "GB" and gone["address"]["line1"] is None
    assert len(gone["events"]) == 3
    again = run(memory_store, lambda uow: customers.erase_customer(uow, ada["id"]))
    assert again["version"] == erased["version"]
    assert add_customer(memory_store)["email"] == "ada@example.com"  # the email is free again
    with pytest.raises(CustomerErased):
        run(memory_store, lambda uow: customers.update_customer(uow, ada["id"], {"notes": "x"}))
    assert len(events(memory_store, "customer.erased")) == 1


def test_lists_sort_by_the_computed_totals(memory_store):
    book = add_product(memory_store, price="3.00", stock=20)
    few = add_customer(memory_store, email="few@example.com")
    many = add_customer(memory_store, email="many@example.com")
    add_customer(memory_store, email="none@example.com")
    add_order(memory_store, [(book, 1)], customer_id=few["id"], payment={"method": "cash", "amount": "3.00"})
    for _ in range(2):
        add_order(memory_store, [(book, 1)], customer_id=many["id"])
    query = Query(sort=[("order_count", True)], limit=2)
    page, total = read(memory_store, lambda uow: customers.list_customers(uow, query))
    assert total == 3 and [c["email"] for c in page] == ["many@example.com", "few@example.com"]
    page, _ = read(memory_store, lambda uow: customers.list_customers(
        uow, Query(sort=[("total_spent", True)], limit=1)))
    assert page[0]["email"] == "few@example.com"
    page, total = read(memory_store, lambda uow: customers.list_customers(
        uow, Query(filters={"email": "MANY@example.com"}, limit=10)))
    assert total == 1 and page[0]["id"] == many["id"]


def test_the_start_up_step_links_earlier_orders_by_email_once(memory_store):
    with memory_store.unit_of_work() as uow:  # orders of an earlier release: no channel, no customer
        for n, (name, email) in enumerate([("Ada", "ada@example.com"), ("Ada L.", "ADA@example.com"),
                                           ("Nobody", None)]):
            uow.orders.add({"id": f"o{n}", "number": 1001 + n, "status": "completed", "payment_status": "paid",
                            "items": [], "total": "5.00", "customer": {"name": name, "email": email,
                                                                       "phone": f"+{n}"},
                            "customer_id": None})
        uow.commit()

    assert run(memory_store, customers.link_existing_orders) == 3
    made = all_customers(memory_store)
    assert [(c["name"], c["phone"]) for c in made] == [("Ada L.", "+1")]  # from its newest order
    linked = read(memory_store, lambda uow: [uow.orders.get(f"o{n}") for n in range(3)])
    assert [o["customer_id"] for o in linked] == [made[0]["id"], made[0]["id"], None]
    assert {o["channel"] for o in linked} == {"staff"} and linked[0]["shipping_address"] is None
    assert run(memory_store, customers.link_existing_orders) == 0
