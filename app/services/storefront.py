"""The storefront: publishable keys, the public views of products and orders, checkout, tracking
and the held stock of unpaid storefront orders."""
import re
import secrets
import string
from datetime import datetime, timedelta, timezone

from ..storage.base import Query, new_id, timestamp
from . import orders, stock
from .errors import (InsufficientStock, InvalidStorefrontKey, NotFound, StorefrontKeyRequired,
                     ValidationFailed)

KEY_ALPHABET = string.ascii_letters + string.digits
ORIGIN = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")
BUILTIN = {"name": "Shop page", "allowed_origins": []}
PRODUCT_FIELDS = ("id", "sku", "title", "kind", "author", "isbn", "barcode", "description", "category",
                  "category_id", "price")
EVERYTHING = 10 ** 9
HOLD_CANCEL_REASON = "hold_expired"


# ---- keys -----------------------------------------------------------------------------------------

def new_key():
    return "pk_" + "".join(secrets.choice(KEY_ALPHABET) for _ in range(32))


def check_origins(origins):
    errors = {}
    for index, origin in enumerate(origins or []):
        if not isinstance(origin, str) or not ORIGIN.match(origin) or (
                origin.rpartition(":")[2].isdigit() and not 0 < int(origin.rpartition(":")[2]) < 65536):
            errors[f"allowed_origins.{index}"] = ["Must be http(s)://host[:port], with no path and no *."]
    if errors:
        raise ValidationFailed("The allowed origins are not valid.", errors=errors)
    return list(dict.fromkeys(origins or []))


def get_key(uow, key_id):
    record = uow.storefront_keys.get(key_id)
    if record is None:
        raise NotFound("No storefront key with this id.")
    return record


def create_key(uow, data, builtin=False):
    name = (data.get("name") or "").strip()
    if not name:
        raise ValidationFailed("A key needs a name.", errors={"name": ["Must not be empty."]})
    record = {"id": new_id(), "name": name, "key": new_key(),
              "allowed_origins": check_origins(data.get("allowed_origins")), "active": True,
              "builtin": builtin}
    uow.storefront_keys.add(record)
    return record


def update_key(uow, key_id, data, expected_version=None):
    from .users import check_version
    record = get_key(uow, key_id)
    check_version(record, expected_version)
    changed = dict(record)
    if "name" in data:
        changed["name"] = (data["name"] or "").strip()
        if not changed["name"]:
            raise ValidationFailed("A key needs a name.", errors={"name": ["Must not be empty."]})
    if "allowed_origins" in data:
        changed["allowed_origins"] = check_origins(data["allowed_origins"])
    if changed != record:
        uow.storefront_keys.update(changed)
        return changed
    return record


def revoke_key(uow, key_id, expected_version=None):
    """Revoked at once and for good: the next request with it, in any worker, is refused."""
    from .users import check_version
    record = get_key(uow, key_id)
    check_version(record, expected_version)
    if record["active"]:
        record["active"] = False
        uow.storefront_keys.update(record)
    return record


def ensure_builtin_key(uow):
    """The shop page's key, made when no active builtin key exists; the key made, or None."""
    if hasattr(uow, "claim"):
        uow.claim("storefront_keys", "builtin")
    if builtin_key(uow) is not None:
        return None
    return create_key(uow, BUILTIN, builtin=True)


def builtin_key(uow):
    found, _ = uow.storefront_keys.list(Query(filters={"builtin": True, "active": True}, limit=1))
    return found[0] if found else None


def authenticate(uow, sent):
    """The active key record a request's X-Storefront-Key names, else 401."""
    if sent is None or sent == "":
        raise StorefrontKeyRequired("Send your publishable key as the X-Storefront-Key header.")
    record = uow.storefront_keys.find_by_key(sent) if isinstance(sent, str) and sent.startswith("pk_") else None
    if record is None or not record["active"]:
        raise InvalidStorefrontKey("This storefront key is unknown or revoked.")
    return record


def origin_allowed(uow, origin):
    """Whether some active key lists this origin (a preflight carries no key)."""
    if not origin:
        return False
    keys, _ = uow.storefront_keys.list(Query(filters={"active": True}, limit=EVERYTHING))
    return any(origin in (k.get("allowed_origins") or ()) for k in keys)


# ---- what the public sees ---------------------------------------------------------------------------

def product_view(product, currency):
    out = {key: product.get(key) for key in PRODUCT_FIELDS}
    out["currency"] = currency
    out["available"] = product["stock"] > 0
    return out


def get_product(uow, product_id):
    """An active product (else NotFound), as stored: the route shows it with product_view."""
    product = uow.products.get(product_id)
    if product is None or product.get("status") != "active":
        raise NotFound("No product with this id.")
    return product


