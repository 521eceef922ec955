"""Orders: the create body (and its seed-compatible form), payment and cancel requests."""
from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from .common import InputSchema, Money, StrictInteger
from .deliveries import AddressSchema

PAYMENT_METHODS = ("cash", "card", "transfer", "other")
CHANNELS = ("staff", "storefront")
ORDER_STATUSES = ("pending", "paid", "completed", "shipped", "delivered", "cancelled")
PAYMENT_STATUSES = ("unpaid", "paid", "refunded")
MAX_LINES = 500
MAX_QUANTITY = 100_000


class OrderLineSchema(InputSchema):
    product_id = fields.String(validate=validate.Length(min=1, max=64))
    barcode = fields.String(validate=validate.Length(min=1, max=100))
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_QUANTITY))

    @validates_schema
    def one_reference(self, data, **kwargs):
        if ("product_id" in data) == ("barcode" in data):
            raise ValidationError("Name the product by product_id or by barcode (one of them).",
                                  "product_id")


class BookLineSchema(InputSchema):
    book_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_QUANTITY))


class CustomerSchema(InputSchema):
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    email = fields.Email(allow_none=True)
    phone = fields.String(allow_none=True, validate=validate.Length(max=50))


class PaymentSchema(InputSchema):
    method = fields.String(required=True, validate=validate.OneOf(PAYMENT_METHODS))
    amount = Money(required=True)
    reference = fields.String(allow_none=True, validate=validate.Length(max=200))


class OrderCreateSchema(InputSchema):
    items = fields.List(fields.Nested(OrderLineSchema), validate=validate.Length(min=1, max=MAX_LINES))
    books = fields.List(fields.Nested(BookLineSchema), validate=validate.Length(min=1, max=MAX_LINES))
    customer = fields.Nested(CustomerSchema, allow_none=True)
    customer_id = fields.String(allow_none=True, validate=validate.Length(max=100))
    payment = fields.Nested(PaymentSchema, allow_none=True)
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))
    location_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))  # default: the default location
    shipping_address = fields.Nested(AddressSchema, allow_none=True)  # section 11

    @validates_schema
    def has_lines(self, data, **kwargs):
        if ("items" in data) == ("books" in data):
            raise ValidationError("Send the lines as `items` (or, in the seed form, `books`).", "items")

    @post_load
    def seed_form(self, data, **kwargs):
        """`books: [{book_id, quantity}]` means the same as `items: [{product_id, quantity}]`."""
        if "books" in data:
            data["items"] = [{"product_id": b["book_id"], "quantity": b["quantity"]}
                             for b in data.pop("books")]
        return data


def load_plain_order(body):
    """What OrderCreateSchema().load(body) gives for the commonest body, lines of product_id and
    quantity and nothing else, built without the schema machinery (an order's hot path); None
    for any other body, which the schema then loads or refuses. tests/unit/test_order_schema.py
    checks with generated bodies that the two never disagree."""
    if type(body) is not dict or body.keys() != {"items"}:
        return None
    items = body["items"]
    if type(items) is not list or not 1 <= len(items) <= MAX_LINES:
        return None
    lines = []
    for item in items:
        if type(item) is not dict or item.keys() != {"product_id", "quantity"}:
            return None
        product_id, quantity = item["product_id"], item["quantity"]
        if (type(product_id) is not str or not 1 <= len(product_id) <= 64 or "\x00" in product_id
                or type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY):
            return None
        lines.append({"product_id": product_id, "quantity": quantity})
    return {"items": lines}


class CancelSchema(InputSchema):
    reason = fields.String(allow_none=True, validate=validate.Length(max=1000))
