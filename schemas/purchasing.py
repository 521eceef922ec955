"""Vendors, supply links, contacts, purchase orders and receipts: what a client may send, and the
answers as a reader who may not see what the shop pays (an editor) gets them."""
from marshmallow import fields, validate

from .common import InputSchema, Money, StrictInteger
from .locations import _Line

VENDOR_STATUSES = ("active", "archived")
CONTACT_TYPES = ("email", "phone", "in_person")
PURCHASE_ORDER_STATUSES = ("draft", "ordered", "partially_received", "received", "closed", "cancelled")
MAX_LINES = 500
MAX_QUANTITY = 1_000_000
ID = validate.Length(min=1, max=64)


class VendorSchema(InputSchema):
    # the name's length is judged after trimming, in services.purchasing
    name = fields.String(required=True, validate=validate.Length(max=1000))
    contact_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Length(max=50))
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    specialty = fields.String(allow_none=True, validate=validate.Length(max=200))
    notes = fields.String(allow_none=True, validate=validate.Length(max=5000))
    status = fields.String(validate=validate.OneOf(VENDOR_STATUSES))


class SupplyLinkUpdateSchema(InputSchema):
    vendor_id = fields.String(validate=ID)  # never changes: only its current value passes
    product_id = fields.String(validate=ID)
    vendor_sku = fields.String(allow_none=True, validate=validate.Length(max=100))
    cost = Money(allow_none=True)
    lead_time_days = StrictInteger(allow_none=True, validate=validate.Range(min=0, max=3650))
    min_order_quantity = StrictInteger(validate=validate.Range(min=1, max=MAX_QUANTITY))
    pack_size = StrictInteger(validate=validate.Range(min=1, max=MAX_QUANTITY))
    is_primary = fields.Boolean(truthy={True}, falsy={False})


class SupplyLinkCreateSchema(SupplyLinkUpdateSchema):
    product_id = fields.String(required=True, validate=ID)


class ContactSchema(InputSchema):
    contact_type = fields.String(required=True, validate=validate.OneOf(CONTACT_TYPES))
    message = fields.String(required=True, validate=validate.Length(max=10000))  # 1-5000 once trimmed
    product_id = fields.String(allow_none=True, validate=ID)


class PurchaseOrderLineSchema(_Line):
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_QUANTITY))
    unit_cost = Money(allow_none=True)


class PurchaseOrderUpdateSchema(InputSchema):
    lines = fields.List(fields.Nested(PurchaseOrderLineSchema), validate=validate.Length(min=1, max=MAX_LINES))
    expected_date = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True, validate=validate.Length(max=5000))


class PurchaseOrderCreateSchema(PurchaseOrderUpdateSchema):
    vendor_id = fields.String(required=True, validate=ID)
    lines = fields.List(fields.Nested(PurchaseOrderLineSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))


class ReceiptLineSchema(_Line):
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_QUANTITY))


class ReceiptSchema(InputSchema):
    lines = fields.List(fields.Nested(ReceiptLineSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))
    location_id = fields.String(allow_none=True, validate=ID)  # default: the default location
    note = fields.String(allow_none=True, validate=validate.Length(max=1000))


class NoteSchema(InputSchema):
    """The body of order, close and cancel: an optional note for the event."""

    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=1000))


class DraftSchema(InputSchema):
    vendor_ids = fields.List(fields.String(validate=ID), allow_none=True, load_default=None,
                             validate=validate.Length(max=MAX_LINES))


def link_out(link, with_cost=True):
    """A supply link as answered: its storage id and key kept back, `cost` only to those who see it."""
    return {k: v for k, v in link.items() if k not in ("id", "key") and (with_cost or k != "cost")}


def purchase_order_out(purchase_order, with_cost=True):
    """A purchase order as answered; without the costs (unit_cost, line_total, subtotal) to a
    reader who may not see what the shop pays."""
    if with_cost:
        return purchase_order
    out = {k: v for k, v in purchase_order.items() if k != "subtotal"}
    out["lines"] = [{k: v for k, v in line.items() if k not in ("unit_cost", "line_total")}
                    for line in purchase_order.get("lines") or ()]
    return out
