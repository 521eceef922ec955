"""Orders: all-or-nothing multi-line sales with exact totals, payment, completion and cancelling."""
from decimal import Decimal

from ..storage.base import new_id, timestamp
from . import stock
from .catalog import money
from .deliveries import cancel_pending_deliveries
from .errors import (Forbidden, InsufficientStock, InvalidTransition, NotFound,
                     PaymentAmountMismatch, ValidationFailed)


def get_order(uow, order_id):
    order = uow.orders.get(order_id)
    if order is None:
        raise NotFound("No order with this id.")
    return order


def _resolve_lines(uow, items):
    """Each line's product, or a validation error per line (unknown, archived, repeated)."""
    # read (and, on PostgreSQL, lock) products in one global order so two orders never deadlock
    by_id = {pid: uow.products.get(pid)
             for pid in sorted({i["product_id"] for i in items if i.get("product_id") is not None})}
    errors, lines, seen = {}, [], {}
    for index, item in enumerate(items):
        key = f"items.{index}"
        if item.get("product_id") is not None:
            product = by_id[item["product_id"]]
        else:
            product = stock.find_by_code(uow, item.get("barcode"))
        if product is None:
            errors[key] = ["Unknown product."]
            continue
        if product["status"] != "active":
            errors[key] = ["This product is archived and cannot be sold."]
            continue
        if product["id"] in seen:
            errors[key] = [f"This product is already on line {seen[product['id']]}; "
                           "put the whole quantity on one line."]
            continue
        seen[product["id"]] = index
        lines.append((index, product, item["quantity"]))
    if errors:
        raise ValidationFailed("Some order lines are not valid.", errors=errors)
    return lines


def _check_payment(payment, total):
    amount = Decimal(payment["amount"])
    if amount != total:
        raise PaymentAmountMismatch(
            f"The payment of {money(amount)} does not equal the total {money(total)}.",
            errors={"payment.amount": [f"Must equal the order total, {money(total)}."]})
    return {"method": payment["method"], "amount": money(amount),
            "reference": payment.get("reference"), "paid_at": timestamp()}


def place_order(uow, data, user_id, currency):
    """Check every line, then take every line from stock in this unit of work, or change nothing."""
    lines = _resolve_lines(uow, data["items"])
    shortages, errors = [], {}
    for index, product, quantity in lines:
        if product["stock"] < quantity:
            shortages.append({"index": index, "product_id": product["id"],
                              "requested": quantity, "available": product["stock"]})
            errors[f"items.{index}"] = [f"Only {product['stock']} of {product['title']!r} in stock."]
    if shortages:
        raise InsufficientStock("Not enough stock for some lines; nothing was taken.",
                                errors=errors, shortages=shortages)
    order_id = new_id()
    snapshot = []
    subtotal = Decimal("0.00")
    for index, product, quantity in lines:
        unit = Decimal(product["price"])
        line_total = unit * quantity
        subtotal += line_total
        snapshot.append({"product_id": product["id"], "sku": product["sku"], "title": product["title"],
                         "quantity": quantity, "unit_price": money(unit), "line_total": money(line_total)})
    for index, product, quantity in sorted(lines, key=lambda line: line[1]["id"]):
        stock.change_stock(uow, product["id"], -quantity, "sale", order_id, None, user_id)
    total = subtotal
    order = {
        "id": order_id, "number": uow.orders.next_number(), "status": "pending",
        "payment_status": "unpaid", "items": snapshot, "subtotal": money(subtotal),
        "total": money(total), "currency": currency, "customer": data.get("customer"),
        "customer_id": data.get("customer_id"), "payment": None, "notes": data.get("notes"),
        "cancel_reason": None, "created_by": user_id,
    }
    if data.get("payment"):
        order["payment"] = _check_payment(data["payment"], total)
        order["status"], order["payment_status"] = "paid", "paid"
    uow.orders.add(order)
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
    return uow.orders.update(order)


def complete_order(uow, order_id, user_id=None):
    """Handed over in the shop: only a paid order that is not out for delivery."""
    order = get_order(uow, order_id)
    if order["status"] != "paid":
        raise InvalidTransition(f"Only a paid order can be completed; this one is {order['status']}.")
    order["status"] = "completed"
    cancel_pending_deliveries(uow, order["id"], "order completed in the shop", user_id)
    return uow.orders.update(order)


def cancel_order(uow, order_id, reason=None, user_id=None, may_refund=False):
    """Cancel a pending or paid order: its stock comes back; a paid one becomes refunded."""
    order = get_order(uow, order_id)
    if order["status"] not in ("pending", "paid"):
        raise InvalidTransition(f"An order that is {order['status']} cannot be cancelled.")
    if order["payment_status"] == "paid" and not may_refund:
        raise Forbidden("Cancelling a paid order refunds it; only a manager or admin may do that.")
    for line in order["items"]:
        stock.change_stock(uow, line["product_id"], line["quantity"], "order_cancelled",
                           order["id"], reason, user_id)
    if order["payment_status"] == "paid":
        order["payment_status"] = "refunded"
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["cancelled_at"] = timestamp()
    cancel_pending_deliveries(uow, order["id"], "order cancelled", user_id)
    return uow.orders.update(order)
