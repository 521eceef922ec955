"""The catalog: products and books, their codes, prices, categories and review; stock only through services.stock."""
from dataclasses import dataclass
from decimal import Decimal

from ..storage.base import UniqueViolation, new_id, timestamp
from . import categories, stock
from .codes import barcode_problem, to_isbn13
from .errors import DuplicateValue, Forbidden, InvalidTransition, NotFound, ValidationFailed
from .users import check_version

WRITABLE = ("sku", "title", "kind", "author", "isbn", "barcode", "description", "category",
            "category_id", "price", "cost", "low_stock_threshold", "reorder_quantity", "status")
DEFAULTS = {"kind": "general", "author": None, "isbn": None, "barcode": None, "description": None,
            "category": None, "category_id": None, "cost": None, "low_stock_threshold": 5,
            "reorder_quantity": None, "status": "active"}
STATUSES = ("draft", "pending_review", "active", "archived")
CENT = Decimal("0.01")
FIELD_ORDER = ("id", "sku", "title", "kind", "author", "isbn", "barcode", "description",
               "category_id", "category", "price", "cost", "stock", "low_stock_threshold",
               "on_order", "reorder_quantity", "status", "review", "created_at", "updated_at", "version")


@dataclass(frozen=True)
class Writer:
    """Who writes the catalog, as the rules of section 14 need to know them.

    approver: may change a product's status while approval is on, approve and reject (admin,
    manager). sets_cost: may set `cost` and opening stock (everyone but an editor).
    approval: the shop's product_approval setting."""

    user_id: str | None = None
    approver: bool = True
    sets_cost: bool = True
    approval: bool = False

    @property
    def drafts_only(self):
        """Approval is on and this writer is no approver: it writes drafts, and nothing else."""
        return self.approval and not self.approver


STAFF = Writer()


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
    """One product; include_archived=False (anonymous readers) finds active ones only."""
    product = uow.products.get(product_id)
    if (product is None or (not include_archived and product["status"] != "active")
            or (kind is not None and product["kind"] != kind)):
        raise NotFound("No product with this id.")
    product.setdefault("category_id", None)
    product.setdefault("review", [])
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


def _refuse_cost(writer, data, opening=False):
    """An editor neither sees nor sets what the shop paid, nor stock."""
    if writer.sets_cost:
        return
    errors = {}
    if "cost" in data:
        errors["cost"] = ["This role may not set cost."]
    if opening and data.get("stock", 0) not in (0, None):
        errors["stock"] = ["This role may not set stock; the opening stock must be 0."]
    if errors:
        raise Forbidden("This role may not set cost or stock.", errors=errors)


def _link_category(uow, product, data):
    """category_id names a category; section 4's `category` name links one (made when missing)."""
    if "category_id" in data:
        category_id = data["category_id"]
        if category_id is None:
            if "category" in data and data["category"] not in (None, ""):
                category = categories.category_for_name(uow, data["category"])
                product["category_id"], product["category"] = category["id"], category["name"]
                return
            product["category_id"], product["category"] = None, None
            return
        category = uow.categories.get(category_id)
        if category is None:
            raise ValidationFailed("The product is not valid.",
                                   errors={"category_id": ["No category with this id."]})
        named = data.get("category")
        if named not in (None, "") and named.strip().lower() != category["name"].lower():
            raise ValidationFailed("The product is not valid.", errors={
                "category": [f"Must be the name of category_id's category, {category['name']!r}."]})
        product["category_id"], product["category"] = category["id"], category["name"]
    elif "category" in data:
        name = data["category"]
        if name is None or not name.strip():
            product["category_id"], product["category"] = None, None
            return
        category = categories.category_for_name(uow, name)
        product["category_id"], product["category"] = category["id"], category["name"]


def _check_status(writer, stored, wanted):
    """The status a body asks for, against the workflow (stored is None on create)."""
    if wanted == "pending_review" and stored != "pending_review":
        raise ValidationFailed("The product is not valid.", errors={
            "status": ["pending_review is reached by submitting a draft (POST .../submit)."]})
    if wanted == stored:
        return
    if writer.drafts_only and not (stored is None and wanted == "draft"):
        raise Forbidden("While approval is on, only admins and managers change a product's status.",
                        errors={"status": ["This role may not change status."]})
    if stored == "pending_review":
        raise InvalidTransition("A product in review leaves it only by approve or reject.")


