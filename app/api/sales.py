"""Order routes: place, list, pay, complete, cancel."""
from flask import Blueprint, current_app, g, request

from schemas.common import EmptySchema
from schemas.orders import (CancelSchema, CHANNELS, ORDER_STATUSES, OrderCreateSchema, PAYMENT_STATUSES,
                            PaymentSchema, load_plain_order)
from ..auth import can, requires
from ..services import orders, settings
from .csv_out import csv_list
from .idempotent import idempotent_create
from .query_params import choice, list_query, text
from .request_body import load, raw_body
from .responses import record_response
from .store import page_of, read, write

bp = Blueprint("sales", __name__, url_prefix="/api")


@bp.post("/orders")
@requires("orders.write")
def create_order():
    """Place an order: every line is taken from stock, or nothing is."""
    body = raw_body()
    data = load_plain_order(body) or load(OrderCreateSchema, body=body)

    def run(uow):
        currency = settings.currency_for_sale(uow, current_app.config["SETTINGS_DEFAULTS"])
        order = orders.place_order(uow, data, g.user["id"], currency)
        # what url_for("sales.get_order", ...) gives, without the URL map on the busiest route
        return 201, order, {"Location": f"{request.script_root}/api/orders/{order['id']}"}
    return idempotent_create("orders.create", body, run)


@bp.get("/orders")
@requires("orders.read")
def list_orders():
    """List orders, newest first: filters status, payment_status, customer_email, customer_id,
    channel, location_id, since, until."""
    query = order_query()
    return csv_list("orders", query) or page_of("orders", query)


def order_query():
    """GET /api/orders' query string (its filters, sorts and q), for the customers' orders too."""
    return list_query(
        filters={"status": choice(*ORDER_STATUSES), "payment_status": choice(*PAYMENT_STATUSES),
                 "customer_email": text, "location_id": text, "customer_id": text,
                 "channel": choice(*CHANNELS)},
        sort_fields=("created_at", "updated_at", "number", "total", "status", "payment_status"),
        q_fields=("number", "notes", "customer_id", "customer.name", "customer.email"),
        default_sort=(("id", True),), dated=True)


@bp.get("/orders/<order_id>")
@requires("orders.read")
def get_order(order_id):
    """One order."""
    return record_response(read(orders.get_order, order_id))


@bp.post("/orders/<order_id>/pay")
@requires("orders.write")
def pay_order(order_id):
    """Record payment of the order's total."""
    data = load(PaymentSchema)
    return record_response(write(orders.pay_order, order_id, data))


@bp.post("/orders/<order_id>/complete")
@requires("orders.write")
def complete_order(order_id):
    """A paid order handed over in the shop."""
    load(EmptySchema, optional=True)
    return record_response(write(orders.complete_order, order_id, g.user["id"]))


@bp.post("/orders/<order_id>/cancel")
@requires("orders.write")
def cancel_order(order_id):
    """Cancel a pending or paid order; stock comes back, payment is refunded."""
    data = load(CancelSchema, optional=True)
    return record_response(write(orders.cancel_order, order_id, data.get("reason"), g.user["id"],
                                 may_refund=can("orders.refund")))
