"""Customers: who buys, their orders' computed totals, linking orders to them, and erasure."""
from decimal import Decimal

from ..storage.base import Query, UniqueViolation, new_id
from .catalog import money
from .errors import (CustomerErased, CustomerHasOpenOrders, DuplicateValue, NotFound,
                     ValidationFailed)
from .users import check_version

WRITABLE = ("name", "email", "phone", "addresses", "notes")
COMPUTED = ("order_count", "total_spent", "last_order_at")
OPEN_STATUSES = ("pending", "paid", "shipped")
EVERYTHING = 10 ** 9


def get_customer(uow, customer_id):
    customer = uow.customers.get(customer_id)
    if customer is None:
        raise NotFound("No customer with this id.")
    return customer


def totals(orders):
    """The computed fields of a customer with these orders."""
    spent = sum((Decimal(o["total"]) for o in orders if o.get("payment_status") == "paid"), Decimal(0))
    newest = max((o["created_at"] for o in orders), default=None)
    return {"order_count": len(orders), "total_spent": money(spent), "last_order_at": newest}


def customer_out(uow, customer):
    """The customer as clients see it: its stored fields and the computed ones, in section 11's order."""
    figures = totals(uow.orders.of_customer(customer["id"]))
    out = {key: customer.get(key) for key in ("id", "name", "email", "phone")}
    out["addresses"] = customer.get("addresses") or []
    out["notes"] = customer.get("notes")
    out.update(figures)
    out["erased"] = bool(customer.get("erased"))
    for key in ("created_at", "updated_at", "version"):
        out[key] = customer.get(key)
    return out


def view_customer(uow, customer_id):
    return customer_out(uow, get_customer(uow, customer_id))


def list_customers(uow, query):
    """A page of customers with their computed fields; a sort by a computed field is made over
    every matching customer, other lists page first and compute the page only. The email
    filter is the whole address, case-insensitively: the unique key's look-up."""
    _email_filter(uow, query)
    if any(name in COMPUTED for name, _ in query.sort):
        wanted = Query(filters=dict(query.filters), q=query.q, q_fields=query.q_fields,
                       sort=[("id", False)], limit=EVERYTHING)
        matched, total = uow.customers.list(wanted)
        rows = [customer_out(uow, c) for c in matched]
        for name, desc in reversed(query.sort):
            if name in ("order_count", "total_spent"):
                key = (lambda r, n=name: Decimal(r[n]))
            else:
                key = (lambda r, n=name: (r[n] is None, r[n] or ""))
            rows.sort(key=key, reverse=desc)
        return rows[query.offset:query.offset + query.limit], total
    page, total = uow.customers.list(query)
    return [customer_out(uow, c) for c in page], total


def _email_filter(uow, query):
    email = query.filters.pop("email", None)
    if email is not None:
        found = uow.customers.find_by_email(email)
        query.filters["id"] = [found["id"]] if found else []


def every_customer(uow, query):
    """Every customer the query matches, in its order, with the computed fields, its page aside
    (the CSV export): one at a time unless the sort is by a computed field."""
    if any(name in COMPUTED for name, _ in query.sort):
        yield from list_customers(uow, Query(filters=dict(query.filters), q=query.q, q_fields=query.q_fields,
                                             sort=list(query.sort), limit=EVERYTHING))[0]
        return
    _email_filter(uow, query)
    for customer in uow.customers.iterate(query):
        yield customer_out(uow, customer)


def _normalise(customer):
    if not (customer.get("name") or "").strip() and not (customer.get("email") or "").strip():
        raise ValidationFailed("A customer needs a name or an email.",
                               errors={"name": ["Give a name or an email."]})
    customer["addresses"] = list(customer.get("addresses") or [])
    return customer


def _store(uow, customer, new):
    try:
        if new:
            uow.customers.add(customer)
        else:
            uow.customers.update(customer)
    except UniqueViolation as exc:
        raise DuplicateValue(exc.field) from None
    return customer


def _email_taken(uow, email, customer_id=None):
    if email:
        found = uow.customers.find_by_email(email)
        if found is not None and found["id"] != customer_id:
            raise DuplicateValue("email")


def create_customer(uow, data):
    """A new customer; the email (when given) is unique case-insensitively."""
    customer = {"id": new_id(), **{k: data.get(k) for k in WRITABLE}, "erased": False}
    _normalise(customer)
    _email_taken(uow, customer["email"])
    _store(uow, customer, new=True)
    out = customer_out(uow, customer)
    uow.events.add("customer.created", out)
    return out


