"""Deliveries: the create body (address as an object or one string) and status changes."""
from marshmallow import ValidationError, fields, validate

from .common import InputSchema

STATUSES = ("pending", "in_transit", "out_for_delivery", "delivered", "failed", "cancelled")


class AddressSchema(InputSchema):
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    line1 = fields.String(required=True, validate=validate.Length(min=1, max=200))
    line2 = fields.String(allow_none=True, validate=validate.Length(max=200))
    city = fields.String(required=True, validate=validate.Length(min=1, max=100))
    postal_code = fields.String(allow_none=True, validate=validate.Length(max=20))
    country = fields.String(allow_none=True, validate=validate.Length(max=60))


class AddressField(fields.Field):
    """An address object, or one non-empty string (the seed form)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if not value.strip():
                raise ValidationError("Must not be empty.")
            if len(value) > 1000:
                raise ValidationError("At most 1000 characters.")
            return value.strip()
        if isinstance(value, dict):
            return AddressSchema().load(value)
        raise ValidationError("Must be an address object or a string.")


class DeliveryCreateSchema(InputSchema):
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    address = AddressField()  # section 11: left out, the order's shipping_address
    carrier = fields.String(allow_none=True, validate=validate.Length(max=100))
    tracking_number = fields.String(allow_none=True, validate=validate.Length(max=100))
    estimated_date = fields.Date(allow_none=True)
    note = fields.String(allow_none=True, validate=validate.Length(max=1000))


class DeliveryStatusSchema(InputSchema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    note = fields.String(allow_none=True, validate=validate.Length(max=1000))
