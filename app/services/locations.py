"""Locations: the rooms stock lives in, the default one, moving stock between them (transfers)
and counting their shelves (stock counts); every quantity changes through services.stock."""
import re

from ..storage.base import Query, UniqueViolation, level_key, new_id, timestamp
from ..storage.repositories import evaluate
from . import audit, stock
from .errors import (DefaultLocation, DuplicateValue, InvalidTransition, LocationArchived,
                     LocationInUse, LocationNotEmpty, NotFound, ValidationFailed)
from .users import check_version

KINDS = ("store", "stockroom", "warehouse", "other")
STATUSES = ("active", "archived")
TRANSFER_STATUSES = ("pending", "completed", "cancelled")
WRITABLE = ("name", "code", "kind", "address", "is_default", "status")
CODE = re.compile(r"^[A-Z0-9_-]{1,16}$")
EVERYTHING = 10 ** 9  # a list limit past any shop's records
DEFAULT_LOCATION = {"name": "Shop", "code": "MAIN", "kind": "store", "address": None, "is_default": True}


# ---- locations ------------------------------------------------------------------------------------

def get_location(uow, location_id):
    location = uow.locations.get(location_id)
    if location is None:
        raise NotFound("No location with this id.")
    return location


def _normalise(location):
    errors = {}
    name = location.get("name")
    location["name"] = name.strip() if isinstance(name, str) else name
    if not isinstance(location["name"], str) or not 1 <= len(location["name"]) <= 100:
        errors["name"] = ["Must be 1 to 100 characters (trimmed)."]
    code = location.get("code")
    location["code"] = code.strip().upper() if isinstance(code, str) else code
    if not isinstance(location["code"], str) or not CODE.match(location["code"]):
        errors["code"] = ["Must be 1 to 16 of A-Z, 0-9, - and _."]
    if location.get("kind") not in KINDS:
        errors["kind"] = [f"Must be one of: {', '.join(KINDS)}."]
    address = location.get("address")
    if address is not None and (not isinstance(address, str) or len(address) > 500):
        errors["address"] = ["Must be a string of at most 500 characters, or null."]
    if location.get("status") not in STATUSES:
        errors["status"] = [f"Must be one of: {', '.join(STATUSES)}."]
    if errors:
        raise ValidationFailed("The location is not valid.", errors=errors)
    return location


def _store(uow, location, new):
    try:
        if new:
            uow.locations.add(location)
        else:
            uow.locations.update(location)
    except UniqueViolation as exc:
        raise DuplicateValue(exc.field) from None
    return location


def _take_default_from_others(uow, location_id):
    """The location becomes the default: the previous one stops being it (version +1)."""
    previous = uow.locations.default()
    if previous is not None and previous["id"] != location_id:
        previous = uow.locations.get(previous["id"])  # locked, on PostgreSQL
        previous["is_default"] = False
        uow.locations.update(previous)


def create_location(uow, data):
    """A new active location; `is_default: true` makes it the default in the same transaction."""
    if data.get("status", "active") != "active":
        raise ValidationFailed("A new location is active.", errors={"status": ["A new location is active."]})
    location = {"id": new_id(), "name": data.get("name"), "code": data.get("code"),
                "kind": data.get("kind", "other"), "address": data.get("address"),
                "is_default": bool(data.get("is_default", False)), "status": "active"}
    _normalise(location)
    if location["is_default"]:
        _take_default_from_others(uow, location["id"])
    elif uow.locations.default() is None:  # a store's first location is its default
        location["is_default"] = True
    return _store(uow, location, new=True)


def _check_archivable(uow, location):
    """Refusals of archiving, judged in this order: the default, holding stock, a pending transfer."""
    if location["is_default"]:
        raise DefaultLocation("The default location cannot be archived; make another the default first.")
    if uow.stock_levels.stock_at(location["id"]):
        raise LocationNotEmpty("Products still have a quantity here; move or count them out first.")
    for side in ("from_location_id", "to_location_id"):
        _, pending = uow.transfers.list(Query(filters={"status": "pending", side: location["id"]}, limit=1))
        if pending:
            raise LocationInUse("A pending transfer names this location; complete or cancel it first.")


