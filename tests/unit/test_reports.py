"""The one rule for sales figures, and the reports built on it, through the in-memory store."""
from datetime import date, datetime, timezone
from decimal import Decimal

from app.services import orders, reports
from app.storage.base import new_id

from .builders import add_order, add_product, read, run


def stored_order(store, created_at, payment_status="paid", lines=((None, 1, "10.00"),), status=None):
    """An order stored as made at created_at; lines are (product, quantity, line_total)."""
    items = [{"product_id": p["id"] if p else "p-gone", "sku": p["sku"] if p else "GONE",
              "title": p["title"] if p else "Gone", "quantity": q, "unit_price": total,
              "line_total": total} for p, q, total in lines]
    total = str(sum(Decimal(i["line_total"]) for i in items))
    record = {"id": new_id(), "number": 1, "items": items, "subtotal": total, "total": total, "currency": "EUR", "created_at": created_at,
              "payment_status": payment_status,
              "status": status or {"paid": "paid", "refunded": "cancelled", "unpaid": "pending"}[payment_status]}
    run(store, lambda uow: uow.orders.add(record))
    return record


def sales(store, first, last, group_by="day", tz="UTC"):
    return read(store, lambda uow: reports.sales(uow, first, last, group_by, tz))


def test_a_sale_is_an_order_whose_payment_was_recorded(memory_store):
    stored_order(memory_store, "2026-11-21T10:00:00Z", "paid", [(None, 2, "20.00")])
    stored_order(memory_store, "2026-11-21T11:00:00Z", "refunded", [(None, 1, "9.99")])
    stored_order(memory_store, "2026-11-21T12:00:00Z", "unpaid", [(None, 5, "50.00")])
    stored_order(memory_store, "2026-11-21T13:00:00Z", "unpaid", [(None, 5, "50.00")], status="cancelled")
    _, totals = sales(memory_store, date(2026, 11, 21), date(2026, 11, 21))
    assert totals == {"orders": 2, "items_sold": 3, "revenue": "29.99", "refunds": "9.99", "net": "20.00"}


def test_a_sale_belongs_to_the_shop_day_of_its_order_across_midnight(memory_store):
    # 23:30 UTC on the 21st is already the 22nd in Berlin; 22:59 UTC is still the 21st
    stored_order(memory_store, "2026-11-21T22:59:59Z", "paid", [(None, 1, "1.00")])
    stored_order(memory_store, "2026-11-21T23:30:00Z", "paid", [(None, 1, "2.00")])
    rows, _ = sales(memory_store, date(2026, 11, 21), date(2026, 11, 22), tz="Europe/Berlin")
    assert [(r["period"], r["revenue"]) for r in rows] == [("2026-11-21", "1.00"), ("2026-11-22", "2.00")]
    rows, _ = sales(memory_store, date(2026, 11, 21), date(2026, 11, 22), tz="UTC")
    assert [(r["period"], r["revenue"]) for r in rows] == [("2026-11-21", "3.00"), ("2026-11-22", "0.00")]
    rows, _ = sales(memory_store, date(2026, 11, 21), date(2026, 11, 21), tz="America/New_York")
    assert rows[0]["revenue"] == "3.00"  # 17:59 and 18:30 in New York


def test_a_refund_later_changes_the_day_the_order_was_made(memory_store):
    book = add_product(memory_store, price="12.50", stock=5)
    order = add_order(memory_store, [(book, 2)], payment={"method": "cash", "amount": "25.00"})
    before = sales(memory_store, reports.shop_today("UTC"), reports.shop_today("UTC"))[1]
    run(memory_store, lambda uow: orders.cancel_order(uow, order["id"], "damaged", may_refund=True))
    after = sales(memory_store, reports.shop_today("UTC"), reports.shop_today("UTC"))[1]
    assert before == {"orders": 1, "items_sold": 2, "revenue": "25.00", "refunds": "0.00", "net": "25.00"}
    assert after == {"orders": 1, "items_sold": 2, "revenue": "25.00", "refunds": "25.00", "net": "0.00"}


def test_periods_include_every_day_with_zeros_and_sum_exactly_to_the_totals(memory_store):
    for at, total in (("2026-11-02T09:00:00Z", "0.10"), ("2026-11-09T09:00:00Z", "0.20"),
                      ("2026-11-30T09:00:00Z", "0.70"), ("2026-12-01T09:00:00Z", "1.01")):
        stored_order(memory_store, at, "paid", [(None, 1, total)])
    stored_order(memory_store, "2026-11-30T10:00:00Z", "refunded", [(None, 3, "3.33")])
    first, last = date(2026, 11, 1), date(2026, 12, 1)
    by_day, totals = sales(memory_store, first, last)
    assert len(by_day) == 31 and by_day[0]["period"] == "2026-11-01"
    for group_by in ("day", "week", "month"):
        rows, same = sales(memory_store, first, last, group_by)
        assert same == totals
        for figure in ("orders", "items_sold"):
            assert sum(r[figure] for r in rows) == totals[figure]
        for figure in ("revenue", "refunds", "net"):
            assert sum(Decimal(r[figure]) for r in rows) == Decimal(totals[figure])
    weeks, _ = sales(memory_store, first, last, "week")
    assert (weeks[0]["period"], weeks[0]["start"], weeks[0]["end"]) == ("2026-W44", "2026-11-01", "2026-11-01")
    assert (weeks[-1]["period"], weeks[-1]["end"]) == ("2026-W49", "2026-12-01")
    months, _ = sales(memory_store, first, last, "month")
    assert [(m["period"], m["start"], m["end"]) for m in months] == [
        ("2026-11", "2026-11-01", "2026-11-30"), ("2026-12", "2026-12-01", "2026-12-01")]


