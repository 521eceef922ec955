"""Reports over HTTP (section 15): the dashboard, the four reports, CSV out of them and of the lists,
roles, and products in from a spreadsheet — on both backends."""
import csv
import io
from decimal import Decimal

import pytest

from tests.factories import assert_problem, create_delivery, create_product, pay, place_order

REPORTS = ("/api/reports/inventory-valuation", "/api/reports/stock-levels", "/api/reports/sales",
           "/api/reports/transaction-history")
EVERYONE = ("/api/dashboard", "/api/reports/stock-levels", "/api/reports/transaction-history")
MANAGERS = ("/api/reports/inventory-valuation", "/api/reports/sales")
LISTS = ("/api/products", "/api/books", "/api/orders", "/api/stock-movements", "/api/deliveries")


def parse_csv(resp):
    """(header, rows as dicts) of a CSV answer, read back by Python's csv module."""
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = resp.get_data(as_text=True)
    assert not text.startswith("\ufeff")
    records = list(csv.reader(io.StringIO(text, newline="")))
    header = records[0]
    return header, [dict(zip(header, r)) for r in records[1:]]


@pytest.fixture
def shop(client, auth):
    """Two products, a paid order, a refunded one, an unpaid one, an unpaid cancelled one."""
    manager = auth["manager"]
    book = create_product(client, manager, sku="BK-1", title="=SUM(A1)", price="12.50", cost="7.00",
                          category="books", stock=20, kind="book")
    tote = create_product(client, manager, sku="TOTE", title="Tote, large", price="5.00", stock=3)
    paid = place_order(client, manager, [(book, 2), (tote, 1)])
    pay(client, manager, paid)
    refunded = place_order(client, manager, [(book, 1)])
    pay(client, manager, refunded)
    assert client.post(f"/api/orders/{refunded['id']}/cancel", json={"reason": "damaged"},
                       headers=manager).status_code == 200
    unpaid = place_order(client, manager, [(tote, 1)])
    dropped = place_order(client, manager, [(book, 4)])
    assert client.post(f"/api/orders/{dropped['id']}/cancel", headers=manager).status_code == 200
    return {"book": book, "tote": tote, "paid": paid, "refunded": refunded, "unpaid": unpaid}


# ---- roles ------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "manager", "clerk", "viewer"])
def test_every_staff_role_reads_the_dashboard_stock_levels_and_history(client, auth, role):
    for path in EVERYONE:
        assert client.get(path, headers=auth[role]).status_code == 200, path
        assert_problem(client.get(path), 401)


@pytest.mark.parametrize("role, status", [("admin", 200), ("manager", 200), ("clerk", 403), ("viewer", 403)])
def test_only_managers_and_admins_read_valuation_and_sales(client, auth, role, status):
    for path in MANAGERS:
        assert client.get(path, headers=auth[role]).status_code == status, path
        assert client.get(f"{path}?format=csv", headers=auth[role]).status_code == status, path
        assert_problem(client.get(path), 401)


@pytest.mark.parametrize("role, status", [("admin", 200), ("manager", 200), ("clerk", 403), ("viewer", 403)])
def test_only_managers_and_admins_import_products(client, auth, role, status):
    resp = client.post("/api/products/import", data="sku,title,price\r\nNEW,New,1.00\r\n",
                       headers={**auth[role], "Content-Type": "text/csv"})
    assert resp.status_code == status
    assert_problem(client.post("/api/products/import", data="sku\r\n",
                               headers={"Content-Type": "text/csv"}), 401)


# ---- the dashboard ------------------------------------------------------------------------------

