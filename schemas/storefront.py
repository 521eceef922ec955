"""The storefront: the checkout body a public client may send, and the storefront keys."""
from marshmallow import ValidationError, fields, validate

from .common import InputSchema, StrictInteger
from .orders import OrderLineSchema

MAX_LINES = 50


class StorefrontCustomerSchema(InputSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Length(max=50))


class ShippingAddressSchema(InputSchema):
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    line1 = fields.String(required=True, validate=validate.Length(min=1, max=200))
    line2 = fields.String(allow_none=True, validate=validate.Length(max=200))
    city = fields.String(required=True, validate=validate.Length(min=1, max=100))
    postal_code = fields.String(required=True, validate=validate.Length(min=1, max=20))
    country = fields.String(required=True, validate=validate.Length(min=1, max=60))


class StorefrontLineSchema(OrderLineSchema):
    quantity = StrictInteger(required=True, validate=validate.Range(min=1))  # at most SHOP_STOREFRONT_MAX_QUANTITY


class StorefrontOrderSchema(InputSchema):
    items = fields.List(fields.Nested(StorefrontLineSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))
    customer = fields.Nested(StorefrontCustomerSchema, required=True)
    shipping_address = fields.Nested(ShippingAddressSchema, allow_none=True, load_default=None)
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))


class StorefrontKeySchema(InputSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    allowed_origins = fields.List(fields.String(validate=validate.Length(max=300)),
                                  load_default=list, validate=validate.Length(max=50))
    # read-only fields of a key sent back as read: ignored
    key = fields.Raw(load_only=True)
    active = fields.Raw(load_only=True)
    builtin = fields.Raw(load_only=True)


_EMAIL = validate.Email()
_CUSTOMER_KEYS = frozenset(("name", "email", "phone"))
_BODY_KEYS = frozenset(("items", "customer", "shipping_address", "notes"))


def _text(value, low, high):
    return type(value) is str and low <= len(value) <= high and "\x00" not in value


def load_plain_checkout(body, max_quantity):
    """What StorefrontOrderSchema().load(body) gives for the commonest checkout (lines of
    product_id and quantity, a customer, no address or null, notes), built without the schema
    machinery (the checkout's hot path); None for any other body, which the schema then loads or
    refuses. A quantity above max_quantity is None too (the route refuses it under its name).
    tests/unit/test_storefront.py checks that the two agree."""
    if type(body) is not dict or not body.keys() <= _BODY_KEYS or "items" not in body:
        return None
    items, customer = body["items"], body.get("customer")
    if type(items) is not list or not 1 <= len(items) <= MAX_LINES or type(customer) is not dict:
        return None
    lines = []
    for item in items:
        if type(item) is not dict or item.keys() != {"product_id", "quantity"}:
            return None
        product_id, quantity = item["product_id"], item["quantity"]
        if not _text(product_id, 1, 64) or type(quantity) is not int or not 1 <= quantity <= max_quantity:
            return None
        lines.append({"product_id": product_id, "quantity": quantity})
    if not customer.keys() <= _CUSTOMER_KEYS or not _text(customer.get("name"), 1, 200):
        return None
    email = customer.get("email")
    if not _text(email, 1, 254):
        return None
    try:
        _EMAIL(email)
    except ValidationError:
        return None
    out_customer = {"name": customer["name"], "email": email}
    if "phone" in customer:
        phone = customer["phone"]
        if phone is not None and not _text(phone, 0, 50):
            return None
        out_customer["phone"] = phone
    if body.get("shipping_address") is not None:
        return None
    data = {"items": lines, "customer": out_customer, "shipping_address": None}
    if "notes" in body:
        notes = body["notes"]
        if notes is not None and not _text(notes, 0, 2000):
            return None
        data["notes"] = notes
    return data
