"""The storefront: the checkout body a public client may send, and the storefront keys."""
from marshmallow import fields, validate

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