def test_by_product_counts_orders_with_a_line_and_by_category_counts_each_order_once(memory_store):
    tea = add_product(memory_store, sku="TEA", category="drinks", price="2.00")
    cola = add_product(memory_store, sku="COLA", category="drinks", price="1.50")
    pen = add_product(memory_store, sku="PEN", category=None, price="1.00")
    at = "2026-11-21T10:00:00Z"
    stored_order(memory_store, at, "paid", [(tea, 2, "4.00"), (cola, 1, "1.50")])
    stored_order(memory_store, at, "refunded", [(tea, 1, "2.00"), (pen, 3, "3.00")])
    stored_order(memory_store, at, "unpaid", [(pen, 9, "9.00")])
    day = date(2026, 11, 21)
    rows, totals = sales(memory_store, day, day, "product")
    assert [(r["sku"], r["orders"], r["items_sold"], r["revenue"], r["refunds"], r["net"]) for r in rows] == [
        ("TEA", 2, 3, "6.00", "2.00", "4.00"), ("PEN", 1, 3, "3.00", "3.00", "0.00"),
        ("COLA", 1, 1, "1.50", "0.00", "1.50")]
    rows, _ = sales(memory_store, day, day, "category")
    assert [(r["category"], r["orders"], r["items_sold"], r["revenue"]) for r in rows] == [
        ("drinks", 2, 4, "7.50"), (None, 1, 3, "3.00")]
    assert totals["revenue"] == "10.50"


def test_a_category_is_the_products_current_one(memory_store):
    tea = add_product(memory_store, category="drinks", price="2.00")
    stored_order(memory_store, "2026-11-21T10:00:00Z", "paid", [(tea, 1, "2.00")])
    run(memory_store, lambda uow: uow.products.update({**uow.products.get(tea["id"]), "category": "tea"}))
    rows, _ = sales(memory_store, date(2026, 11, 21), date(2026, 11, 21), "category")
    assert [r["category"] for r in rows] == ["tea"]


def test_dashboard_has_thirty_days_that_sum_to_the_month_and_counts_that_agree(memory_store):
    now = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)  # already the 22nd in Berlin
    low = add_product(memory_store, stock=2, low_stock_threshold=5, price="3.00", cost="1.00")
    add_product(memory_store, stock=0, price="4.00")
    add_product(memory_store, stock=7, price="1.00", status="archived")
    stored_order(memory_store, "2026-11-21T23:10:00Z", "paid", [(low, 1, "3.00")])
    stored_order(memory_store, "2026-11-21T12:00:00Z", "refunded", [(low, 2, "6.00")])
    stored_order(memory_store, "2026-10-23T12:00:00Z", "paid", [(low, 1, "3.00")])  # 30 days back: out
    board = read(memory_store, lambda uow: reports.dashboard(uow, "Europe/Berlin", "EUR", now))
    assert board["date"] == "2026-11-22"
    assert board["today"] == {"orders": 1, "items_sold": 1, "revenue": "3.00", "refunds": "0.00", "net": "3.00"}
    assert (board["last_30_days"]["since"], board["last_30_days"]["until"]) == ("2026-10-24", "2026-11-22")
    assert board["last_30_days"]["revenue"] == "9.00" and board["last_30_days"]["refunds"] == "6.00"
    days = board["sales_by_day"]
    assert len(days) == 30 and days[0]["date"] == "2026-10-24" and days[-1]["date"] == "2026-11-22"
    assert sum(d["orders"] for d in days) == board["last_30_days"]["orders"] == 2
    assert set(board["orders_by_status"]) == set(reports.ORDER_STATUSES)
    assert board["orders_by_status"]["paid"] == 2 and board["orders_by_status"]["cancelled"] == 1
    assert (board["low_stock_count"], board["out_of_stock_count"]) == (1, 1)
    assert (board["stock_value_cost"], board["stock_value_retail"]) == ("2.00", "13.00")
    assert [p["product_id"] for p in board["top_products"]] == [low["id"]]
    assert len(board["recent_orders"]) == 3


def test_valuation_as_of_a_day_takes_each_products_last_movement_by_then(memory_store):
    tea = add_product(memory_store, stock=4, price="2.00", cost="1.50")
    movements = read(memory_store, lambda uow: uow.movements.for_product(tea["id"]))
    opened = movements[0]["created_at"][:10]
    rows, totals = read(memory_store, lambda uow: reports.valuation(
        uow, as_of=date.fromisoformat(opened), tz="UTC"))
    assert [(r["stock"], r["value_cost"], r["value_retail"]) for r in rows] == [(4, "6.00", "8.00")]
    rows, totals = read(memory_store, lambda uow: reports.valuation(uow, as_of=date(2020, 1, 1), tz="UTC"))
    assert rows == [] and totals["products"] == 0


def test_stock_levels_are_out_at_zero_low_at_or_below_the_threshold_else_ok(memory_store):
    add_product(memory_store, sku="A", stock=0)
    add_product(memory_store, sku="B", stock=5, low_stock_threshold=5)
    add_product(memory_store, sku="C", stock=6, low_stock_threshold=5)
    add_product(memory_store, sku="D", stock=0, status="archived")
    rows, totals = read(memory_store, lambda uow: reports.stock_levels(uow))
    assert [(r["sku"], r["status"], r["on_order"]) for r in rows] == [
        ("A", "out", 0), ("B", "low", 0), ("C", "ok", 0)]
    assert totals == {"ok": 1, "low": 1, "out": 1}
