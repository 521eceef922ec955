"""Notifications (contract section 13): per-user inboxes, made in the transaction of their event.

Only the events of NOTIFY make notifications (low stock, a storefront order, a failed delivery,
a received purchase order, a disabled webhook): one for each active user of the roles named who
has not turned the type off; `email` true in their preferences also queues a mail (section 12).
"""
from ..storage.base import Query, new_id, timestamp
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


def inbox(uow, user_id):
    """The user's inbox record: how many notifications, how many unread, the newest one's id,
    read-all's marker (read_through, read_through_at)."""
    return uow.notification_inboxes.get(user_id) or {
        "id": user_id, "total": 0, "unread": 0, "newest": None, "read_through": None,
        "read_through_at": None}


def _save_inbox(uow, record):
    if record.get("version") is None:
        uow.notification_inboxes.add(record)
    else:
        uow.notification_inboxes.update(record)


def fan_out(uow, events):
    """One notification per user each notifying event notifies (in the caller's transaction),
    appended to the notifications log; each user's inbox counts them."""
    wanted = [e for e in events if e["type"] in NOTIFY and _notifies(e)]
    if not wanted:
        return
    users, _ = uow.users.list(Query(filters={"active": True}, limit=10_000))
    prefs, made = {}, {}
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
            note = uow.notifications.append({
                "id": "ntf_" + new_id(), "user_id": user["id"], "type": event["type"],
                "event_id": event["id"], "title": title[:200], "message": str(message)[:500],
                "resource_type": resource_type, "resource_id": resource_id})
            made.setdefault(user["id"], []).append(note["id"])
            if mine["email"].get(event["type"]) and user.get("email"):
                mail.queue_message(uow, "notification", user["email"], title[:200], str(message))
    for user_id, ids in made.items():
        record = inbox(uow, user_id)
        record.update(total=record["total"] + len(ids), unread=record["unread"] + len(ids),
                      newest=ids[-1])
        _save_inbox(uow, record)


def view(notification, box=None, read=None):
    """A notification as answered: its read_at from its own read (the first), else from read-all's
    marker in the user's inbox; version 2 once read."""
    read_at = read["read_at"] if read else None
    if read_at is None and box and box.get("read_through") and notification["id"] <= box["read_through"]:
        read_at = box["read_through_at"]
    out = {k: notification.get(k) for k in (
        "id", "type", "event_id", "title", "message", "resource_type", "resource_id", "created_at")}
    out.update(read_at=read_at, updated_at=read_at or notification.get("created_at"),
               version=2 if read_at else 1)
    return out


def _mine(uow, user_id, notification_id):
    found = uow.notifications.get(notification_id) if isinstance(notification_id, str) else None
    if found is None or found["user_id"] != user_id:
        raise NotFound("No notification with this id.")
    return found


def _viewed(uow, user_id, found):
    return view(found, inbox(uow, user_id), uow.notification_reads.get(found["id"]))


def get_notification(uow, user_id, notification_id):
    return _viewed(uow, user_id, _mine(uow, user_id, notification_id))


def list_notifications(uow, user_id, query):
    query.filters["user_id"] = user_id
    items, total = uow.notifications.list(query)
    box = inbox(uow, user_id)
    return [view(n, box, uow.notification_reads.get(n["id"])) for n in items], total


def unread_count(uow, user_id):
    return inbox(uow, user_id)["unread"]


def mark_read(uow, user_id, notification_id):
    found = _mine(uow, user_id, notification_id)
    box = inbox(uow, user_id)
    shown = view(found, box, uow.notification_reads.get(found["id"]))
    if shown["read_at"] is None:
        now = timestamp()
        read = uow.notification_reads.add({"id": found["id"], "user_id": user_id, "read_at": now})
        box["unread"] = max(0, box["unread"] - 1)
        _save_inbox(uow, box)
        shown = view(found, box, read)
    return shown


def read_all(uow, user_id):
    """Every notification of the user up to the newest is read from now; how many were unread."""
    box = inbox(uow, user_id)
    count = box["unread"]
    if count:
        box.update(unread=0, read_through=box["newest"], read_through_at=timestamp())
        _save_inbox(uow, box)
    return count


ADOPTED = "adopted:notifications"  # the counter that says the start-up step below was taken


def adopt_legacy(uow, records):
    """The start-up step for a JSON store of an earlier release, where notifications were records
    with their own read_at: each one is appended to the log as it was made, its read_at becomes
    its read, and each user's inbox counts them. None when it was taken already (the counter
    ADOPTED, written in the same commit); else how many moved."""
    if uow.counters.get(ADOPTED) is not None:
        return None
    boxes = {}
    for old in sorted(records, key=lambda r: r["id"]):
        note = {k: old.get(k) for k in ("id", "user_id", "type", "event_id", "title", "message",
                                         "resource_type", "resource_id", "created_at")}
        uow.notifications.append(note)
        box = boxes.get(old["user_id"]) or boxes.setdefault(old["user_id"], inbox(uow, old["user_id"]))
        box.update(total=box["total"] + 1, newest=old["id"])
        if old.get("read_at"):
            uow.notification_reads.add({"id": old["id"], "user_id": old["user_id"], "read_at": old["read_at"]})
        else:
            box["unread"] += 1
    for box in boxes.values():
        _save_inbox(uow, box)
    uow.counters.add({"id": ADOPTED, "value": len(records)})
    return len(records)


def for_event(uow, event_id):
    """The notifications an event made (for the stream)."""
    return uow.notifications.for_event(event_id)