def update_customer(uow, customer_id, data, expected_version=None):
    """PUT/PATCH: the writable fields sent; an erased customer stays erased (409)."""
    customer = get_customer(uow, customer_id)
    check_version(customer, expected_version)
    if customer.get("erased"):
        raise CustomerErased("This customer was erased; nothing about them can be changed.")
    changed = {k: v for k, v in data.items() if k in WRITABLE}
    candidate = {**customer, **changed}
    _normalise(candidate)
    if changed and any(candidate.get(k) != customer.get(k) for k in WRITABLE):
        if candidate.get("email") != customer.get("email"):
            _email_taken(uow, candidate.get("email"), customer_id)
        _store(uow, candidate, new=False)
        out = customer_out(uow, candidate)
        uow.events.add("customer.updated", out)
        return out
    return customer_out(uow, customer)


def _erased_address(address):
    if address is None or isinstance(address, str):
        return None
    return {key: (value if key == "country" else None) for key, value in address.items()}


def erase_customer(uow, customer_id, expected_version=None):
    """The right to be forgotten: the records stay, the person goes (see section 11); refused
    while an order is open. Erasing again changes nothing."""
    customer = get_customer(uow, customer_id)
    check_version(customer, expected_version)
    if customer.get("erased"):
        return customer_out(uow, customer)
    orders = uow.orders.of_customer(customer_id)
    if any(o["status"] in OPEN_STATUSES for o in orders):
        raise CustomerHasOpenOrders("Finish or cancel this customer's open orders first.")
    for order in orders:
        order = uow.orders.get(order["id"])  # locked, on PostgreSQL
        order["customer"] = {"name": None, "email": None, "phone": None}
        order["shipping_address"] = _erased_address(order.get("shipping_address"))
        if order.get("channel") == "storefront":
            order["notes"] = None
        uow.orders.update(order)
        for delivery in uow.deliveries.for_order(order["id"]):
            delivery["address"] = _erased_address(delivery.get("address"))
            uow.deliveries.update(delivery)
    customer.update(name=None, email=None, phone=None, notes=None, addresses=[], erased=True)
    uow.customers.update(customer)
    out = customer_out(uow, customer)
    uow.events.add("customer.erased", out)
    return out


def customer_orders(uow, customer_id, query):
    """The customer's orders with GET /api/orders' filters, newest first."""
    get_customer(uow, customer_id)
    query.filters["customer_id"] = customer_id
    return uow.orders.list(query)


# ---- orders and customers -------------------------------------------------------------------------

def link_order(uow, data):
    """The (customer_id, customer snapshot) an order is placed with (section 11's changes to
    section 5): a customer_id naming a customer links it, its fields under those sent; else an
    email links the customer of that email, made now if none; an unknown customer_id is kept as
    the client's own reference. One indexed look-up at most, in the order's unit of work."""
    sent = data.get("customer")
    customer_id = data.get("customer_id")
    if customer_id is not None:
        customer = uow.customers.get(customer_id)
        if customer is None:
            return customer_id, sent
        if customer.get("erased"):
            raise CustomerErased("This customer was erased; orders cannot name them.")
        snapshot = {"name": customer.get("name"), "email": customer.get("email"),
                    "phone": customer.get("phone")}
        snapshot.update({k: v for k, v in (sent or {}).items() if k in snapshot})
        return customer["id"], snapshot
    email = (sent or {}).get("email")
    if not email:
        return None, sent
    customer = uow.customers.find_by_email(email)  # PostgreSQL: the email's lock, to the commit
    if customer is None:
        customer = {"id": new_id(), "name": sent.get("name"), "email": email,
                    "phone": sent.get("phone"), "addresses": [], "notes": None, "erased": False}
        _store(uow, customer, new=True)
        uow.events.add("customer.created", customer_out(uow, customer))
    return customer["id"], sent


def link_existing_orders(uow):
    """The start-up step: orders of an earlier release get channel "staff" and no shipping
    address; orders with a customer email and no customer_id are linked, one customer made per
    email that has none (name and phone from its newest order). How many orders changed."""
    unlinked, _ = uow.orders.list(Query(filters={"needs_customer_link": True}, limit=EVERYTHING))
    changed = 0
    newest = {}
    for order in unlinked:
        email = ((order.get("customer") or {}).get("email") or "").strip()
        if email and not order.get("customer_id"):
            newest[email.lower()] = order  # ids sort by creation: the last one is the newest
    made = {}
    for key, order in newest.items():
        email = order["customer"]["email"]
        customer = uow.customers.find_by_email(email)
        if customer is None:
            customer = {"id": new_id(), "name": order["customer"].get("name"), "email": email,
                        "phone": order["customer"].get("phone"), "addresses": [], "notes": None,
                        "erased": False}
            _store(uow, customer, new=True)
        made[key] = customer["id"]
    for order in unlinked:
        order = uow.orders.get(order["id"])
        if "channel" not in order or order.get("channel") is None:
            order["channel"] = "staff"
            order.setdefault("shipping_address", None)
        email = ((order.get("customer") or {}).get("email") or "").strip().lower()
        if email and not order.get("customer_id") and email in made:
            order["customer_id"] = made[email]
        uow.orders.update(order)
        changed += 1
    return changed
