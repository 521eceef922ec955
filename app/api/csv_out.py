"""CSV answers (section 15): `format=csv` or `Accept: text/csv`, RFC 4180 through Python's csv
module, the formula guard, the dated filename, streamed a few rows at a time."""
import csv
import io
import json
from decimal import Decimal

from flask import Response, current_app, request, stream_with_context

from ..services.catalog import FIELD_ORDER as PRODUCT_COLUMNS
from ..services.errors import ValidationFailed
from ..services.reports import shop_today
from .store import reader

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
FLUSH_BYTES = 64 * 1024

PRODUCT_PLAIN = frozenset(("price", "cost", "stock", "low_stock_threshold", "created_at",
                           "updated_at", "version"))
ORDER_COLUMNS = ("id", "number", "status", "payment_status", "customer_name", "customer_email",
                 "customer_phone", "customer_id", "lines", "items_sold", "subtotal", "total",
                 "currency", "payment_method", "payment_amount", "payment_reference", "paid_at",
                 "notes", "cancel_reason", "created_by", "created_at", "updated_at", "version",
                 # what sections 9 and 11 add, in their order
                 "location_id", "channel", "shipping_address_name", "shipping_address_line1",
                 "shipping_address_line2", "shipping_address_city", "shipping_address_postal_code",
                 "shipping_address_country", "hold_expires_at")
ORDER_PLAIN = frozenset(("number", "items_sold", "subtotal", "total", "payment_amount", "paid_at",
                         "created_at", "updated_at", "version", "hold_expires_at"))
MOVEMENT_COLUMNS = ("id", "product_id", "delta", "stock_after", "reason", "ref", "note", "user_id",
                    "created_at", "location_id", "location_stock_after")
MOVEMENT_PLAIN = frozenset(("delta", "stock_after", "created_at", "location_stock_after"))
DELIVERY_COLUMNS = ("id", "order_id", "status", "carrier", "tracking_number", "estimated_date",
                    "address_name", "address_line1", "address_line2", "address_city",
                    "address_postal_code", "address_country", "created_at", "updated_at", "version")
DELIVERY_PLAIN = frozenset(("estimated_date", "created_at", "updated_at", "version"))
# report row fields that are numbers, money or dates: never formula-guarded
REPORT_PLAIN = frozenset(("stock", "cost", "value_cost", "price", "value_retail", "products",
                          "missing_cost", "low_stock_threshold", "on_order", "orders", "items_sold",
                          "revenue", "refunds", "net", "start", "end", "delta", "stock_after",
                          "created_at"))


def wants_csv():
    """True for format=csv, or for an Accept that names text/csv (no format); format=json or
    none is JSON; another format is 400."""
    fmt = request.args.get("format")
    if fmt is not None:  # an empty format= is not a format either
        if fmt not in ("json", "csv"):
            raise ValidationFailed("The query is not valid.",
                                   errors={"format": ["Must be one of: json, csv."]})
        return fmt == "csv"
    accept = request.accept_mimetypes
    named = any(value.lower() == "text/csv" and quality > 0 for value, quality in accept)
    return named and accept["text/csv"] >= accept["application/json"]


def cell(value, plain):
    """One CSV cell: null empty, booleans and numbers as in JSON; text guarded against formulas."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    value = str(value)
    if not plain and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_response(name, columns, rows, plain=frozenset()):
    """200 text/csv of rows (dicts) under a header of columns, as an attachment named
    <name>-<today>.csv. `rows(uow)` yields them inside one reader, while the answer streams."""
    filename = f"{name}-{shop_today(current_app.config['TIMEZONE']).isoformat()}.csv"
    flags = [column in plain for column in columns]

    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(columns)
        with reader() as uow:
            for row in rows(uow):
                writer.writerow([cell(row.get(c), f) for c, f in zip(columns, flags)])
                if buffer.tell() >= FLUSH_BYTES:
                    yield buffer.getvalue().encode("utf-8")
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue().encode("utf-8")

    resp = Response(stream_with_context(generate()), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


# ---- the lists' rows as CSV records

def _order_row(order):
    customer = order.get("customer") or {}
    payment = order.get("payment") or {}
    lines = order.get("items") or []
    return {**order, "customer_name": customer.get("name"), "customer_email": customer.get("email"),
            "customer_phone": customer.get("phone"),
            "lines": "; ".join(f"{line['quantity']} x {line['sku']}" for line in lines),
            "items_sold": sum(line["quantity"] for line in lines),
            "payment_method": payment.get("method"), "payment_amount": payment.get("amount"),
            "payment_reference": payment.get("reference"), "paid_at": payment.get("paid_at"),
            **{f"shipping_address_{k}": v for k, v in (order.get("shipping_address") or {}).items()}}


def _delivery_row(delivery):
    address = delivery.get("address")
    if not isinstance(address, dict):
        address = {"line1": address}
    return {**delivery, **{f"address_{part}": address.get(part)
                           for part in ("name", "line1", "line2", "city", "postal_code", "country")}}


LISTS = {
    "products": ("products", PRODUCT_COLUMNS, PRODUCT_PLAIN, None),
    "books": ("products", PRODUCT_COLUMNS, PRODUCT_PLAIN, None),
    "orders": ("orders", ORDER_COLUMNS, ORDER_PLAIN, _order_row),
    "stock-movements": ("movements", MOVEMENT_COLUMNS, MOVEMENT_PLAIN, None),
    "deliveries": ("deliveries", DELIVERY_COLUMNS, DELIVERY_PLAIN, _delivery_row),
}


def csv_list(name, query, hide=()):
    """The CSV export of a list (every row the query matches, in its order), or None when the
    client asked for JSON. hide: columns this caller may not see (an anonymous caller's cost)."""
    if not wants_csv():
        return None
    collection, columns, plain, flatten = LISTS[name]
    columns = tuple(c for c in columns if c not in hide)

    def rows(uow):
        for record in getattr(uow, collection).iterate(query):
            yield flatten(record) if flatten else record
    return csv_response(name, columns, rows, plain)