def update_location(uow, location_id, data, if_match=None):
    """Change name, code, kind, address, is_default, status (archive or revive)."""
    location = get_location(uow, location_id)
    check_version(location, if_match)
    was_default, was_status = location["is_default"], location["status"]
    location.update({k: v for k, v in data.items() if k in WRITABLE})
    _normalise(location)
    if was_default and not location["is_default"]:
        raise DefaultLocation("The default location stays the default until another is made the default.",
                              errors={"is_default": ["Make another location the default instead."]})
    if location["is_default"] and location["status"] != "active":
        if was_default:
            raise DefaultLocation("The default location cannot be archived; make another the default first.")
        raise LocationArchived("An archived location cannot be the default; revive it first.",
                               errors={"is_default": ["This location is archived."]})
    if location["status"] == "archived" and was_status != "archived":
        _check_archivable(uow, location)
    if location["is_default"] and not was_default:
        _take_default_from_others(uow, location["id"])
    return _store(uow, location, new=False)


def archive_location(uow, location_id, if_match=None):
    return update_location(uow, location_id, {"status": "archived"}, if_match)


def ensure_default_location(uow):
    """The start-up step: a store with no location gets the default one, "Shop" (MAIN), holding
    each product's stock; every movement and order is given it. Returns it, or None when the
    store had a location already (left alone). One unit of work, so it happens whole or not."""
    if uow.locations.count():
        return None
    location = {"id": new_id(), **DEFAULT_LOCATION, "status": "active"}
    uow.locations.add(location)
    everything = Query(limit=EVERYTHING)
    for product in uow.products.list(everything)[0]:
        if product["stock"]:
            uow.stock_levels.add({"id": level_key(product["id"], location["id"]),
                                  "product_id": product["id"], "location_id": location["id"],
                                  "quantity": product["stock"]})
    for movement in uow.movements.list(everything)[0]:
        if movement.get("location_id") is None:
            movement = _placed(movement, "product_id", {"location_id": location["id"]})
            uow.movements.save(_placed(movement, "stock_after",
                                       {"location_stock_after": movement["stock_after"]}))
    for order in uow.orders.list(everything)[0]:
        if order.get("location_id") is None:
            uow.orders.save(_placed(order, "created_by", {"location_id": location["id"]}))
    return location


def _placed(record, after, fields):
    """The record with `fields` set right after the key `after`, where new records have them."""
    out = {}
    for key, value in record.items():
        if key not in fields:
            out[key] = value
        if key == after:
            out.update(fields)
    out.update({k: v for k, v in fields.items() if k not in out})
    return out


# ---- stock at locations ---------------------------------------------------------------------------

def product_stock(uow, product_id):
    """{product_id, total, locations: [{location_id, name, code, quantity}]}: every active
    location, zeros too, the default first, then by name."""
    product = uow.products.get(product_id)
    if product is None:
        raise NotFound("No product with this id.")
    held = {level["location_id"]: level["quantity"] for level in uow.stock_levels.for_product(product_id)}
    active, _ = uow.locations.list(Query(filters={"status": "active"}, limit=EVERYTHING,
                                         sort=[("is_default", True), ("name", False)]))
    return {"product_id": product["id"], "total": product["stock"],
            "locations": [{"location_id": loc["id"], "name": loc["name"], "code": loc["code"],
                           "quantity": held.get(loc["id"], 0)} for loc in active]}


def location_stock(uow, location_id, query):
    """A page of [{product_id, sku, title, quantity}] for the products whose quantity there is
    not 0 (archived products too), and the total; query sorts and searches them."""
    get_location(uow, location_id)
    rows = sorted(uow.stock_levels.stock_at(location_id), key=lambda row: row["product_id"])
    return evaluate(rows, query, numeric=("quantity",))


# ---- transfers ------------------------------------------------------------------------------------

def get_transfer(uow, transfer_id):
    transfer = uow.transfers.get(transfer_id)
    if transfer is None:
        raise NotFound("No transfer with this id.")
    return transfer


