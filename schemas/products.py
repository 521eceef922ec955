"""Products and stock: what a client may send, and the shapes sent back."""
from marshmallow import fields, validate

from .common import InputSchema, Money, StrictInteger

KINDS = ("book", "general")
STATUSES = ("active", "archived")
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
    price = Money(required=True)
    cost = Money(allow_none=True)
    stock = StrictInteger(validate=validate.Range(min=0, max=MAX_COUNT))
    low_stock_threshold = StrictInteger(validate=validate.Range(min=0, max=MAX_COUNT))
    status = fields.String(validate=validate.OneOf(STATUSES))


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


def product_out(product, with_cost=True):
    """The product as clients see it; anonymous catalog readers never see `cost`."""
    if with_cost:
        return product
    return {k: v for k, v in product.items() if k != "cost"}
