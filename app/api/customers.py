"""Customer routes: customers with their computed totals, their orders, and erasure."""
from flask import Blueprint, url_for

from schemas.customers import CustomerSchema
from ..auth import requires
from ..services import customers
from .csv_out import csv_response, wants_csv
from .preconditions import if_match
from .query_params import boolean, list_query, text
from .request_body import load
from .responses import page_response, record_response
from .sales import order_query
from .store import read, reader, write

bp = Blueprint("customers", __name__, url_prefix="/api")

SORT = ("name", "email", "created_at", "updated_at", "order_count", "total_spent", "last_order_at")


def _writable(data):
    return {k: v for k, v in data.items() if k in customers.WRITABLE}


@bp.get("/customers")
@requires("customers.read")
def list_customers():
    """List customers: filters email, erased; q over name, email, phone; sort by the computed totals too."""
    query = list_query(filters={"email": text, "erased": boolean},
                       sort_fields=SORT, q_fields=("name", "email", "phone"),
                       default_sort=(("id", False),))
    if wants_csv():
        return csv_response("customers", CSV_COLUMNS, lambda uow: map(_csv_row, customers.every_customer(uow, query)),
                            CSV_PLAIN)
    with reader() as uow:
        items, total = customers.list_customers(uow, query)
    return page_response(items, total, query)


# section 15's CSV: section 11's fields; the addresses (a list) as JSON in one cell
CSV_COLUMNS = ("id", "name", "email", "phone", "addresses", "notes", "order_count", "total_spent",
               "last_order_at", "erased", "created_at", "updated_at", "version")
CSV_PLAIN = frozenset(("order_count", "total_spent", "last_order_at", "created_at", "updated_at", "version"))


def _csv_row(customer):
    return {**customer, "addresses": customer["addresses"] or None}


@bp.post("/customers")
@requires("customers.write")
def create_customer():
    """Create a customer (a name or an email; the email unique case-insensitively)."""
    data = _writable(load(CustomerSchema))
    customer = write(customers.create_customer, data)
    return record_response(customer, 201,
                           {"Location": url_for("customers.get_customer", customer_id=customer["id"])})


@bp.get("/customers/<customer_id>")
@requires("customers.read")
def get_customer(customer_id):
    """One customer."""
    return record_response(read(customers.view_customer, customer_id))


@bp.put("/customers/<customer_id>")
@requires("customers.write")
def replace_customer(customer_id):
    """Replace a customer's writable fields (those left out become empty)."""
    data = _writable(load(CustomerSchema))
    full = {"name": None, "email": None, "phone": None, "addresses": [], "notes": None, **data}
    return record_response(write(customers.update_customer, customer_id, full, if_match()))


@bp.patch("/customers/<customer_id>")
@requires("customers.write")
def update_customer(customer_id):
    """Change some of a customer's fields."""
    data = _writable(load(CustomerSchema, partial=True))
    return record_response(write(customers.update_customer, customer_id, data, if_match()))


@bp.delete("/customers/<customer_id>")
@requires("customers.erase")
def erase_customer(customer_id):
    """Erase a customer (the right to be forgotten): the records stay, the person goes."""
    return record_response(write(customers.erase_customer, customer_id, if_match()))


@bp.get("/customers/<customer_id>/orders")
@requires("customers.read")
def customer_orders(customer_id):
    """The customer's orders, newest first, with the filters of GET /api/orders."""
    query = order_query()
    with reader() as uow:
        items, total = customers.customer_orders(uow, customer_id, query)
    return page_response(items, total, query)