def test_dashboard_figures_follow_the_rule_and_agree_with_the_other_answers(client, auth, shop):
    board = client.get("/api/dashboard", headers=auth["viewer"]).get_json()
    # sales: the paid order (30.00, 3 items) and the refunded one (12.50, 1 item)
    assert board["today"] == {"orders": 2, "items_sold": 4, "revenue": "42.50", "refunds": "12.50",
                              "net": "30.00"}
    month = board["last_30_days"]
    assert {k: month[k] for k in ("orders", "items_sold", "revenue", "refunds", "net")} == board["today"]
    days = board["sales_by_day"]
    assert len(days) == 30 and days[-1]["date"] == board["date"] == month["until"]
    assert days[0]["date"] == month["since"]
    assert sum(Decimal(d["revenue"]) for d in days) == Decimal(month["revenue"])
    assert board["orders_by_status"] == {"pending": 1, "paid": 1, "shipped": 0, "delivered": 0,
                                         "completed": 0, "cancelled": 2}
    low = client.get("/api/inventory/low-stock", headers=auth["viewer"]).get_json()
    assert board["low_stock_count"] + board["out_of_stock_count"] == low["total"]
    valuation = client.get("/api/reports/inventory-valuation", headers=auth["manager"]).get_json()
    assert board["stock_value_cost"] == valuation["totals"]["value_cost"]
    assert board["stock_value_retail"] == valuation["totals"]["value_retail"]
    assert [p["sku"] for p in board["top_products"]] == ["BK-1", "TOTE"]
    newest = client.get("/api/orders?limit=5", headers=auth["viewer"]).get_json()["items"]
    assert board["recent_orders"] == newest
    assert board["currency"] == "EUR"


# ---- the reports --------------------------------------------------------------------------------

def test_sales_rows_sum_exactly_to_their_totals_for_every_grouping(client, auth, shop):
    for group_by in ("day", "week", "month", "product", "category"):
        body = client.get(f"/api/reports/sales?group_by={group_by}&limit=200",
                          headers=auth["manager"]).get_json()
        assert body["group_by"] == group_by and body["currency"] == "EUR"
        assert body["totals"]["revenue"] == "42.50" and body["totals"]["refunds"] == "12.50"
        for figure in ("revenue", "refunds", "net"):
            assert sum(Decimal(r[figure]) for r in body["items"]) == Decimal(body["totals"][figure])
        assert sum(r["items_sold"] for r in body["items"]) == body["totals"]["items_sold"]
    by_day = client.get("/api/reports/sales?limit=200", headers=auth["manager"]).get_json()
    assert by_day["total"] == 30 and sum(r["orders"] for r in by_day["items"]) == 2


def test_sales_report_refuses_timestamps_reversed_ranges_and_unknown_groupings(client, auth):
    manager = auth["manager"]
    assert "since" in assert_problem(client.get("/api/reports/sales?since=2026-11-21T10:00:00Z",
                                                headers=manager), 400, "validation_error")["errors"]
    assert "since" in assert_problem(client.get("/api/reports/sales?since=2026-11-22&until=2026-11-21",
                                                headers=manager), 400)["errors"]
    assert "group_by" in assert_problem(client.get("/api/reports/sales?group_by=year",
                                                   headers=manager), 400)["errors"]
    body = client.get("/api/reports/sales?since=2026-11-01&until=2026-11-03&sort=-period",
                      headers=manager).get_json()
    assert [r["period"] for r in body["items"]] == ["2026-11-03", "2026-11-02", "2026-11-01"]
    assert (body["since"], body["until"]) == ("2026-11-01", "2026-11-03")