def create_product(uow, data, user_id=None, writer=STAFF, default_threshold=None):
    """A new product with its opening stock (ledger reason `opening`); an editor's is a draft
    while approval is on; without a low_stock_threshold it takes the shop's default (settings)."""
    _refuse_cost(writer, data, opening=True)
    if writer.drafts_only:
        _check_status(writer, None, data.get("status", "draft"))
    elif "status" in data:
        _check_status(writer, None, data["status"])
    product = {"id": new_id(), **DEFAULTS}
    if default_threshold is not None:
        product["low_stock_threshold"] = default_threshold
    if writer.drafts_only:
        product["status"] = "draft"
    product.update({k: v for k, v in data.items() if k in WRITABLE and k not in ("category", "category_id")})
    product["review"] = []
    _link_category(uow, product, data)
    product["stock"] = data.get("stock", 0) or 0
    if data.get("on_order", 0) not in (0, None):
        raise ValidationFailed("on_order is what open purchase orders will bring; it starts at 0.",
                               errors={"on_order": ["Read-only: it follows the purchase orders."]})
    product["on_order"] = 0
    product = _ordered(_normalise(product))
    _store(uow, product, new=True)
    stock.open_stock(uow, product, user_id, data.get("location_id"))
    uow.events.add("product.created", product)
    return product


def update_product(uow, product_id, data, if_match=None, replace=False, writer=STAFF):
    """PATCH changes the fields sent; PUT replaces every writable field (a PUT without status
    keeps it; an editor's keeps the stored cost). Stock never changes here."""
    product = get_product(uow, product_id)
    if writer.drafts_only and product["status"] != "draft":
        raise Forbidden("While approval is on, this role edits drafts only.")
    _refuse_cost(writer, data)
    check_version(product, if_match)
    if "stock" in data and data["stock"] != product["stock"]:
        raise ValidationFailed("Stock changes only through orders and adjustments.",
                               errors={"stock": ["Read-only after creation; post an adjustment instead."]})
    if "on_order" in data and data["on_order"] != product.get("on_order", 0):
        raise ValidationFailed("on_order follows the purchase orders.",
                               errors={"on_order": ["Read-only: it follows the purchase orders."]})
    if "status" in data:
        _check_status(writer, product["status"], data["status"])
    if replace:
        kept = {"status": product["status"], "cost": product.get("cost")}
        for key, value in DEFAULTS.items():
            product[key] = value
        product["status"] = kept["status"]
        if not writer.sets_cost:
            product["cost"] = kept["cost"]
    stored_status = product["status"]
    old_isbn = product.get("isbn")
    if "isbn" in data and not replace and product.get("barcode") == old_isbn and "barcode" not in data:
        product["barcode"] = None  # the default barcode follows the ISBN
    product.update({k: v for k, v in data.items() if k in WRITABLE and k not in ("category", "category_id")})
    _link_category(uow, product, data)
    _normalise(product)
    was_archived = stored_status == "archived"
    product = _store(uow, _ordered(product), new=False)
    archived = product["status"] == "archived" and not was_archived
    uow.events.add("product.archived" if archived else "product.updated", product)
    return product


def archive_product(uow, product_id, if_match=None, writer=STAFF):
    product = get_product(uow, product_id)
    if writer.drafts_only:
        raise Forbidden("While approval is on, only admins and managers archive products.")
    check_version(product, if_match)
    if product["status"] == "pending_review":
        raise InvalidTransition("A product in review leaves it only by approve or reject.")
    return update_product(uow, product_id, {"status": "archived"}, if_match, writer=writer)


# ---- review: draft --submit--> pending_review --approve--> active, --reject--> draft ----------

REVIEW_MOVES = {  # action -> (from, to, event)
    "submitted": ("draft", "pending_review", "product.submitted"),
    "approved": ("pending_review", "active", "product.approved"),
    "rejected": ("pending_review", "draft", "product.rejected"),
}


def review_product(uow, product_id, action, comment, user_id):
    """Move a product along the review machine, appending {action, user_id, at, comment} to its
    `review`; any other move is 409 invalid_transition and changes nothing."""
    before, after, event = REVIEW_MOVES[action]
    comment = comment.strip() if isinstance(comment, str) and comment.strip() else None
    product = get_product(uow, product_id)
    if product["status"] != before:
        raise InvalidTransition(f"Only a product in {before} can be {action}; this one is "
                                f"{product['status']}.")
    product["status"] = after
    product["review"] = list(product.get("review") or []) + [
        {"action": action, "user_id": user_id, "at": timestamp(), "comment": comment}]
    product = _store(uow, _ordered(product), new=False)
    uow.events.add(event, product)
    return product
