"""Stock: the one place stock changes, always with its movement in the ledger, in the caller's unit of work.

A product has a quantity at every location (uow.stock_levels) and its `stock` is their sum;
uow.products.change_stock moves both together, never below zero at the location.
"""
from ..storage.base import level_key, new_id, timestamp
from . import audit
from . import events
from .codes import lookup_forms
from .errors import InsufficientStock, NotFound, ValidationFailed

ADJUSTMENT_REASONS = ("received", "count", "damaged", "lost", "returned", "other")
TRANSFER_REASONS = ("transfer_out", "transfer_in")
MOVEMENT_REASONS = ("opening", "sale", "order_cancelled") + ADJUSTMENT_REASONS + TRANSFER_REASONS


def _movement(product, location_id, quantity_there, delta, reason, ref, note, user_id):
    return {
        "id": new_id(), "product_id": product["id"], "location_id": location_id, "delta": delta,
        "stock_after": product["stock"], "location_stock_after": quantity_there, "reason": reason,
        "ref": ref, "note": note, "user_id": user_id, "created_at": timestamp(),
    }


def stock_location(uow, location_id=None, field="location_id"):
    """The active location stock moves at: the one named (unknown or archived is a validation
    error under `field`), or the default one when none is named."""
    if location_id is None:
        location = uow.locations.default_for_stock()
        if location is None:
            # a store opened without the app's start-up step (a script's): take the step now
            from .locations import ensure_default_location
            ensure_default_location(uow)
            location = uow.locations.default_for_stock()
        if location is None:
            raise NotFound("The store has no default location.")
        return location
    location = uow.locations.for_stock(location_id) if isinstance(location_id, str) else None
    if location is None:
        raise ValidationFailed(errors={field: ["Unknown location."]})
    if location["status"] != "active":
        raise ValidationFailed(errors={field: ["This location is archived."]})
    return location


def open_stock(uow, product, user_id=None, location_id=None):
    """A new product's opening stock, at the location (the default one when None): its level
    there and the ledger entry (the product is being added in this uow with its stock)."""
    location = stock_location(uow, location_id)
    if not product["stock"]:
        return None
    uow.stock_levels.add({"id": level_key(product["id"], location["id"]), "product_id": product["id"],
                          "location_id": location["id"], "quantity": product["stock"]})
    movement = _movement(product, location["id"], product["stock"], product["stock"], "opening",
                         None, None, user_id)
    uow.movements.add(movement)
    return movement


def take_lines(uow, lines, location_id, reason, ref=None, note=None, user_id=None, field="items",
               what="in stock"):
    """Take every line [(index, product, quantity)] from the location, in product-id order (the
    order every writer locks products in), writing a movement each; the movements, or
    InsufficientStock naming every short line (errors under `<field>.<index>`, shortages with
    what the location holds), and then the caller abandons its unit of work."""
    movements, short = [], []
    for index, product, quantity in sorted(lines, key=lambda line: line[1]["id"]):
        changed = uow.products.change_stock(product["id"], location_id, -quantity)
        if changed is None:
            short.append((index, product, quantity))
            continue
        updated, quantity_there = changed
        events.note_stock(uow, updated["stock"] + quantity, updated)
        movement = _movement(updated, location_id, quantity_there, -quantity, reason, ref, note, user_id)
        uow.movements.add(movement)
        movements.append(movement)
    if short:
        shortages, errors = [], {}
        for index, product, quantity in sorted(short):
            available = uow.stock_levels.quantity(product["id"], location_id)  # untouched: it was short
            shortages.append({"index": index, "product_id": product["id"], "location_id": location_id,
                              "requested": quantity, "available": available})
            errors[f"{field}.{index}"] = [f"Only {available} of {product['title']!r} {what}."]
        raise InsufficientStock("Not enough stock for some lines; nothing was taken.",
                                errors=errors, shortages=shortages)
    return movements