def test_valuation_lists_stock_at_cost_and_retail_groups_by_category_and_checks_as_of(client, auth, shop):
    manager = auth["manager"]
    body = client.get("/api/reports/inventory-valuation", headers=manager).get_json()
    # BK-1: 20 - 2 (paid) = 18 (the refund and the cancel put theirs back); TOTE: 3 - 1 - 1 = 1
    assert [(r["sku"], r["stock"], r["value_cost"], r["value_retail"]) for r in body["items"]] == [
        ("BK-1", 18, "126.00", "225.00"), ("TOTE", 1, None, "5.00")]
    assert body["totals"] == {"products": 2, "stock": 19, "value_cost": "126.00",
                              "value_retail": "230.00", "missing_cost": 1}
    assert body["as_of"] is None
    grouped = client.get("/api/reports/inventory-valuation?group_by=category", headers=manager).get_json()
    assert [r["category"] for r in grouped["items"]] == ["books", None]
    assert grouped["totals"] == body["totals"]
    today = client.get("/api/dashboard", headers=manager).get_json()["date"]
    as_of = client.get(f"/api/reports/inventory-valuation?as_of={today}", headers=manager).get_json()
    assert as_of["totals"] == body["totals"] and as_of["as_of"] == today
    early = client.get("/api/reports/inventory-valuation?as_of=2001-01-01", headers=manager).get_json()
    assert early["items"] == [] and early["totals"]["products"] == 0
    for bad in ("2999-01-01", "yesterday", "2026-11-21T10:00:00Z"):
        errors = assert_problem(client.get(f"/api/reports/inventory-valuation?as_of={bad}",
                                           headers=manager), 400, "validation_error")["errors"]
        assert "as_of" in errors


def test_valuation_per_location_values_what_each_room_holds(client, auth, shop):
    admin, manager = auth["admin"], auth["manager"]
    main = client.get("/api/locations?is_default=true", headers=admin).get_json()["items"][0]
    back = client.post("/api/locations", json={"name": "Back room", "code": "BACK"}, headers=admin).get_json()
    book = next(p for p in client.get("/api/products", headers=manager).get_json()["items"] if p["sku"] == "BK-1")
    transfer = client.post("/api/transfers", headers=manager, json={
        "from_location_id": main["id"], "to_location_id": back["id"],
        "lines": [{"product_id": book["id"], "quantity": 8}]}).get_json()
    done = client.post(f"/api/transfers/{transfer['id']}/complete", headers=manager)
    assert done.status_code == 200, done.get_json()
    whole = client.get("/api/reports/inventory-valuation", headers=manager).get_json()
    in_back = client.get(f"/api/reports/inventory-valuation?location_id={back['id']}", headers=manager).get_json()
    assert [(r["sku"], r["stock"], r["value_cost"], r["value_retail"]) for r in in_back["items"]] == [
        ("BK-1", 8, "56.00", "100.00")]
    assert in_back["location_id"] == back["id"] and in_back["totals"]["stock"] == 8
    by_room = client.get("/api/reports/inventory-valuation?group_by=location", headers=manager).get_json()
    assert [(r["code"], r["name"], r["products"], r["stock"], r["value_retail"]) for r in by_room["items"]] == [
        ("BACK", "Back room", 1, 8, "100.00"), ("MAIN", main["name"], 2, 11, "130.00")]
    assert by_room["totals"] == whole["totals"]  # the totals never depend on group_by
    one_room = client.get(f"/api/reports/inventory-valuation?group_by=location&location_id={main['id']}",
                          headers=manager).get_json()
    assert [r["code"] for r in one_room["items"]] == ["MAIN"]
    csv_text = client.get("/api/reports/inventory-valuation?group_by=location&format=csv",
                          headers=manager).get_data(as_text=True)
    assert csv_text.splitlines()[0] == "location_id,code,name,products,stock,value_cost,value_retail,missing_cost"
    for bad, field in ((f"location_id=nope", "location_id"), (f"group_by=location&as_of=2026-01-01", "as_of")):
        errors = assert_problem(client.get(f"/api/reports/inventory-valuation?{bad}", headers=manager),
                                400, "validation_error")["errors"]
        assert field in errors


def test_stock_levels_filter_by_status_and_total_every_matching_row(client, auth, shop):
    create_product(client, auth["manager"], sku="GONE", stock=0)
    body = client.get("/api/reports/stock-levels?limit=1", headers=auth["clerk"]).get_json()
    assert body["total"] == 3 and len(body["items"]) == 1 and body["items"][0]["sku"] == "BK-1"
    assert body["totals"] == {"ok": 1, "low": 1, "out": 1}
    short = client.get("/api/reports/stock-levels?status=low,out", headers=auth["clerk"]).get_json()
    assert [(r["sku"], r["status"], r["on_order"]) for r in short["items"]] == [("GONE", "out", 0),
                                                                                ("TOTE", "low", 0)]
    assert_problem(client.get("/api/reports/stock-levels?status=fine", headers=auth["clerk"]), 400)


