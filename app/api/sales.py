"""Order routes: place, list, pay, complete, cancel."""
from flask import Blueprint, current_app, g, request

from schemas.common import EmptySchema
from schemas.orders import (CancelSchema, ORDER_STATUSES, OrderCreateSchema, PAYMENT_STATUSES,
                            PaymentSchema, load_plain_order)
from ..auth import can, requires
from ..services import orders
from .common import (choice, idempotent_create, list_query, load, page_response, raw_body, reader,
                     record_response, text, unit_of_work)

bp = Blueprint("sales", __name__, url_prefix="/api")


@bp.post("/orders")
@requires("orders.write")
def create_order():
    """Place an order: every line is taken from stock, or nothing is."""
    body = raw_body()
    data = load_plain_order(body) or load(OrderCreateSchema, body=body)

    def run(uow):
        order = orders.place_order(uow, data, g.user["id"], current_app.config["CURRENCY"])
        # what url_for("sales.get_order", ...) gives, without the URL map on the busiest route
        return 201, order, {"Location": f"{request.script_root}/api/orders/{order['id']}"}
    return idempotent_create("orders.create", body, run)


@bp.get("/orders")
@requires("orders.read")
def list_orders():
    """List orders, newest first: filters status, payment_status, customer_email, since, until."""
    query = list_query(
        filters={"status": choice(*ORDER_STATUSES), "payment_status": choice(*PAYMENT_STATUSES),
                 "customer_email": text},
        sort_fields=("created_at", "updated_at", "number", "total", "status", "payment_status"),
        q_fields=("number", "notes", "customer_id", "customer.name", "customer.email"),
        default_sort=(("id", True),), dated=True)
    with reader() as uow:
        items, total = uow.orders.list(query)
    return page_response(items, total, query)


@bp.get("/orders/<order_id>")
@requires("orders.read")
def get_order(order_id):
    """One order."""
    with reader() as uow:
        order = orders.get_order(uow, order_id)
    return record_response(order)


@bp.post("/orders/<order_id>/pay")
@requires("orders.write")
def pay_order(order_id):
    """Record payment of the order's total."""
    data = load(PaymentSchema)
    with unit_of_work() as uow:
        order = orders.pay_order(uow, order_id, data)
        uow.commit()
    return record_response(order)


@bp.post("/orders/<order_id>/complete")
@requires("orders.write")
def complete_order(order_id):
    """A paid order handed over in the shop."""
    load(EmptySchema, optional=True)
    with unit_of_work() as uow:
        order = orders.complete_order(uow, order_id, g.user["id"])
        uow.commit()
    return record_response(order)


@bp.post("/orders/<order_id>/cancel")
@requires("orders.write")
def cancel_order(order_id):
    """Cancel a pending or paid order; stock comes back, payment is refunded."""
    data = load(CancelSchema, optional=True)
    with unit_of_work() as uow:
        order = orders.cancel_order(uow, order_id, data.get("reason"), g.user["id"],
                                    may_refund=can("orders.refund"))
        uow.commit()
    return record_response(order)