def change_stock(uow, product_id, delta, reason, ref=None, note=None, user_id=None, location_id=None):
    """Add delta (negative takes) to a product's quantity at a location (the default one when
    None) and its stock, and write its movement; never below zero there. The caller has read
    the product in this unit of work (on PostgreSQL that locks it first)."""
    if location_id is None:
        location_id = stock_location(uow)["id"]
    changed = uow.products.change_stock(product_id, location_id, delta)
    if changed is None:
        current = uow.products.get(product_id)
        if current is None:
            raise NotFound("No product with this id.")
        available = uow.stock_levels.quantity(product_id, location_id)
        raise InsufficientStock(
            f"Only {available} there; cannot take {-delta}.",
            errors={"delta": [f"Only {available} at this location."]},
            shortages=[{"product_id": product_id, "location_id": location_id, "requested": -delta,
                        "available": available}])
    updated, quantity_there = changed
    events.note_stock(uow, updated["stock"] - delta, updated)
    movement = _movement(updated, location_id, quantity_there, delta, reason, ref, note, user_id)
    uow.movements.add(movement)
    return updated, movement


def adjust_stock(uow, product_id, delta, reason, note=None, ref=None, user_id=None, location_id=None):
    """A manual correction at a location: a count, damage, loss, a return, goods received."""
    if uow.products.get(product_id) is None:
        raise NotFound("No product with this id.")
    if reason not in ADJUSTMENT_REASONS:
        raise ValidationFailed(errors={"reason": [f"Must be one of: {', '.join(ADJUSTMENT_REASONS)}."]})
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise ValidationFailed(errors={"delta": ["Must be a non-zero integer."]})
    location = stock_location(uow, location_id)
    updated, movement = change_stock(uow, product_id, delta, reason, ref, note, user_id, location["id"])
    _audit_stock(uow, updated, delta)
    return movement


def _audit_stock(uow, product, delta):
    """Adjusting and receiving are product.adjust_stock in the audit log, changes {stock: [old, new]}."""
    audit.describe(uow, "product.adjust_stock", "product", product["id"],
                   changes={"stock": [product["stock"] - delta, product["stock"]]})


def resolve_lines(uow, items, field="items", refuse_archived="sold"):
    """[(index, line's product, line)] for lines naming a product by `product_id` or `barcode`
    (a barcode, ISBN or SKU as scanned), or one validation error per bad line under
    `<field>.<index>`: unknown, repeated, or archived (when refuse_archived says what an archived
    product cannot be; None lets archived products through)."""
    # read (and, on PostgreSQL, lock) products in one global order so two writers never deadlock
    by_id = {pid: uow.products.get(pid)
             for pid in sorted({i["product_id"] for i in items if i.get("product_id") is not None})}
    errors, lines, seen = {}, [], {}
    for index, item in enumerate(items):
        key = f"{field}.{index}"
        if item.get("product_id") is not None:
            product = by_id[item["product_id"]]
        else:
            product = find_by_code(uow, item.get("barcode"))
        if product is None:
            errors[key] = ["Unknown product."]
            continue
        if refuse_archived and product["status"] != "active":
            errors[key] = [f"This product is archived and cannot be {refuse_archived}."]
            continue
        if product["id"] in seen:
            errors[key] = [f"This product is already on line {seen[product['id']]}; "
                           "put the whole quantity on one line."]
            continue
        seen[product["id"]] = index
        lines.append((index, product, item))
    if errors:
        raise ValidationFailed("Some lines are not valid.", errors=errors)
    return lines


def find_by_code(uow, raw):
    """The product a scanned barcode, ISBN (10 or 13) or SKU names, or None."""
    for form in lookup_forms(raw):
        if not form:
            continue
        product = (uow.products.find_by_barcode(form) or uow.products.find_by_isbn(form)
                   or uow.products.find_by_sku(form))
        if product is not None:
            return product
    return None


def receive_stock(uow, code, quantity, note=None, user_id=None, location_id=None):
    """Goods in, found by scanning: a `received` movement on the product the code names."""
    product = find_by_code(uow, code)
    if product is None:
        raise NotFound(f"No product has the code {str(code).strip()!r}.")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValidationFailed(errors={"quantity": ["Must be a positive integer."]})
    location = stock_location(uow, location_id)
    updated, movement = change_stock(uow, product["id"], quantity, "received", None, note, user_id,
                                     location["id"])
    _audit_stock(uow, updated, quantity)
    return movement
