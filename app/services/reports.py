"""Reports (section 15): the one rule for sales figures, and the dashboard, valuation, stock levels,
sales and readable ledger built on it. Read-only, computed when asked."""
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from ..storage.base import Query, timestamp
from .catalog import money

# The rule, in one place: a sale is an order whose payment was recorded; it belongs to the shop
# day of its created_at; a refunded sale still counts in revenue and is counted again in refunds.
SALE_STATUSES = ("paid", "refunded")
REFUNDED = "refunded"
FIGURES = ("orders", "items_sold", "revenue", "refunds", "net")
MONEY_FIGURES = ("revenue", "refunds", "net")

ORDER_STATUSES = ("pending", "paid", "shipped", "delivered", "completed", "cancelled")
STOCK_LEVELS = ("ok", "low", "out")
GROUPS = ("day", "week", "month", "product", "category")
EVERYTHING = 10 ** 12  # a Query's limit that no shop reaches: every matching record
TOP_PRODUCTS = 5
RECENT_ORDERS = 5
DASHBOARD_DAYS = 30

VALUATION_FIELDS = ("product_id", "sku", "title", "category", "status", "stock", "cost",
                    "value_cost", "price", "value_retail")
VALUATION_CATEGORY_FIELDS = ("category", "products", "stock", "value_cost", "value_retail",
                             "missing_cost")
VALUATION_LOCATION_FIELDS = ("location_id", "code", "name", "products", "stock", "value_cost",
                             "value_retail", "missing_cost")
LEVEL_FIELDS = ("product_id", "sku", "title", "category", "stock", "low_stock_threshold",
                "on_order", "status")
PERIOD_FIELDS = ("period", "start", "end", *FIGURES)
PRODUCT_SALES_FIELDS = ("product_id", "sku", "title", "category", *FIGURES)
CATEGORY_SALES_FIELDS = ("category", *FIGURES)
HISTORY_FIELDS = ("id", "created_at", "product_id", "sku", "title", "delta", "stock_after", "reason",
                  "ref", "note", "user_id", "username")
# row fields that are money (they sort as numbers)
MONEY_FIELDS = frozenset(("cost", "value_cost", "price", "value_retail", *MONEY_FIGURES))


# ---- the shop day

def shop_today(tz, now=None):
    """Today's date in the shop's time zone."""
    return (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(tz)).date()


def end_of_day(day, tz):
    """The last second of a shop day, as a stored timestamp."""
    start = datetime.combine(day + timedelta(days=1), time.min, tzinfo=ZoneInfo(tz))
    return timestamp(start - timedelta(seconds=1))


def days(first, last):
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# ---- the figures of a set of sales

class Tally:
    """Figures being summed: orders, items_sold, revenue and refunds, exactly."""

    def __init__(self):
        self.orders, self.items_sold, self.revenue, self.refunds = 0, 0, Decimal(0), Decimal(0)

    def add(self, row):
        """A row of the orders repository's sales_summary (one group, one payment status)."""
        self.orders += row["orders"]
        self.items_sold += row["items_sold"]
        amount = Decimal(row["amount"])
        self.revenue += amount
        if row["payment_status"] == REFUNDED:
            self.refunds += amount
        return self

    def merge(self, other):
        self.orders += other.orders
        self.items_sold += other.items_sold
        self.revenue += other.revenue
        self.refunds += other.refunds
        return self

    def figures(self):
        return {"orders": self.orders, "items_sold": self.items_sold, "revenue": money(self.revenue),
                "refunds": money(self.refunds), "net": money(self.revenue - self.refunds)}


def _tallies(uow, first, last, tz, by):
    """key -> Tally of the sales of shop days first..last, grouped by day, product or category."""
    tallies = {}
    for row in uow.orders.sales_summary(first, last, tz, SALE_STATUSES, by):
        tally = tallies.get(row["key"])
        if tally is None:
            tally = tallies[row["key"]] = Tally()
        tally.add(row)
    return tallies


