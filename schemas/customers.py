"""Customers: what a client may send (section 11)."""
from marshmallow import fields, validate

from .common import InputSchema
from .deliveries import AddressSchema

MAX_ADDRESSES = 10


class CustomerSchema(InputSchema):
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Length(max=50))
    addresses = fields.List(fields.Nested(AddressSchema), validate=validate.Length(max=MAX_ADDRESSES))
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))
    # computed and read-only: ignored when sent back as read
    order_count = fields.Raw(load_only=True)
    total_spent = fields.Raw(load_only=True)
    last_order_at = fields.Raw(load_only=True)
    erased = fields.Raw(load_only=True)
