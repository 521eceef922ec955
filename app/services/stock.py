"""Stock: the one place stock changes, always with its movement in the ledger, in the caller's unit of work."""
from ..storage.base import new_id, timestamp
from .codes import lookup_forms
from .errors import InsufficientStock, NotFound, ValidationFailed

ADJUSTMENT_REASONS = ("received", "count", "damaged", "lost", "returned", "other")
MOVEMENT_REASONS = ("opening", "sale", "order_cancelled") + ADJUSTMENT_REASONS


def _movement(product, delta, reason, ref, note, user_id):
    return {
        "id": new_id(), "product_id": product["id"], "delta": delta,
        "stock_after": product["stock"], "reason": reason, "ref": ref, "note": note,
        "user_id": user_id, "created_at": timestamp(),
    }


def open_stock(uow, product, user_id=None):
    """The ledger entry for a new product's opening stock (the product is being added in this uow)."""
    if product["stock"]:
        movement = _movement(product, product["stock"], "opening", None, None, user_id)
        uow.movements.add(movement)
        return movement
    return None


def change_stock(uow, product_id, delta, reason, ref=None, note=None, user_id=None):
    """Add delta (negative takes) to a product's stock and write its movement; never below zero."""
    product = uow.products.change_stock(product_id, delta)
    if product is None:
        current = uow.products.get(product_id)
        if current is None:
            raise NotFound("No product with this id.")
        raise InsufficientStock(
            f"Only {current['stock']} in stock; cannot take {-delta}.",
            errors={"delta": [f"Only {current['stock']} in stock."]},
            shortages=[{"product_id": product_id, "requested": -delta, "available": current["stock"]}])
    movement = _movement(product, delta, reason, ref, note, user_id)
    uow.movements.add(movement)
    return product, movement


def adjust_stock(uow, product_id, delta, reason, note=None, ref=None, user_id=None):
    """A manual correction: a count, damage, loss, a return, goods received."""
    if uow.products.get(product_id) is None:
        raise NotFound("No product with this id.")
    if reason not in ADJUSTMENT_REASONS:
        raise ValidationFailed(errors={"reason": [f"Must be one of: {', '.join(ADJUSTMENT_REASONS)}."]})
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise ValidationFailed(errors={"delta": ["Must be a non-zero integer."]})
    _, movement = change_stock(uow, product_id, delta, reason, ref, note, user_id)
    return movement


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


def receive_stock(uow, code, quantity, note=None, user_id=None):
    """Goods in, found by scanning: a `received` movement on the product the code names."""
    product = find_by_code(uow, code)
    if product is None:
        raise NotFound(f"No product has the code {str(code).strip()!r}.")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValidationFailed(errors={"quantity": ["Must be a positive integer."]})
    _, movement = change_stock(uow, product["id"], quantity, "received", None, note, user_id)
    return movement