def create_transfer(uow, data, user_id):
    """A pending transfer (a plan: it checks and holds no stock), or with `complete: true` one
    completed in the same transaction."""
    source = stock.stock_location(uow, data.get("from_location_id"), "from_location_id")
    destination = stock.stock_location(uow, data.get("to_location_id"), "to_location_id")
    if source["id"] == destination["id"]:
        raise ValidationFailed("A transfer moves stock between two locations.",
                               errors={"to_location_id": ["Must differ from from_location_id."]})
    items = data.get("lines") or []
    if not items:
        raise ValidationFailed("A transfer needs lines.", errors={"lines": ["Send at least one line."]})
    lines = stock.resolve_lines(uow, items, "lines", "moved")
    transfer = {
        "id": new_id(), "number": uow.counters.next_number("transfer_number", 1),
        "from_location_id": source["id"], "to_location_id": destination["id"],
        "lines": [{"product_id": product["id"], "sku": product["sku"], "title": product["title"],
                   "quantity": item["quantity"]} for _, product, item in lines],
        "status": "pending", "note": data.get("note"), "created_by": user_id,
        "completed_by": None, "completed_at": None,
    }
    if data.get("complete"):
        _move(uow, transfer, user_id)
        uow.transfers.add(transfer)
        uow.events.add("transfer.completed", transfer)
        return transfer
    return uow.transfers.add(transfer)


def _move(uow, transfer, user_id):
    """Every line out of the source (all or nothing), then into the destination."""
    source = uow.locations.for_stock(transfer["from_location_id"])
    destination = uow.locations.for_stock(transfer["to_location_id"])
    products = {pid: uow.products.get(pid) for pid in sorted(line["product_id"] for line in transfer["lines"])}
    lines = [(index, products[line["product_id"]], line["quantity"])
             for index, line in enumerate(transfer["lines"])]
    stock.take_lines(uow, lines, source["id"], "transfer_out", transfer["id"], transfer["note"], user_id,
                     field="lines", what="at the source")
    for _, product, quantity in sorted(lines, key=lambda line: line[1]["id"]):
        stock.change_stock(uow, product["id"], quantity, "transfer_in", transfer["id"], transfer["note"],
                           user_id, destination["id"])
    transfer.update(status="completed", completed_by=user_id, completed_at=timestamp())


def complete_transfer(uow, transfer_id, user_id):
    """pending -> completed: the stock moves (the transfer's row lock makes one of two
    simultaneous completes the winner; the other finds it completed)."""
    transfer = get_transfer(uow, transfer_id)
    if transfer["status"] != "pending":
        raise InvalidTransition(f"A transfer that is {transfer['status']} cannot be completed.")
    _move(uow, transfer, user_id)
    uow.transfers.update(transfer)
    uow.events.add("transfer.completed", transfer)
    return transfer


def cancel_transfer(uow, transfer_id):
    """pending -> cancelled: nothing moves."""
    transfer = get_transfer(uow, transfer_id)
    if transfer["status"] != "pending":
        raise InvalidTransition(f"A transfer that is {transfer['status']} cannot be cancelled.")
    transfer["status"] = "cancelled"
    return uow.transfers.update(transfer)


# ---- stock counts ---------------------------------------------------------------------------------

def get_count(uow, count_id):
    count = uow.stock_counts.get(count_id)
    if count is None:
        raise NotFound("No stock count with this id.")
    return count


def create_count(uow, location_id, data, user_id):
    """What was found on the shelves of one location: each line's quantity there is corrected to
    it with one `count` movement when it differs; products not named are left alone."""
    location = uow.locations.for_stock(location_id)
    if location is None:
        raise NotFound("No location with this id.")
    if location["status"] != "active":
        raise LocationArchived("This location is archived; revive it to count it.")
    items = data.get("lines") or []
    if not items:
        raise ValidationFailed("A count needs lines.", errors={"lines": ["Send at least one line."]})
    lines = stock.resolve_lines(uow, items, "lines", None)
    count = {"id": new_id(), "location_id": location["id"], "note": data.get("note"),
             "created_by": user_id, "created_at": timestamp(), "lines": []}
    found = {}
    for _, product, item in sorted(lines, key=lambda line: line[1]["id"]):
        expected = uow.stock_levels.quantity(product["id"], location["id"])
        delta = item["counted"] - expected
        if delta:
            stock.change_stock(uow, product["id"], delta, "count", count["id"], count["note"], user_id,
                               location["id"])
        found[product["id"]] = (expected, delta)
    for _, product, item in lines:
        expected, delta = found[product["id"]]
        count["lines"].append({"product_id": product["id"], "sku": product["sku"], "title": product["title"],
                               "expected": expected, "counted": item["counted"], "delta": delta})
    uow.stock_counts.add(count)
    uow.events.add("stock_count.created", count)
    audit.describe(uow, "stock_count.create", "stock_count", count["id"])
    return count
