"""Report routes: the dashboard, inventory valuation, stock levels, sales, transaction history
(JSON or CSV), and products in from a spreadsheet."""
from datetime import date, timedelta

from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import UnsupportedMediaType

from schemas.products import ProductInSchema
from ..auth import requires
from ..services import product_import, reports
from ..services.errors import ValidationFailed
from .csv_out import REPORT_PLAIN, csv_response, wants_csv
from .query_params import boolean, choice, list_query, text
from .responses import json_response, page_response
from .store import read, reader, shop_settings

bp = Blueprint("reports", __name__, url_prefix="/api")
IMPORT_SCHEMA = ProductInSchema()

MOVEMENT_REASONS = ("opening", "sale", "order_cancelled", "received", "count", "damaged", "lost",
                    "returned", "other")


def _bad(field, message):
    return ValidationFailed("The query is not valid.", errors={field: [message]})


def _date_arg(name):
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        if len(raw.strip()) != 10:
            raise ValueError
        value = date.fromisoformat(raw.strip())
        if not 1900 <= value.year <= 9998:  # every backend's dates, with a day to spare
            raise ValueError
        return value
    except ValueError:
        raise _bad(name, "Must be a date (YYYY-MM-DD).") from None


def _group_by(allowed, default=None):
    raw = request.args.get("group_by")
    if not raw:
        return default
    if raw not in allowed:
        raise _bad("group_by", f"Must be one of: {', '.join(allowed)}.")
    return raw


def any_of(*allowed):
    """A comma-separated filter: a list of allowed values."""
    def convert(raw):
        values = [v.strip() for v in raw.split(",") if v.strip()]
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            raise ValueError(f"Each value must be one of: {', '.join(allowed)}.")
        return values
    return convert


def _today():
    return reports.shop_today(shop_settings()["timezone"])


def _report(name, fields, rows, totals, query, echo=None):
    """A report's answer: a page of rows with totals over all of them, or every row as CSV."""
    if query.sort:
        rows = reports.sort_rows(rows, query.sort)
    if wants_csv():
        return csv_response(name, fields, lambda uow: iter(rows), REPORT_PLAIN)
    page = rows[query.offset:query.offset + query.limit]
    return page_response(page, len(rows), query, {"totals": totals, **(echo or {})})


def _report_query(filters, fields):
    """?limit, ?offset, ?sort over the row fields, q and filters; unsorted is the report's own order."""
    query = list_query(filters=filters, sort_fields=fields, q_fields=("report",), default_sort=())
    q, query.q, query.q_fields = query.q, None, ()
    return query, q


@bp.get("/dashboard")
@requires("reports.read")
def dashboard():
    """Today's and the last 30 days' figures, orders by status, stock counts and values."""
    return json_response(read(reports.dashboard, shop_settings()["timezone"], shop_settings()["currency"]))


@bp.get("/reports/inventory-valuation")
@requires("reports.finance")
def inventory_valuation():
    """What the stock is worth at cost and at retail, now or at the end of a past shop day."""
    group_by = _group_by(("category", "location"))
    fields = {"category": reports.VALUATION_CATEGORY_FIELDS,
              "location": reports.VALUATION_LOCATION_FIELDS}.get(group_by, reports.VALUATION_FIELDS)
    query, q = _report_query({"category": text, "kind": choice("book", "general"),
                              "status": choice("active", "archived")}, fields)
    as_of = _date_arg("as_of")
    if as_of is not None and as_of > _today():
        raise _bad("as_of", "Must not be after today.")
    location_id = request.args.get("location_id") or None
    if as_of is not None and (location_id or group_by == "location"):
        raise _bad("as_of", "A past day is valued for the whole shop, not per location.")
    if location_id is not None and read(lambda uow: uow.locations.get(location_id)) is None:
        raise _bad("location_id", "No location with this id.")
    rows, totals = read(reports.valuation, query.filters, q, as_of, group_by,
                        shop_settings()["timezone"], location_id=location_id)
    return _report("inventory-valuation", fields, rows, totals, query,
                   {"as_of": as_of.isoformat() if as_of else None, "group_by": group_by,
                    "location_id": location_id, "currency": shop_settings()["currency"]})


