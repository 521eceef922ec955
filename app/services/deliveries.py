"""Deliveries: one active delivery per order, its event history, its state machine and the order moves it makes."""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ..storage.base import new_id, timestamp
from .errors import (DeliveryExists, InvalidTransition, NotFound, OrderNotDeliverable,
                     ValidationFailed)

STATUSES = ("pending", "in_transit", "out_for_delivery", "delivered", "failed", "cancelled")
TRANSITIONS = {
    "pending": ("in_transit", "failed", "cancelled"),
    "in_transit": ("out_for_delivery", "delivered", "failed"),
    "out_for_delivery": ("delivered", "failed"),
    "failed": ("in_transit",),
    "delivered": (),
    "cancelled": (),
}
INACTIVE = ("failed", "cancelled")
UNDELIVERABLE = ("cancelled", "completed", "delivered")
OPEN_FOR_DELIVERY = ("pending", "paid")


def get_delivery(uow, delivery_id):
    delivery = uow.deliveries.get(delivery_id)
    if delivery is None:
        raise NotFound("No delivery with this id.")
    return delivery


def add_working_days(start: date, days: int) -> date:
    current = start
    added = 0
    while added < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current


def default_estimate(order, delivery_days, tz_name):
    created = datetime.strptime(order["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    local_day = created.astimezone(ZoneInfo(tz_name)).date()
    return add_working_days(local_day, delivery_days).isoformat()


def _active_for_order(uow, order_id, except_id=None):
    return [d for d in uow.deliveries.for_order(order_id)
            if d["status"] not in INACTIVE and d["id"] != except_id]


def _event(status, note, user_id):
    return {"status": status, "at": timestamp(), "note": note, "user_id": user_id}


def create_delivery(uow, data, user_id, delivery_days=3, tz_name="UTC"):
    """A delivery for an open order that has no other active delivery."""
    order = uow.orders.get(data["order_id"])
    if order is None:
        raise ValidationFailed("No order with this id.", errors={"order_id": ["Unknown order."]})
    if order["status"] in UNDELIVERABLE:
        raise OrderNotDeliverable(f"The order is {order['status']}; it cannot be delivered.")
    if _active_for_order(uow, order["id"]):
        raise DeliveryExists("This order already has a delivery that is not cancelled or failed.")
    address = data.get("address") or order.get("shipping_address")
    if not address:  # section 11: the order's shipping address, when the body has none
        raise ValidationFailed("Give the delivery an address; the order has no shipping address.",
                               errors={"address": ["Required: the order has no shipping address."]})
    estimated = data.get("estimated_date")
    delivery = {
        "id": new_id(), "order_id": order["id"], "status": "pending",
        "address": address, "carrier": data.get("carrier"),
        "tracking_number": data.get("tracking_number"),
        "estimated_date": estimated.isoformat() if estimated else default_estimate(
            order, delivery_days, tz_name),
        "events": [_event("pending", data.get("note"), user_id)],
        "created_by": user_id,
    }
    uow.deliveries.add(delivery)
    uow.events.add("delivery.created", delivery)
    return delivery


def advance_delivery(uow, delivery_id, status, note=None, user_id=None):
    """Move a delivery along its machine; its order follows in the same unit of work."""
    delivery = get_delivery(uow, delivery_id)
    current = delivery["status"]
    if status not in TRANSITIONS[current]:
        raise InvalidTransition(f"A delivery that is {current} cannot become {status}.")
    if current == "failed" and status == "in_transit" and _active_for_order(
            uow, delivery["order_id"], except_id=delivery["id"]):
        raise DeliveryExists("The order has another active delivery; this one cannot be retried.")
    if status == "in_transit":
        _ship_order(uow, delivery["order_id"])
    elif status == "delivered":
        _deliver_order(uow, delivery["order_id"])
    elif status in INACTIVE:
        _unship_order(uow, delivery["order_id"])
    delivery["status"] = status
    delivery["events"].append(_event(status, note, user_id))
    delivery = uow.deliveries.update(delivery)
    uow.events.add("delivery.updated", delivery)
    return delivery


def cancel_pending_deliveries(uow, order_id, note, user_id):
    """The order was closed in the shop: its deliveries that never left are cancelled."""
    for delivery in _active_for_order(uow, order_id):
        if delivery["status"] == "pending":
            delivery["status"] = "cancelled"
            delivery["events"].append(_event("cancelled", note, user_id))
            uow.events.add("delivery.updated", uow.deliveries.update(delivery))


# ---- its order follows ----------------------------------------------------
# These moves live here, not in orders: orders calls cancel_pending_deliveries, so this module
# must not import orders back.

def _order(uow, order_id):
    order = uow.orders.get(order_id)
    if order is None:
        raise NotFound("No order with this id.")
    return order


def _ship_order(uow, order_id):
    order = _order(uow, order_id)
    if order["status"] == "shipped":
        return order
    if order["status"] not in OPEN_FOR_DELIVERY:
        raise OrderNotDeliverable(f"The order is {order['status']} and cannot go out for delivery.")
    order["status"] = "shipped"
    return uow.orders.update(order)


def _deliver_order(uow, order_id):
    order = _order(uow, order_id)
    if order["status"] != "shipped":
        raise InvalidTransition(f"The order is {order['status']}, not shipped.")
    order["status"] = "delivered"
    return uow.orders.update(order)


def _unship_order(uow, order_id):
    """Its delivery failed or was cancelled: back to paid, or pending when unpaid."""
    order = _order(uow, order_id)
    if order["status"] != "shipped":
        return order
    order["status"] = "paid" if order["payment_status"] == "paid" else "pending"
    return uow.orders.update(order)