def order_view(uow, order):
    delivery = None
    found = [d for d in uow.deliveries.for_order(order["id"]) if d["status"] != "cancelled"]
    if found:
        newest = found[-1]
        delivery = {"status": newest["status"], "carrier": newest.get("carrier"),
                    "tracking_number": newest.get("tracking_number"),
                    "estimated_date": newest.get("estimated_date"),
                    "events": [{"status": e["status"], "at": e["at"]} for e in newest.get("events") or ()]}
    return {
        "number": order["number"], "status": order["status"], "payment_status": order["payment_status"],
        "lines": [{"title": line["title"], "quantity": line["quantity"], "unit_price": line["unit_price"],
                   "line_total": line["line_total"]} for line in order["items"]],
        "subtotal": order["subtotal"], "total": order["total"], "currency": order["currency"],
        "shipping_address": order.get("shipping_address"),
        "hold_expires_at": order.get("hold_expires_at"), "created_at": order["created_at"],
        "delivery": delivery,
    }


def hold_deadline(hold_seconds, now=None):
    if not hold_seconds:
        return None
    now = now or datetime.now(timezone.utc)
    return timestamp(now.replace(microsecond=0) + timedelta(seconds=hold_seconds))


def check_checkout(uow, data):
    """What place_order would refuse, found out before anything is written: unknown, archived or
    repeated lines (400) and lines the default location cannot fill (409 insufficient_stock, as
    services.stock.take_lines words it). Reading the products locks them (PostgreSQL; the JSON
    store holds its lock), so the stock read here is the stock place_order then takes."""
    lines = stock.resolve_lines(uow, data["items"], "items", "sold")
    location_id = stock.stock_location(uow)["id"]
    shortages, errors = [], {}
    for index, product, item in lines:
        available = uow.stock_levels.quantity(product["id"], location_id)
        if available < item["quantity"]:
            shortages.append({"index": index, "product_id": product["id"], "location_id": location_id,
                              "requested": item["quantity"], "available": available})
            errors[f"items.{index}"] = [f"Only {available} of {product['title']!r} at this location."]
    if shortages:
        raise InsufficientStock("Not enough stock for some lines; nothing was taken.",
                                errors=errors, shortages=shortages)
    return lines


def place_order(uow, data, currency, hold_seconds, lines=None):
    """A storefront checkout: a normal pending, unpaid order of the storefront channel, with
    no user, linked to the customer of its email; its stock is held until hold_expires_at.
    lines: what check_checkout gave for data (else they are resolved again)."""
    order = orders.place_order(uow, {**data, "customer_id": None}, None, currency, channel="storefront",
                               hold_expires_at=hold_deadline(hold_seconds), lines=lines)
    return order  # orders.place_order recorded order.created (with its channel)


def track_order(uow, number, email):
    """The order with this number when its customer email is this one; one NotFound for every miss."""
    missing = NotFound("No order with this number and email.")
    try:
        wanted = int(number) if isinstance(number, str) and number.isdigit() and len(number) < 10 else None
    except ValueError:
        wanted = None
    order = uow.orders.by_number(wanted) if wanted is not None else None
    if order is None:
        raise missing
    sent = ((order.get("customer") or {}).get("email") or "")
    if not sent or sent.lower() != (email or "").strip().lower():
        raise missing
    return order_view(uow, order)


# ---- held stock -------------------------------------------------------------------------------------

def _due(moment, limit):
    return Query(filters={"status": "pending", "payment_status": "unpaid", "channel": "storefront",
                          "hold_due": moment}, limit=limit)


def holds_due(uow, now=None):
    """Whether some storefront order's hold has run out (it may still have an active delivery)."""
    return uow.orders.list(_due(timestamp(now or datetime.now(timezone.utc)), 1))[1] > 0


def expire_holds(uow, now=None):
    """Cancel every storefront order still pending, unpaid and without an active delivery whose
    hold has run out, its stock back as `order_cancelled` movements (no user); each exactly once,
    whoever gets here first (the order is read again, locked, before it is cancelled). The
    orders cancelled."""
    from .deliveries import INACTIVE
    moment = timestamp(now or datetime.now(timezone.utc))
    due, _ = uow.orders.list(_due(moment, EVERYTHING))
    cancelled = []
    for candidate in due:
        order = uow.orders.get(candidate["id"])
        if (order is None or order["status"] != "pending" or order["payment_status"] != "unpaid"
                or not order.get("hold_expires_at") or order["hold_expires_at"] > moment):
            continue
        if any(d["status"] not in INACTIVE for d in uow.deliveries.for_order(order["id"])):
            continue
        cancelled.append(orders.cancel_order(uow, order["id"], HOLD_CANCEL_REASON, None))  # its event too
    return cancelled


def next_hold_after(uow, now=None):
    """The earliest hold_expires_at after now among pending storefront orders, or None."""
    moment = timestamp(now or datetime.now(timezone.utc))
    found, _ = uow.orders.list(Query(filters={"status": "pending", "channel": "storefront",
                                              "hold_after": moment},
                                     sort=[("hold_expires_at", False)], limit=1))
    return found[0]["hold_expires_at"] if found else None