def _period_of(day, group_by):
    if group_by == "day":
        return day.isoformat()
    if group_by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def _by_period(by_day, first, last, group_by):
    """Rows {period, start, end, ...figures} for every period of first..last, zeros too, oldest first."""
    rows, current, tally = [], None, None
    for day in days(first, last):
        period = _period_of(day, group_by)
        if period != current:
            if current is not None:
                rows.append({"period": current, "start": start, "end": end, **tally.figures()})
            current, start, tally = period, day.isoformat(), Tally()
        end = day.isoformat()
        if day.isoformat() in by_day:
            tally.merge(by_day[day.isoformat()])
    rows.append({"period": current, "start": start, "end": end, **tally.figures()})
    return rows


NAME_FIELDS = ("id", "sku", "title", "category")
STOCK_FIELDS = ("id", "sku", "title", "category", "status", "stock", "low_stock_threshold", "cost",
                "price")


def _product_rows(uow, tallies, products=None, first=None):
    """Rows of the sales by product in their unsorted order (-items_sold, -revenue, sku), named
    as the products are now (products: every product's NAME_FIELDS, when the caller has them);
    only the first `first` when asked (the dashboard's top products)."""
    if products is None:
        products = uow.products.narrow(NAME_FIELDS) if tallies else ()
    by_id = {p["id"]: p for p in products}
    named = [(by_id.get(product_id) or {}, product_id, tally)  # archived, never deleted
             for product_id, tally in tallies.items()]
    # the order sort_rows would give, in one sort over the raw tallies
    named.sort(key=lambda n: (-n[2].items_sold, -n[2].revenue, n[0].get("sku") is None,
                              n[0].get("sku") or ""))
    return [{"product_id": product_id, "sku": product.get("sku"), "title": product.get("title"),
             "category": product.get("category"), **tally.figures()}
            for product, product_id, tally in named[:first]]


def _category_rows(tallies):
    rows = [{"category": category, **tally.figures()} for category, tally in tallies.items()]
    return sort_rows(rows, [("items_sold", True), ("revenue", True), ("category", False)])


def sales(uow, first, last, group_by, tz):
    """(rows, totals) of the sales report over shop days first..last (dates, both included)."""
    by_day = _tallies(uow, first, last, tz, "day")
    totals = Tally()
    for tally in by_day.values():
        totals.merge(tally)
    if group_by in ("day", "week", "month"):
        rows = _by_period(by_day, first, last, group_by)
    elif group_by == "product":
        rows = _product_rows(uow, _tallies(uow, first, last, tz, "product"))
    else:
        rows = _category_rows(_tallies(uow, first, last, tz, "category"))
    return rows, totals.figures()


# ---- stock

def _products(uow, filters=None, q=None, q_fields=()):
    query = Query(filters=dict(filters or {}), q=q or None, q_fields=tuple(q_fields),
                  sort=[("id", False)], limit=EVERYTHING)
    return uow.products.list(query)[0]


def level_of(product):
    """out at 0, low at or below its threshold, else ok."""
    if product["stock"] <= 0:
        return "out"
    if product["stock"] <= (product.get("low_stock_threshold") or 0):
        return "low"
    return "ok"


def stock_levels(uow, category=None, levels=None, q=None, products=None):
    """(rows, totals) of the stock-levels report: each active product against its threshold.
    products: every product, when the caller has them already (the dashboard)."""
    filters = {"status": "active"}
    if category is not None:
        filters["category"] = category
    if products is None:
        products = _products(uow, filters, q, ("sku", "title", "barcode"))
    else:
        products = [p for p in products if p["status"] == "active"]
    rows = []
    for product in products:
        level = level_of(product)
        if levels and level not in levels:
            continue
        rows.append({"product_id": product["id"], "sku": product["sku"], "title": product["title"],
                     "category": product.get("category"), "stock": product["stock"],
                     "low_stock_threshold": product.get("low_stock_threshold"),
                     "on_order": product.get("on_order") or 0,  # what open purchase orders will bring
                     "status": level})
    totals = {level: 0 for level in STOCK_LEVELS}
    for row in rows:
        totals[row["status"]] += 1
    return sort_rows(rows, [("sku", False)]), totals