def test_transaction_history_names_products_and_people_and_totals_in_and_out(client, auth, shop, users):
    body = client.get("/api/reports/transaction-history?q=tote&limit=1", headers=auth["viewer"]).get_json()
    # TOTE: opening +3, two sales -1 each
    assert body["total"] == 3 and len(body["items"]) == 1
    assert body["totals"] == {"movements": 3, "quantity_in": 3, "quantity_out": 2, "net": 1}
    row = body["items"][0]
    assert (row["sku"], row["title"], row["username"]) == ("TOTE", "Tote, large",
                                                     "manager")
    assert row["user_id"] == users["manager"]["id"]
    sales = client.get("/api/reports/transaction-history?reason=sale,order_cancelled",
                       headers=auth["viewer"]).get_json()
    assert {r["reason"] for r in sales["items"]} == {"sale", "order_cancelled"}
    ledger = client.get("/api/stock-movements?limit=200", headers=auth["viewer"]).get_json()["items"]
    everything = client.get("/api/reports/transaction-history?limit=200", headers=auth["viewer"]).get_json()
    assert [r["id"] for r in everything["items"]] == [m["id"] for m in ledger]


# ---- CSV out -------------------------------------------------------------------------------------

def test_every_list_answers_csv_with_its_columns_every_row_and_a_dated_filename(client, auth, shop):
    create_delivery(client, auth["manager"], shop["unpaid"], address="1 High St, Bath")
    today = client.get("/api/dashboard", headers=auth["viewer"]).get_json()["date"]
    for path in LISTS:
        json_total = client.get(path, headers=auth["viewer"]).get_json()["total"]
        resp = client.get(f"{path}?format=csv&limit=1", headers=auth["viewer"])
        header, rows = parse_csv(resp)
        name = path.rsplit("/", 1)[1]
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{name}-{today}.csv"'
        assert len(rows) == json_total, path
    header, rows = parse_csv(client.get("/api/orders?format=csv", headers=auth["viewer"]))
    assert header[:9] == ["id", "number", "status", "payment_status", "customer_name", "customer_email",
                          "customer_phone", "customer_id", "lines"]
    paid = next(r for r in rows if r["id"] == shop["paid"]["id"])
    assert (paid["lines"], paid["items_sold"], paid["total"], paid["payment_method"]) == (
        "2 x BK-1; 1 x TOTE", "3", "30.00", "cash")
    assert header[-9:] == ["location_id", "channel", "shipping_address_name", "shipping_address_line1",
                           "shipping_address_line2", "shipping_address_city",
                           "shipping_address_postal_code", "shipping_address_country", "hold_expires_at"]
    assert paid["channel"] == "staff" and paid["location_id"] and paid["shipping_address_city"] == ""
    header, rows = parse_csv(client.get("/api/deliveries?format=csv", headers=auth["viewer"]))
    assert header[6:12] == ["address_name", "address_line1", "address_line2", "address_city",
                            "address_postal_code", "address_country"]
    assert rows[0]["address_line1"] == "1 High St, Bath"


