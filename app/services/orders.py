"""Orders: all-or-nothing multi-line sales with exact totals, payment, completion and cancelling."""
from decimal import Decimal

from ..storage.base import new_id, timestamp
from . import stock
from .catalog import money
from .customers import link_order
from .deliveries import cancel_pending_deliveries
from .errors import (Forbidden, InsufficientStock, InvalidTransition, NotFound,
                     PaymentAmountMismatch, ValidationFailed)


def get_order(uow, order_id):
    order = uow.orders.get(order_id)
    if order is None:
        raise NotFound("No order with this id.")
    return order


def _resolve_lines(uow, items):
    """Each line's product and quantity, or a validation error per line (unknown, archived, repeated)."""
    return [(index, product, item["quantity"])
            for index, product, item in stock.resolve_lines(uow, items, "items", "sold")]


def _check_payment(payment, total):
    amount = Decimal(payment["amount"])
    if amount != total:
        raise PaymentAmountMismatch(
            f"The payment of {money(amount)} does not equal the total {money(total)}.",
            errors={"payment.amount": [f"Must equal the order total, {money(total)}."]})
    return {"method": payment["method"], "amount": money(amount),
            "reference": payment.get("reference"), "paid_at": timestamp()}


def place_order(uow, data, user_id, currency, channel="staff", hold_expires_at=None, lines=None):
    """Check every line, then take every line from stock at the order's location (data's
    `location_id`, else the default one) in this unit of work, or change nothing. The order is
    linked to its customer (section 11) in the same unit of work. lines: data's items as
    stock.resolve_lines gave them in this unit of work, when the caller has them already."""
    lines = (_resolve_lines(uow, data["items"]) if lines is None
             else [(index, product, item["quantity"]) for index, product, item in lines])
    location_id = stock.stock_location(uow, data.get("location_id"))["id"]
    order_id = new_id()
    snapshot = []
    subtotal = Decimal("0.00")
    for index, product, quantity in lines:
        unit = Decimal(product["price"])
        line_total = unit * quantity
        subtotal += line_total
        snapshot.append({"product_id": product["id"], "sku": product["sku"], "title": product["title"],
                         "quantity": quantity, "unit_price": money(unit), "line_total": money(line_total)})
    stock.take_lines(uow, lines, location_id, "sale", order_id, None, user_id, what="at this location")
    customer_id, customer = (data.get("customer_id"), data.get("customer"))
    if customer_id is not None or (customer or {}).get("email"):
        customer_id, customer = link_order(uow, data)
    total = subtotal
    order = {
        "id": order_id, "number": uow.orders.next_number(), "status": "pending",
        "payment_status": "unpaid", "items": snapshot, "subtotal": money(subtotal),
        "total": money(total), "currency": currency, "customer": customer,
        "customer_id": customer_id, "payment": None, "notes": data.get("notes"),
        "cancel_reason": None, "created_by": user_id, "location_id": location_id,
        "channel": channel, "shipping_address": data.get("shipping_address"),
        "hold_expires_at": hold_expires_at,
    }
    if data.get("payment"):
        order["payment"] = _check_payment(data["payment"], total)
        order["status"], order["payment_status"] = "paid", "paid"
    uow.orders.add(order)
    uow.events.add("order.created", order)
    if order["payment_status"] == "paid":
        uow.events.add("order.paid", order)
    return order


def pay_order(uow, order_id, payment):
    """Record payment of the whole total; cash on delivery may pay a shipped or delivered order."""
    order = get_order(uow, order_id)
    if order["payment_status"] != "unpaid" or order["status"] == "cancelled":
        raise InvalidTransition(f"An order that is {order['status']} and {order['payment_status']} "
                                "cannot be paid.")
    order["payment"] = _check_payment(payment, Decimal(order["total"]))
    order["payment_status"] = "paid"
    if order["status"] == "pending":
        order["status"] = "paid"
    order = uow.orders.update(order)
    uow.events.add("order.paid", order)
    return order


def complete_order(uow, order_id, user_id=None):
    """Handed over in the shop: only a paid order that is not out for delivery."""
    order = get_order(uow, order_id)
    if order["status"] != "paid":
        raise InvalidTransition(f"Only a paid order can be completed; this one is {order['status']}.")
    order["status"] = "completed"
    cancel_pending_deliveries(uow, order["id"], "order completed in the shop", user_id)
    order = uow.orders.update(order)
    uow.events.add("order.completed", order)
    return order


def cancel_order(uow, order_id, reason=None, user_id=None, may_refund=False):
    """Cancel a pending or paid order: its stock comes back; a paid one becomes refunded."""
    order = get_order(uow, order_id)
    if order["status"] not in ("pending", "paid"):
        raise InvalidTransition(f"An order that is {order['status']} cannot be cancelled.")
    if order["payment_status"] == "paid" and not may_refund:
        raise Forbidden("Cancelling a paid order refunds it; only a manager or admin may do that.")
    location = uow.locations.for_stock(order.get("location_id"))
    if location is None or location["status"] != "active":  # archived since: back to the default
        location = stock.stock_location(uow)
    # products locked in one global order, as place_order locks them, so the two never deadlock
    for line in sorted(order["items"], key=lambda item: item["product_id"]):
        uow.products.get(line["product_id"])
        stock.change_stock(uow, line["product_id"], line["quantity"], "order_cancelled",
                           order["id"], reason, user_id, location["id"])
    if order["payment_status"] == "paid":
        order["payment_status"] = "refunded"
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["cancelled_at"] = timestamp()
    cancel_pending_deliveries(uow, order["id"], "order cancelled", user_id)
    order = uow.orders.update(order)
    uow.events.add("order.cancelled", order)
    return order
