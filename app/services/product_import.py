"""Products in from a spreadsheet (section 15): each CSV row creates or updates a product by sku,
through the catalog's own rules, in one unit of work; any row error and nothing is written."""
import csv
import io
from decimal import Decimal

from marshmallow import ValidationError

from .catalog import FIELD_ORDER, create_product, update_product
from .codes import to_isbn13
from .errors import DomainError, DuplicateValue, TooManyRows, ValidationFailed

COLUMNS = FIELD_ORDER  # the products export's columns
IGNORED = ("created_at", "updated_at", "version", "on_order")  # on_order follows purchase orders
NULLABLE = ("author", "isbn", "barcode", "description", "category", "cost", "reorder_quantity")
TEXT = ("sku", "title", "kind", "author", "isbn", "barcode", "description", "category", "status")
INTEGERS = ("stock", "low_stock_threshold", "reorder_quantity")
MONEY = ("price", "cost")


def _header(header):
    """The header's columns, or a validation error under `columns` (unknown, repeated, no sku)."""
    problems, seen = [], set()
    for name in header:
        if name not in COLUMNS:
            problems.append(f"Unknown column {name!r}; use the products export's columns.")
        elif name in seen:
            problems.append(f"Column {name!r} appears twice.")
        seen.add(name)
    if "sku" not in seen:
        problems.append("The column 'sku' is required.")
    if problems:
        raise ValidationFailed("The file's columns are not valid; no row was judged.",
                               errors={"columns": problems})
    return list(header)


def _cells(header, record):
    """(the row's fields as a client would send them, its id cell, its errors per field)."""
    data, errors, product_id = {}, {}, None
    for name, raw in zip(header, record):
        if name in IGNORED:
            continue
        if name == "id":
            product_id = raw.strip() or None
            continue
        if name in TEXT and raw.startswith("'"):
            raw = raw[1:]  # the export's formula guard, taken off again
        if raw.strip() == "":
            if name in NULLABLE:
                data[name] = None
            continue  # absent: the default for a new product, unchanged for a known one
        if name in INTEGERS:
            try:
                data[name] = int(raw.strip())
            except ValueError:
                errors[name] = "Must be an integer."
            continue
        data[name] = raw
    return data, product_id, errors


def _same(name, new, old):
    """Whether a parsed cell means the stored value (money as decimals, ISBNs normalised)."""
    if new is None or old is None:
        return new is None and old is None
    if name in MONEY:
        return Decimal(new) == Decimal(old)
    if name == "isbn":
        return (to_isbn13(str(new)) or new) == old
    if isinstance(new, str):
        return new.strip() == str(old)
    return new == old


def _messages(errors):
    """{field: message} of a marshmallow or domain error dict."""
    out = {}
    for field, messages in (errors or {}).items():
        if isinstance(messages, dict):
            messages = [str(m) for m in messages.values()]
        out[field] = "; ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
    return out


def _judge(uow, schema, data, product_id, user_id):
    """Create or update one row's product; 'created', 'updated' or 'unchanged', or {field: message}."""
    sku = (data.get("sku") or "").strip()
    stored = uow.products.find_by_sku(sku) if sku else None
    if product_id is not None:
        named = uow.products.get(product_id)
        if named is not None and (stored is None or stored["id"] != named["id"]):
            return {"sku": f"The id names the product with sku {named['sku']!r}; "
                           "change a sku with PATCH /api/products/{id}."}
    try:
        loaded = schema.load(data, partial=stored is not None)
    except ValidationError as exc:
        return _messages(exc.messages)
    try:
        if stored is None:
            create_product(uow, loaded, user_id)
            return "created"
        if "stock" in loaded and loaded["stock"] != stored["stock"]:
            return {"stock": f"Stock is {stored['stock']} and moves only by adjustments "
                             "(POST /api/products/{id}/adjustments)."}
        changes = {name: value for name, value in loaded.items()
                   if name != "stock" and not _same(name, value, stored.get(name))}
        if not changes:
            return "unchanged"
        update_product(uow, stored["id"], changes)
        return "updated"
    except DuplicateValue as exc:
        return {exc.field: f"Another product already has this {exc.field}."}
    except DomainError as exc:
        return _messages(exc.errors) or {None: exc.detail}


def import_products(uow, text, schema, max_rows, user_id, dry_run=False):
    """Judge every row of the CSV text in this unit of work, each loaded by the marshmallow
    schema of POST /api/products. The counts when every row is good (the caller commits unless
    dry_run); a ValidationFailed with every row error otherwise."""
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ValidationFailed(f"The file is not valid CSV: {exc}",
                               errors={"file": [str(exc)]}) from None
    if not records:
        raise ValidationFailed("The file is empty; no row was judged.",
                               errors={"columns": ["The header is missing."]})
    header = _header(records[0])
    rows = [(number, record) for number, record in enumerate(records[1:], start=2) if record]
    if len(rows) > max_rows:
        raise TooManyRows(f"The file has {len(rows)} rows; at most {max_rows} are imported at once.")
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    row_errors, seen_skus, seen_barcodes = [], {}, {}
    for number, record in rows:
        if len(record) != len(header):
            row_errors.append({"row": number, "field": None,
                               "message": f"The row has {len(record)} cells; the header has {len(header)}."})
            continue
        data, product_id, problems = _cells(header, record)
        sku_key = (data.get("sku") or "").strip().lower()
        barcode = (data.get("barcode") or "").strip()
        if sku_key and sku_key in seen_skus:
            problems.setdefault("sku", f"This sku is on row {seen_skus[sku_key]} too.")
        if barcode and barcode in seen_barcodes:
            problems.setdefault("barcode", f"This barcode is on row {seen_barcodes[barcode]} too.")
        seen_skus.setdefault(sku_key, number)
        if barcode:
            seen_barcodes.setdefault(barcode, number)
        outcome = problems or _judge(uow, schema, data, product_id, user_id)
        if isinstance(outcome, dict):
            row_errors += [{"row": number, "field": field, "message": message}
                           for field, message in outcome.items()]
        else:
            counts[outcome] += 1
    summary = {"dry_run": dry_run, "rows": len(rows), **counts}
    if row_errors:
        errors = {}
        for entry in row_errors:
            key = f"rows.{entry['row']}" + (f".{entry['field']}" if entry["field"] else "")
            errors.setdefault(key, []).append(entry["message"])
        raise ValidationFailed(f"{len({e['row'] for e in row_errors})} of {len(rows)} rows are not "
                               "valid; nothing was imported.", errors=errors,
                               row_errors=row_errors, **summary)
    return {**summary, "row_errors": []}