def test_csv_cells_are_rfc_4180_guarded_against_formulas_and_null_empty(client, auth, shop):
    resp = client.get("/api/stock-movements?format=csv", headers=auth["viewer"])
    raw = resp.get_data(as_text=True)
    assert raw.endswith("\r\n") and "\r\n" in raw.split("\n", 1)[0] + "\n"
    header, rows = parse_csv(resp)
    assert header == ["id", "product_id", "delta", "stock_after", "reason", "ref", "note", "user_id",
                      "created_at", "location_id", "location_stock_after"]
    assert all(r["location_id"] for r in rows)  # every movement is in a room of the shop
    assert "-2" in {r["delta"] for r in rows}  # numbers are never guarded
    header, rows = parse_csv(client.get("/api/products?format=csv", headers=auth["viewer"]))
    by_sku = {r["sku"]: r for r in rows}
    assert by_sku["BK-1"]["title"] == "'=SUM(A1)"
    assert by_sku["TOTE"]["title"] == "Tote, large"
    assert by_sku["TOTE"]["cost"] == ""
    assert '"Tote, large"' in client.get("/api/products?format=csv", headers=auth["viewer"]).get_data(as_text=True)


def test_csv_is_chosen_by_accept_and_another_format_is_refused(client, auth, shop):
    resp = client.get("/api/reports/stock-levels", headers={**auth["viewer"], "Accept": "text/csv"})
    assert parse_csv(resp)[0][0] == "product_id"
    resp = client.get("/api/reports/stock-levels?format=json",
                      headers={**auth["viewer"], "Accept": "text/csv"})
    assert resp.mimetype == "application/json"
    for path in (*LISTS, *REPORTS):
        errors = assert_problem(client.get(f"{path}?format=xml", headers=auth["admin"]), 400,
                                "validation_error")["errors"]
        assert "format" in errors


def test_every_report_answers_csv_with_its_row_fields_and_no_totals_line(client, auth, shop):
    for path in REPORTS:
        body = client.get(f"{path}?limit=200", headers=auth["admin"]).get_json()
        header, rows = parse_csv(client.get(f"{path}?format=csv&limit=1", headers=auth["admin"]))
        assert len(rows) == body["total"], path
        assert header == list(body["items"][0]), path
        assert [r[header[0]] for r in rows] == [str(i[header[0]]) for i in body["items"]]


def test_anonymous_products_export_has_no_cost_column(client, shop):
    header, rows = parse_csv(client.get("/api/products?format=csv"))
    assert "cost" not in header and {r["status"] for r in rows} == {"active"}
    assert_problem(client.get("/api/orders?format=csv"), 401)


# ---- CSV in ----------------------------------------------------------------------------------------

def _import(client, headers, text, dry_run=False, content_type="text/csv"):
    path = "/api/products/import" + ("?dry_run=true" if dry_run else "")
    return client.post(path, data=text.encode("utf-8") if isinstance(text, str) else text,
                       headers={**headers, "Content-Type": content_type})


def _catalog(client, auth):
    return client.get("/api/products?limit=200", headers=auth["admin"]).get_json()["items"]


def test_an_export_imported_again_changes_nothing(client, auth, shop):
    before = _catalog(client, auth)
    exported = client.get("/api/products?format=csv", headers=auth["manager"]).get_data()
    resp = _import(client, auth["manager"], exported)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"dry_run": False, "rows": 2, "created": 0, "updated": 0,
                               "unchanged": 2, "row_errors": []}
    assert _catalog(client, auth) == before


def test_import_creates_and_updates_by_sku_in_one_go(client, auth, shop):
    text = ("sku,title,price,stock,category,cost\r\n"
            "NEW-1,New thing,3.00,4,gifts,\r\n"
            "BK-1,,12.5,18,novels,7\r\n"      # price and cost the same as decimals
            "TOTE,Tote bag,5.00,,,\r\n")
    version = {p["sku"]: p["version"] for p in _catalog(client, auth)}
    resp = _import(client, auth["manager"], text)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["created"] == 1 and resp.get_json()["updated"] == 2
    products = {p["sku"]: p for p in _catalog(client, auth)}
    assert (products["NEW-1"]["stock"], products["NEW-1"]["cost"], products["NEW-1"]["category"]) == (4, None, "gifts")
    assert (products["BK-1"]["category"], products["BK-1"]["title"], products["BK-1"]["version"]) == (
        "novels", "=SUM(A1)", version["BK-1"] + 1)
    assert (products["TOTE"]["title"], products["TOTE"]["category"]) == ("Tote bag", None)
    opening = client.get(f"/api/stock-movements?product_id={products['NEW-1']['id']}",
                         headers=auth["viewer"]).get_json()["items"]
    assert [(m["reason"], m["delta"]) for m in opening] == [("opening", 4)]


