"""Locations, transfers and stock counts: what a client may send."""
from marshmallow import ValidationError, fields, validate, validates_schema

from .common import InputSchema, StrictInteger

KINDS = ("store", "stockroom", "warehouse", "other")
STATUSES = ("active", "archived")
TRANSFER_STATUSES = ("pending", "completed", "cancelled")
MAX_LINES = 500
MAX_QUANTITY = 1_000_000


class LocationSchema(InputSchema):
    # lengths and the code's characters are judged after trimming, in services.locations
    name = fields.String(required=True, validate=validate.Length(max=1000))
    code = fields.String(required=True, validate=validate.Length(max=1000))
    kind = fields.String(validate=validate.OneOf(KINDS))
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    is_default = fields.Boolean(truthy={True}, falsy={False})
    status = fields.String(validate=validate.OneOf(STATUSES))


class _Line(InputSchema):
    product_id = fields.String(validate=validate.Length(min=1, max=64))
    barcode = fields.String(validate=validate.Length(min=1, max=100))

    @validates_schema
    def one_reference(self, data, **kwargs):
        if ("product_id" in data) == ("barcode" in data):
            raise ValidationError("Name the product by product_id or by barcode (one of them).",
                                  "product_id")


class TransferLineSchema(_Line):
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_QUANTITY))


class TransferCreateSchema(InputSchema):
    from_location_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    to_location_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    note = fields.String(allow_none=True, validate=validate.Length(max=1000))
    lines = fields.List(fields.Nested(TransferLineSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))
    complete = fields.Boolean(truthy={True}, falsy={False}, load_default=False)


class CountLineSchema(_Line):
    counted = StrictInteger(required=True, validate=validate.Range(min=0, max=MAX_QUANTITY))


class CountCreateSchema(InputSchema):
    note = fields.String(allow_none=True, validate=validate.Length(max=1000))
    lines = fields.List(fields.Nested(CountLineSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))
