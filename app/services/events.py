"""Events (contract section 13): who may read which, the stock crossings a change makes, and what
every event makes in its own transaction (notifications, webhook deliveries).

A service records an event by naming it: `uow.events.add("order.paid", order)`. At commit (the
store's BEFORE_COMMIT hook, in the same transaction) this module adds the `stock.low` and
`stock.out` events of the products whose stock crossed down in this unit of work, after the
other events of the change, then fans every event of the unit of work out: one notification
per user it notifies (section 13's table, rare) and one delivery per active webhook that
subscribes to it. Nothing here waits for a network.
"""
from ..storage import base
from ..storage.base import Query
from .errors import NotFound

ADMINS = frozenset({"admin"})
STAFF = frozenset({"admin", "manager", "clerk", "editor", "viewer"})

# who may read an event, by the part of its type before the dot (the resource's readers);
# a type not named here is read by admins only. Other areas add their own prefixes here.
READERS = {
    "product": STAFF, "stock": STAFF, "order": STAFF, "delivery": STAFF, "category": STAFF,
    "transfer": STAFF, "stock_count": STAFF, "settings": STAFF,
    "user": ADMINS, "webhook": ADMINS,
    "purchase_order": frozenset({"admin", "manager", "clerk", "viewer"}),
    "customer": frozenset({"admin", "manager", "clerk"}),
}
# events that never reach the stream (a ping is for its endpoint only)
NOT_STREAMED = frozenset({"webhook.ping"})


def readers_of(event_type):
    return READERS.get(event_type.partition(".")[0], ADMINS)


def may_read(role, event_type):
    return role in readers_of(event_type)


def hidden_prefixes(role):
    """The type prefixes a role may not read (as a list filter: `hidden_prefixes`), or ()."""
    return tuple(sorted(prefix for prefix, roles in READERS.items() if role not in roles))


def as_read_by(event, role):
    """The event as this role reads it: an editor never sees what the shop paid."""
    data = event.get("data")
    if role == "editor" and isinstance(data, dict) and "cost" in data and \
            event["type"].startswith(("product.", "stock.")):
        event = {**event, "data": {k: v for k, v in data.items() if k != "cost"}}
    return event


def list_events(uow, query, role):
    if role not in ADMINS:
        query.filters["hidden_prefixes"] = hidden_prefixes(role)
    items, total = uow.events.list(query)
    return [as_read_by(e, role) for e in items], total


def get_event(uow, event_id, role):
    event = uow.events.get(event_id) if isinstance(event_id, str) else None
    if event is None or not may_read(role, event["type"]):
        raise NotFound("No event with this id.")
    return as_read_by(event, role)


# ---- stock crossings: noted as stock changes, recorded at commit after the change's own events

def note_stock(uow, stock_before, product):
    """A change of stock took `product` (as it is now) from stock_before; the first note of a
    product in a unit of work keeps its stock before, the last one its record after."""
    watch = uow.scratch.setdefault("stock", {})
    first = watch.get(product["id"])
    watch[product["id"]] = (stock_before if first is None else first[0], product)


def _stock_events(uow):
    watch = uow.scratch.pop("stock", None)
    if not watch:
        return
    for product_id in sorted(watch):
        before, product = watch[product_id]
        if product.get("status") != "active":
            continue
        after = product["stock"]
        threshold = product.get("low_stock_threshold") or 0
        if before > threshold >= after:
            uow.events.add("stock.low", product)
        if before > 0 == after:
            uow.events.add("stock.out", product)


def _fan_out(uow):
    """Notifications and webhook deliveries of the events recorded since the last fan-out of this
    unit of work (a hook may record more: webhook.disabled)."""
    recorded = uow.recorded_events()
    done = uow.scratch.get("fanned", 0)
    if len(recorded) <= done:
        return
    fresh = recorded[done:]
    uow.scratch["fanned"] = len(recorded)
    from . import notifications, webhooks
    notifications.fan_out(uow, fresh)
    webhooks.fan_out(uow, fresh)


def before_commit(uow):
    if not uow.scratch and not uow.recorded_events():
        return
    _stock_events(uow)
    _fan_out(uow)


if before_commit not in base.BEFORE_COMMIT:
    base.BEFORE_COMMIT.append(before_commit)


def newest_id(uow):
    """The id of the newest committed event, or None."""
    items, _ = uow.events.list(Query(limit=1))
    return items[0]["id"] if items else None
