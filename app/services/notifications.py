"""Notifications (contract section 13): per-user inboxes, made in the transaction of their event.

Only the events of NOTIFY make notifications (low stock, a storefront order, a failed delivery,
a received purchase order, a disabled webhook): one for each active user of the roles named who
has not turned the type off; `email` true in their preferences also queues a mail (section 12).
"""
from ..storage.base import Query, timestamp
from . import mail
from .errors import NotFound, ValidationFailed

# event type -> the roles it notifies
NOTIFY = {
    "stock.low": ("admin", "manager"),
    "stock.out": ("admin", "manager"),
    "purchase_order.received": ("admin", "manager"),
    "order.created": ("admin", "manager", "clerk"),
    "delivery.updated": ("admin", "manager", "clerk"),
    "webhook.disabled": ("admin",),
}
TYPES = tuple(NOTIFY)


def _notifies(event):
    data = event.get("data") or {}
    kind = event["type"]
    if kind == "order.created":
        return data.get("channel") == "storefront"
    if kind == "delivery.updated":
        return data.get("status") == "failed"
    return kind in NOTIFY


def _text(event):
    """(title, message, resource_type, resource_id) of a notifying event."""
    kind, data = event["type"], event.get("data") or {}
    if kind == "stock.low":
        return (f"Low stock: {data.get('title')}",
                f"{data.get('stock')} left (threshold {data.get('low_stock_threshold')})",
                "product", data.get("id"))
    if kind == "stock.out":
        return f"Out of stock: {data.get('title')}", "0 left", "product", data.get("id")
    if kind == "order.created":
        return (f"New storefront order #{data.get('number')}",
                f"{data.get('total')} {data.get('currency') or ''}".strip(), "order", data.get("id"))
    if kind == "delivery.updated":
        return (f"Delivery failed for order {data.get('order_id')}",
                (data.get("events") or [{}])[-1].get("note") or "The delivery failed.",
                "delivery", data.get("id"))
    if kind == "purchase_order.received":
        return (f"Purchase order received: {data.get('number') or data.get('id')}",
                "Goods were received.", "purchase_order", data.get("id"))
    if kind == "webhook.disabled":
        return (f"Webhook disabled: {data.get('url')}", data.get("disabled_reason") or "Disabled.",
                "webhook", data.get("id"))
    return kind, kind, kind.partition(".")[0], data.get("id")


def default_preferences():
    return {"types": {t: True for t in TYPES}, "email": {t: False for t in TYPES}}


def preferences(uow, user_id):
    stored = uow.notification_preferences.get(user_id)
    out = default_preferences()
    if stored:
        for part in ("types", "email"):
            out[part].update({k: v for k, v in (stored.get(part) or {}).items() if k in TYPES})
    return out


def set_preferences(uow, user_id, data):
    """Replace the caller's preferences: a type left out is on, without email."""
    errors = {}
    if not isinstance(data, dict):
        raise ValidationFailed("The preferences are not valid.", errors={"types": ["Must be an object."]})
    for key in data:
        if key not in ("types", "email"):
            errors[key] = ["Unknown field."]
    clean = default_preferences()
    for part in ("types", "email"):
        given = data.get(part, {})
        if given is None:
            given = {}
        if not isinstance(given, dict):
            errors[part] = ["Must be an object of type: true or false."]
            continue
        for kind, value in given.items():
            if kind not in TYPES:
                errors[f"{part}.{kind}"] = [f"Unknown type; one of: {', '.join(TYPES)}."]
            elif not isinstance(value, bool):
                errors[f"{part}.{kind}"] = ["Must be true or false."]
            else:
                clean[part][kind] = value
    if errors:
        raise ValidationFailed("The preferences are not valid.", errors=errors)
    stored = uow.notification_preferences.get(user_id)
    record = {"id": user_id, **clean}
    if stored is None:
        uow.notification_preferences.add(record)
    else:
        uow.notification_preferences.update({**stored, **clean})
    return clean


def fan_out(uow, events):
    """One notification per user each notifying event notifies (in the caller's transaction)."""
    wanted = [e for e in events if e["type"] in NOTIFY and _notifies(e)]
    if not wanted:
        return
    users, _ = uow.users.list(Query(filters={"active": True}, limit=10_000))
    prefs = {}
    for event in wanted:
        roles = NOTIFY[event["type"]]
        title, message, resource_type, resource_id = _text(event)
        for user in users:
            if user["role"] not in roles:
                continue
            mine = prefs.get(user["id"])
            if mine is None:
                mine = prefs[user["id"]] = preferences(uow, user["id"])
            if not mine["types"].get(event["type"], True):
                continue
            uow.notifications.add({
                "id": "ntf_" + _new_id(), "user_id": user["id"], "type": event["type"],
                "event_id": event["id"], "title": title[:200], "message": str(message)[:500],
                "resource_type": resource_type, "resource_id": resource_id, "read_at": None})
            if mine["email"].get(event["type"]) and user.get("email"):
                mail.queue_message(uow, "notification", user["email"], title[:200], str(message))


def _new_id():
    from ..storage.base import new_id
    return new_id()


def _mine(uow, user_id, notification_id):
    found = uow.notifications.get(notification_id) if isinstance(notification_id, str) else None
    if found is None or found["user_id"] != user_id:
        raise NotFound("No notification with this id.")
    return found


def view(notification):
    return {k: notification.get(k) for k in (
        "id", "type", "event_id", "title", "message", "resource_type", "resource_id", "read_at",
        "created_at", "updated_at", "version")}


def get_notification(uow, user_id, notification_id):
    return view(_mine(uow, user_id, notification_id))


def list_notifications(uow, user_id, query):
    query.filters["user_id"] = user_id
    items, total = uow.notifications.list(query)
    return [view(n) for n in items], total


def unread_count(uow, user_id):
    _, total = uow.notifications.list(Query(filters={"user_id": user_id, "read_at": None}, limit=1))
    return total


def mark_read(uow, user_id, notification_id):
    found = _mine(uow, user_id, notification_id)
    if found["read_at"] is None:
        found["read_at"] = timestamp()
        found = uow.notifications.update(found)
    return view(found)


def read_all(uow, user_id):
    unread, _ = uow.notifications.list(Query(filters={"user_id": user_id, "read_at": None},
                                              limit=1_000_000))
    now = timestamp()
    for one in unread:
        one["read_at"] = now
        uow.notifications.update(one)
    return len(unread)


def for_event(uow, event_id):
    """The notifications an event made (for the stream)."""
    return uow.notifications.for_event(event_id)
