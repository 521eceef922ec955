"""Products and stock: what a client may send, and the shapes sent back."""
from marshmallow import fields, pre_load, validate, validates

from .common import InputSchema, Money, StrictInteger, ValidationError

KINDS = ("book", "general")
STATUSES = ("draft", "pending_review", "active", "archived")
ADJUSTMENT_REASONS = ("received", "count", "damaged", "lost", "returned", "other")


MAX_COUNT = 1_000_000_000  # a stock or threshold beyond this is a typo (and PostgreSQL's bigint must hold it)


class ProductInSchema(InputSchema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    kind = fields.String(validate=validate.OneOf(KINDS))
    author = fields.String(allow_none=True, validate=validate.Length(max=300))
    isbn = fields.String(allow_none=True, validate=validate.Length(max=20))
    barcode = fields.String(allow_none=True, validate=validate.Length(max=48))
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    category = fields.String(allow_none=True, validate=validate.Length(max=100))
    category_id = fields.String(allow_none=True, validate=validate.Length(max=100))
    price = Money(required=True)
    cost = Money(allow_none=True)
    stock = StrictInteger(validate=validate.Range(min=0, max=MAX_COUNT))
    low_stock_threshold = StrictInteger(validate=validate.Range(min=0, max=MAX_COUNT))
    # section 10: on_order is read-only (400 when it differs), reorder_quantity null or at least 1
    on_order = StrictInteger(validate=validate.Range(min=0, max=MAX_COUNT))
    reorder_quantity = StrictInteger(allow_none=True, validate=validate.Range(min=1, max=MAX_COUNT))
    status = fields.String(validate=validate.OneOf(STATUSES))

    @pre_load
    def drop_review(self, data, **kwargs):
        """`review` (the history of submit, approve and reject) and `images` (section 16: its
        own endpoints change them) are read-only: a PUT of a GET body keeps working."""
        if isinstance(data, dict) and ("review" in data or "images" in data):
            data = {k: v for k, v in data.items() if k not in ("review", "images")}
        return data


class AdjustmentSchema(InputSchema):
    delta = StrictInteger(required=True, validate=validate.Range(min=-1_000_000, max=1_000_000))
    reason = fields.String(required=True, validate=validate.OneOf(ADJUSTMENT_REASONS))
    note = fields.String(allow_none=True, validate=validate.Length(max=1000))
    ref = fields.String(allow_none=True, validate=validate.Length(max=200))
    location_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))  # default: the default location


class ReceiveSchema(InputSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=100))
    quantity = StrictInteger(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    note = fields.String(allow_none=True, validate=validate.Length(max=1000))
    location_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))  # default: the default location


class ProductCreateSchema(ProductInSchema):
    """POST /api/products: the product, and where its opening stock goes (no product field)."""

    location_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))


class ReviewSchema(InputSchema):
    """The body of submit, approve and reject: an optional comment (required to reject)."""

    comment = fields.String(allow_none=True, load_default=None)

    @validates("comment")
    def _comment(self, value, **kwargs):
        if value is not None and not 1 <= len(value.strip()) <= 1000:
            raise ValidationError("Must be 1 to 1000 characters (trimmed).")


class RejectSchema(ReviewSchema):
    comment = fields.String(required=True, allow_none=False)

    @validates("comment")
    def _comment(self, value, **kwargs):
        if not 1 <= len(value.strip()) <= 1000:
            raise ValidationError("A reason for rejecting, 1 to 1000 characters (trimmed).")


SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class CategoryInSchema(InputSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    slug = fields.String(validate=[validate.Length(min=1, max=100),
                                   validate.Regexp(SLUG, error="Lower-case letters and digits, "
                                                               "words joined by single hyphens.")])
    parent_id = fields.String(allow_none=True, validate=validate.Length(max=100))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))

    @validates("name")
    def _name(self, value, **kwargs):
        if not 1 <= len(value.strip()) <= 100:
            raise ValidationError("Must be 1 to 100 characters (trimmed).")


def product_out(product, staff=True, with_cost=True):
    """The product as its reader sees it: the one place `cost` and `review` are kept from those
    who may not see them (anonymous readers: neither, nor section 10's `on_order` and
    `reorder_quantity`; an editor: no `cost`)."""
    if staff and with_cost and "review" in product and "category_id" in product:
        return product
    out = product.copy()  # copied in C, then the hidden fields dropped: the order stays the stored one
    if not with_cost:
        out.pop("cost", None)
    if staff:
        out.setdefault("review", [])
    else:
        for key in ("review", "on_order", "reorder_quantity"):
            out.pop(key, None)
    out.setdefault("category_id", None)
    return out