def valuation(uow, filters=None, q=None, as_of=None, group_by=None, tz="UTC", products=None,
              location_id=None):
    """(rows, totals) of what the stock is worth, now or at the end of the shop day as_of; with
    location_id, the stock in that location (section 9), and with group_by="location" a row per
    location. products: every product, when the caller has them already (the dashboard)."""
    stock_at = uow.movements.stock_as_of(end_of_day(as_of, tz)) if as_of is not None else None
    if products is None:
        products = _products(uow, filters, q, ("sku", "title"))
    held = None  # product id -> quantity in the one location asked for
    if location_id is not None:
        held = {level["product_id"]: level["quantity"] for level in uow.stock_levels.at_location(location_id)}
    rows = []
    for product in products:
        if held is not None:
            stock = held.get(product["id"], 0)
        else:
            stock = product["stock"] if stock_at is None else stock_at.get(product["id"], 0)
        if stock == 0:
            continue
        rows.append(_valued(product, stock))
    rows = sort_rows(rows, [("sku", False)])
    totals = _valuation_totals(rows)
    if group_by == "category":
        groups = {}
        for row in rows:
            groups.setdefault(row["category"], []).append(row)
        rows = [{"category": category, **_valuation_totals(members)}
                for category, members in groups.items()]
        rows = sort_rows(rows, [("category", False)])
    elif group_by == "location":
        rows = _valuation_by_location(uow, products, location_id)
    return rows, totals


def _valued(product, stock):
    cost = product.get("cost")
    return {"product_id": product["id"], "sku": product["sku"], "title": product["title"],
            "category": product.get("category"), "status": product["status"],
            "stock": stock, "cost": cost,
            "value_cost": None if cost is None else money(Decimal(cost) * stock),
            "price": product["price"], "value_retail": money(Decimal(product["price"]) * stock)}


def _valuation_by_location(uow, products, only=None):
    """A row per location holding any of these products (the one asked for, if any), by code:
    its stock of them valued as the product rows are."""
    by_id = {p["id"]: p for p in products}
    locations = [uow.locations.get(only)] if only else uow.locations.list(Query(limit=EVERYTHING))[0]
    rows = []
    for location in locations:
        members = [_valued(by_id[level["product_id"]], level["quantity"])
                   for level in uow.stock_levels.at_location(location["id"])
                   if level["quantity"] and level["product_id"] in by_id]
        if members:
            rows.append({"location_id": location["id"], "code": location["code"],
                         "name": location["name"], **_valuation_totals(members)})
    return sort_rows(rows, [("code", False)])


def _stock_totals(products):
    """(stock levels' totals, valuation's totals) of every product, as stock_levels and valuation
    count them, without making their rows (the dashboard)."""
    levels = {level: 0 for level in STOCK_LEVELS}
    worth = {"products": 0, "stock": 0, "value_cost": Decimal(0), "value_retail": Decimal(0),
             "missing_cost": 0}
    for product in products:
        stock = product["stock"]
        if product["status"] == "active":
            levels[level_of(product)] += 1
        if stock == 0:
            continue
        worth["products"] += 1
        worth["stock"] += stock
        worth["value_retail"] += Decimal(product["price"]) * stock
        if product.get("cost") is None:
            worth["missing_cost"] += 1
        else:
            worth["value_cost"] += Decimal(product["cost"]) * stock
    worth["value_cost"], worth["value_retail"] = money(worth["value_cost"]), money(worth["value_retail"])
    return levels, worth


def _valuation_totals(rows):
    known = [Decimal(r["value_cost"]) for r in rows if r["value_cost"] is not None]
    return {"products": len(rows), "stock": sum(r["stock"] for r in rows),
            "value_cost": money(sum(known, Decimal(0))),
            "value_retail": money(sum((Decimal(r["value_retail"]) for r in rows), Decimal(0))),
            "missing_cost": len(rows) - len(known)}