def test_any_row_error_imports_nothing_and_names_every_row(client, auth, shop):
    before = _catalog(client, auth)
    text = ("sku,title,price,stock,barcode\r\n"
            "OK-1,Fine,1.00,1,\r\n"
            "BK-1,,12.50,99,\r\n"            # stock moves only by adjustments
            "NO-TITLE,,2.00,,\r\n"           # a new product needs a title
            "OK-1,Again,1.00,1,\r\n"         # a sku twice in the file
            "SHORT,row\r\n"                  # the wrong width
            "BAD-ISBN,\"Quoted,\nline\",x,1,\r\n")
    for dry_run in (True, False):
        body = assert_problem(_import(client, auth["manager"], text, dry_run), 400, "validation_error")
        assert [(e["row"], e["field"]) for e in body["row_errors"]] == [
            (3, "stock"), (4, "title"), (5, "sku"), (6, None), (7, "price")]
        assert "rows.3.stock" in body["errors"] and "rows.6" in body["errors"]
        assert (body["rows"], body["created"], body["dry_run"]) == (6, 1, dry_run)
    assert _catalog(client, auth) == before


def test_a_dry_run_answers_as_the_import_would_and_writes_nothing(client, auth, shop):
    before = _catalog(client, auth)
    resp = _import(client, auth["manager"], "sku,title,price\r\nDRY,Dry run,1.00\r\n", dry_run=True)
    assert resp.get_json() == {"dry_run": True, "rows": 1, "created": 1, "updated": 0, "unchanged": 0,
                               "row_errors": []}
    assert _catalog(client, auth) == before


def test_import_refuses_bad_columns_too_many_rows_and_other_content_types(client, auth, app_with):
    manager = auth["manager"]
    for header in ("title,price", "sku,colour", "sku,sku"):
        errors = assert_problem(_import(client, manager, f"{header}\r\n"), 400, "validation_error")["errors"]
        assert "columns" in errors
    assert_problem(client.post("/api/products/import", json={"sku": "X"}, headers=manager), 415)
    small = app_with(IMPORT_MAX_ROWS=2).test_client()
    resp = _import(small, manager, "sku,title,price\r\nA,a,1\r\nB,b,1\r\nC,c,1\r\n")
    assert_problem(resp, 413, "too_many_rows")


def test_import_reads_a_multipart_file_and_skips_a_bom(client, auth):
    data = {"file": (io.BytesIO("\ufeffsku,title,price\r\nUP-1,Uploaded,2.00\r\n".encode()), "p.csv")}
    resp = client.post("/api/products/import", data=data, headers=auth["admin"],
                       content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["created"] == 1


def test_an_id_must_name_the_product_with_that_sku(client, auth, shop):
    text = f"id,sku,title,price\r\n{shop['tote']['id']},BK-1,Book,12.50\r\n"
    body = assert_problem(_import(client, auth["manager"], text), 400)
    assert [(e["row"], e["field"]) for e in body["row_errors"]] == [(2, "sku")]


# ---- the page ---------------------------------------------------------------------------------------

def test_the_dashboard_page_is_served_with_a_same_origin_policy(client):
    assert client.get("/dashboard").status_code in (301, 308)
    resp = client.get("/dashboard/")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    policy = resp.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'self';") and "unsafe-inline" not in policy
    assert "http" not in policy  # nothing from another origin
    assert b'name="viewport"' in resp.data
    assert client.get("/dashboard/app.js").headers["Content-Security-Policy"] == policy
    assert client.get("/dashboard/../app/__init__.py").status_code == 404