@bp.get("/reports/stock-levels")
@requires("reports.read")
def stock_levels():
    """Each active product against its low-stock threshold: ok, low or out."""
    query, q = _report_query({"category": text, "status": any_of(*reports.STOCK_LEVELS)},
                             reports.LEVEL_FIELDS)
    rows, totals = read(reports.stock_levels, query.filters.get("category"),
                        query.filters.get("status"), q)
    return _report("stock-levels", reports.LEVEL_FIELDS, rows, totals, query)


@bp.get("/reports/sales")
@requires("reports.finance")
def sales():
    """Sales figures per day, week, month, product or category over a range of shop days."""
    group_by = _group_by(reports.GROUPS, "day")
    fields = {"product": reports.PRODUCT_SALES_FIELDS,
              "category": reports.CATEGORY_SALES_FIELDS}.get(group_by, reports.PERIOD_FIELDS)
    query, _ = _report_query({}, fields)
    today = _today()
    until = _date_arg("until") or today
    since = _date_arg("since") or until - timedelta(days=reports.DASHBOARD_DAYS - 1)
    if since > until:
        raise _bad("since", "Must not be after until.")
    rows, totals = read(reports.sales, since, until, group_by, shop_settings()["timezone"])
    return _report("sales", fields, rows, totals, query,
                   {"since": since.isoformat(), "until": until.isoformat(), "group_by": group_by,
                    "currency": shop_settings()["currency"]})


@bp.get("/reports/transaction-history")
@requires("reports.read")
def transaction_history():
    """Every stock movement with its product and person, newest first, with totals in and out."""
    query = list_query(filters={"product_id": text, "reason": any_of(*MOVEMENT_REASONS),
                                "user_id": text},
                       sort_fields=("created_at", "delta", "stock_after", "reason"),
                       q_fields=("report",), default_sort=(("id", True),), dated=True)
    q, query.q, query.q_fields = query.q, None, ()
    if wants_csv():
        def rows(uow):
            made = reports.HistoryRows(uow)
            for movement in uow.movements.iterate(reports.history_query(uow, query, q)):
                yield made.row(movement)
        return csv_response("transaction-history", reports.HISTORY_FIELDS, rows, REPORT_PLAIN)
    with reader() as uow:
        items, total, totals = reports.transaction_history(uow, reports.history_query(uow, query, q))
    return page_response(items, total, query, {"totals": totals})


@bp.post("/products/import")
@requires("products.import")
def import_products():
    """Products from a CSV file: each row creates or updates by sku, all or nothing."""
    dry_run = request.args.get("dry_run")
    try:
        dry_run = boolean(dry_run) if dry_run else False
    except ValueError:
        raise _bad("dry_run", "Must be true or false.") from None
    text_body = _csv_body()
    with current_app.extensions["backroom.store"].unit_of_work() as uow:
        result = product_import.import_products(uow, text_body, IMPORT_SCHEMA,
                                                current_app.config["IMPORT_MAX_ROWS"], g.user["id"],
                                                dry_run)
        if not dry_run:
            uow.commit()
    return json_response(result)


def _csv_body():
    """The CSV text of a text/csv body or a multipart `file`; 415 for anything else."""
    mimetype = request.mimetype or ""
    if mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed("Send the CSV as the form's `file`.", errors={"file": ["Required."]})
        data = upload.read()
    elif mimetype in ("text/csv", "application/csv"):
        data = request.get_data(cache=False)
    else:
        raise UnsupportedMediaType("Send the CSV as 'Content-Type: text/csv' or as multipart `file`.")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("The file is not UTF-8 text.", errors={"file": ["Must be UTF-8."]}) from None