# ---- the ledger, readable

def history_query(uow, query, q=None):
    """The movements query of the report: its q looks in the product's sku and title, and the note."""
    if q:
        product_ids = [p["id"] for p in _products(uow, q=q, q_fields=("sku", "title"))]
        query.filters["product_or_note"] = (q, tuple(product_ids))
    return query


class HistoryRows:
    """Movements as report rows, with their product's sku and title and their person's username
    (each product and user read once)."""

    def __init__(self, uow):
        self.uow, self.products, self.users = uow, {}, {}

    def row(self, movement):
        product = self.products.get(movement["product_id"], False)
        if product is False:
            product = self.products[movement["product_id"]] = self.uow.products.get(movement["product_id"]) or {}
        user_id = movement.get("user_id")
        user = self.users.get(user_id, False)
        if user is False:
            user = self.users[user_id] = self.uow.users.get(user_id) if user_id else None
        return {"id": movement["id"], "created_at": movement["created_at"],
                "product_id": movement["product_id"], "sku": product.get("sku"),
                "title": product.get("title"), "delta": movement["delta"],
                "stock_after": movement["stock_after"], "reason": movement["reason"],
                "ref": movement.get("ref"), "note": movement.get("note"), "user_id": user_id,
                "username": user["username"] if user else None}


def transaction_history(uow, query):
    """(page of rows, total, totals) of the movements the query matches."""
    movements, total = uow.movements.list(query)
    rows = HistoryRows(uow)
    return [rows.row(m) for m in movements], total, uow.movements.totals(query)


# ---- the dashboard

def dashboard(uow, tz, currency, now=None):
    """The figures an owner opens every morning (section 15's dashboard)."""
    now = now or datetime.now(timezone.utc)
    today = shop_today(tz, now)
    first = today - timedelta(days=DASHBOARD_DAYS - 1)
    by_day = _tallies(uow, first, today, tz, "day")
    month = Tally()
    sales_by_day = []
    for day in days(first, today):
        tally = by_day.get(day.isoformat()) or Tally()
        month.merge(tally)
        sales_by_day.append({"date": day.isoformat(), **tally.figures()})
    counts = uow.orders.count_by_status()
    products = uow.products.narrow(STOCK_FIELDS)
    levels, worth = _stock_totals(products)
    top = _product_rows(uow, _tallies(uow, first, today, tz, "product"), products, TOP_PRODUCTS)
    # the newest few, without counting every order as a page of the list would
    recent = list(uow.orders.iterate(Query(sort=[("id", True)]), limit=RECENT_ORDERS))
    return {
        "date": today.isoformat(), "currency": currency, "generated_at": timestamp(now),
        "today": (by_day.get(today.isoformat()) or Tally()).figures(),
        "last_30_days": {"since": first.isoformat(), "until": today.isoformat(), **month.figures()},
        "orders_by_status": {status: counts.get(status, 0) for status in ORDER_STATUSES},
        "low_stock_count": levels["low"], "out_of_stock_count": levels["out"],
        "stock_value_cost": worth["value_cost"], "stock_value_retail": worth["value_retail"],
        "top_products": top, "sales_by_day": sales_by_day, "recent_orders": recent,
    }


# ---- sorting rows as lists sort records

def _sort_key(field):
    if field in MONEY_FIELDS:
        return lambda r: (r.get(field) is None, Decimal(r[field]) if r.get(field) is not None else 0)
    return lambda r: (r.get(field) is None, r.get(field) if r.get(field) is not None else "")


def sort_rows(rows, sort):
    """Rows sorted by [(field, descending)] as a list's ?sort sorts (money as numbers, null last
    going up); stable, so equal rows keep their order."""
    for field, desc in reversed(sort):
        rows.sort(key=_sort_key(field), reverse=desc)
    return rows
