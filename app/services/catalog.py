"""The catalog: products and books, their codes and prices; stock only through services.stock."""
from decimal import Decimal

from ..storage.base import UniqueViolation, new_id
from . import stock
from .codes import barcode_problem, to_isbn13
from .errors import DuplicateValue, NotFound, ValidationFailed
from .users import check_version

WRITABLE = ("sku", "title", "kind", "author", "isbn", "barcode", "description", "category",
            "price", "cost", "low_stock_threshold", "status")
DEFAULTS = {"kind": "general", "author": None, "isbn": None, "barcode": None, "description": None,
            "category": None, "cost": None, "low_stock_threshold": 5, "status": "active"}
CENT = Decimal("0.01")
FIELD_ORDER = ("id", "sku", "title", "kind", "author", "isbn", "barcode", "description", "category",
               "price", "cost", "stock", "low_stock_threshold", "status", "created_at",
               "updated_at", "version")


def _ordered(product):
    """Fields in one readable order, whatever order they were set in."""
    out = {k: product[k] for k in FIELD_ORDER if k in product}
    out.update({k: v for k, v in product.items() if k not in out})
    return out


def money(value):
    """A Decimal as the two-place string every record stores."""
    if value is None:
        return None
    return str(Decimal(value).quantize(CENT))


def get_product(uow, product_id, include_archived=True, kind=None):
    product = uow.products.get(product_id)
    if (product is None or (not include_archived and product["status"] != "active")
            or (kind is not None and product["kind"] != kind)):
        raise NotFound("No product with this id.")
    return product


def _normalise(product):
    """Check and normalise codes: ISBN stored as ISBN-13; a book's barcode defaults to it."""
    errors = {}
    for key in ("sku", "title", "author", "barcode", "category", "description"):
        if isinstance(product.get(key), str):
            product[key] = product[key].strip()
            if product[key] == "" and key not in ("sku", "title"):
                product[key] = None
    if not product.get("sku"):
        errors["sku"] = ["Must not be empty."]
    if not product.get("title"):
        errors["title"] = ["Must not be empty."]
    if product.get("isbn") not in (None, ""):
        isbn = to_isbn13(product["isbn"])
        if isbn is None:
            errors["isbn"] = ["Not a valid ISBN-10 or ISBN-13 (check digit or length)."]
        else:
            product["isbn"] = isbn
    else:
        product["isbn"] = None
    if product["kind"] == "book" and product["isbn"] and not product.get("barcode"):
        product["barcode"] = product["isbn"]
    if product.get("barcode"):
        problem = barcode_problem(product["barcode"])
        if problem:
            errors["barcode"] = [problem]
    product["price"] = money(product["price"])
    product["cost"] = money(product.get("cost"))
    if errors:
        raise ValidationFailed("The product is not valid.", errors=errors)
    return product


def _store(uow, product, new):
    try:
        if new:
            uow.products.add(product)
        else:
            uow.products.update(product)
    except UniqueViolation as exc:
        raise DuplicateValue(exc.field) from None
    return product


def create_product(uow, data, user_id=None):
    """A new product with its opening stock (ledger reason `opening`) at data's `location_id`
    (the default location when absent; never a product field)."""
    product = {"id": new_id(), **DEFAULTS}
    product.update({k: v for k, v in data.items() if k in WRITABLE})
    product["stock"] = data.get("stock", 0) or 0
    product = _ordered(_normalise(product))
    _store(uow, product, new=True)
    stock.open_stock(uow, product, user_id, data.get("location_id"))
    return product


def update_product(uow, product_id, data, if_match=None, replace=False):
    """PATCH changes the fields sent; PUT replaces every writable field. Stock never changes here."""
    product = get_product(uow, product_id)
    check_version(product, if_match)
    if "stock" in data and data["stock"] != product["stock"]:
        raise ValidationFailed("Stock changes only through orders and adjustments.",
                               errors={"stock": ["Read-only after creation; post an adjustment instead."]})
    if replace:
        for key, value in DEFAULTS.items():
            product[key] = value
    old_isbn = product.get("isbn")
    if "isbn" in data and not replace and product.get("barcode") == old_isbn and "barcode" not in data:
        product["barcode"] = None  # the default barcode follows the ISBN
    product.update({k: v for k, v in data.items() if k in WRITABLE})
    _normalise(product)
    return _store(uow, product, new=False)


def archive_product(uow, product_id, if_match=None):
    return update_product(uow, product_id, {"status": "archived"}, if_match)
