"""The inventory blueprint over HTTP: products and books, codes, stock adjustments, the ledger, receiving."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.factories import assert_problem, book_body, create_product, place_order, product_body

STAFF = ("admin", "manager", "clerk", "viewer")
WRITERS = ("admin", "manager")
NOT_WRITERS = ("clerk", "viewer")


def _movements(client, auth, **params):
    resp = client.get("/api/stock-movements", query_string=params, headers=auth["viewer"])
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _ledger_sum(client, auth, product_id):
    return sum(m["delta"] for m in _movements(client, auth, product_id=product_id, limit=200)["items"])


# ---- products: create, read, edit, archive --------------------------------

def test_create_product_is_201_with_location_and_every_field(client, auth):
    resp = client.post("/api/products", headers=auth["manager"], json=product_body(
        sku="MUG-1", title="Mug", price=8.5, cost="3", stock=4, category="kitchen",
        low_stock_threshold=2))
    assert resp.status_code == 201
    product = resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/products/{product['id']}")
    assert resp.headers["ETag"] == '"1"'
    assert set(product) == {"id", "sku", "title", "kind", "author", "isbn", "barcode", "description",
                            "category_id", "category", "price", "cost", "stock", "low_stock_threshold",
                            "on_order", "reorder_quantity", "status", "review", "images", "created_at", "updated_at",
                            "version"}
    assert (product["price"], product["cost"], product["stock"], product["kind"],
            product["status"]) == ("8.50", "3.00", 4, "general", "active")
    assert client.get(resp.headers["Location"], headers=auth["viewer"]).get_json() == product


def test_opening_stock_is_in_the_ledger(client, auth):
    product = create_product(client, auth["manager"], stock=6)
    moves = _movements(client, auth, product_id=product["id"])["items"]
    assert [(m["delta"], m["reason"], m["stock_after"], m["ref"]) for m in moves] == [
        (6, "opening", 6, None)]


@pytest.mark.parametrize("missing", ["sku", "title", "price"])
def test_sku_title_and_price_are_required(client, auth, missing):
    body = product_body()
    del body[missing]
    resp = client.post("/api/products", json=body, headers=auth["manager"])
    assert missing in assert_problem(resp, 400, "validation_error")["errors"]


@pytest.mark.parametrize("field,value", [("price", "abc"), ("price", "1.234"), ("price", -1),
                                         ("stock", -1), ("stock", 1.5), ("kind", "food"),
                                         ("status", "gone"), ("low_stock_threshold", "5"),
                                         ("stock", 10**30), ("low_stock_threshold", 2**63),
                                         ("stock", 1_000_000_001)])
def test_invalid_product_fields_are_400_per_field(client, auth, field, value):
    resp = client.post("/api/products", json=product_body(**{field: value}), headers=auth["manager"])
    assert field in assert_problem(resp, 400, "validation_error")["errors"]
    listed = client.get("/api/products", headers=auth["manager"]).get_json()
    assert listed["total"] == 0  # nothing was stored


def test_stock_and_threshold_up_to_a_billion_are_stored_exactly(client, auth):
    product = create_product(client, auth["manager"], stock=1_000_000_000,
                             low_stock_threshold=1_000_000_000)
    again = client.get(f"/api/products/{product['id']}", headers=auth["manager"]).get_json()
    assert (again["stock"], again["low_stock_threshold"]) == (1_000_000_000, 1_000_000_000)


def test_unknown_product_field_is_400(client, auth):
    resp = client.post("/api/products", json=product_body(colour="red"), headers=auth["manager"])
    assert "colour" in assert_problem(resp, 400, "validation_error")["errors"]


def test_read_only_fields_in_a_body_are_ignored(client, auth):
    resp = client.post("/api/products", headers=auth["manager"], json=product_body(
        id="mine", version=7, created_at="2000-01-01T00:00:00Z", updated_at="x"))
    assert resp.status_code == 201
    product = resp.get_json()
    assert product["id"] != "mine" and product["version"] == 1
    assert product["created_at"] != "2000-01-01T00:00:00Z"


def test_isbn10_with_hyphens_is_stored_as_isbn13(client, auth):
    book = create_product(client, auth["manager"], kind="book", isbn="0-14-143951-3")
    assert book["isbn"] == "9780141439518"


def test_book_barcode_defaults_to_its_isbn13(client, auth):
    book = create_product(client, auth["manager"], kind="book", isbn="0141439513")
    assert book["barcode"] == "9780141439518"


def test_bad_isbn_is_400(client, auth):
    resp = client.post("/api/products", json=book_body(isbn="9780141439519"), headers=auth["manager"])
    assert "isbn" in assert_problem(resp, 400, "validation_error")["errors"]


def test_bad_ean_check_digit_is_400(client, auth):
    resp = client.post("/api/products", json=product_body(barcode="4006381333932"),
                       headers=auth["manager"])
    assert "barcode" in assert_problem(resp, 400, "validation_error")["errors"]


def test_duplicate_sku_is_409(client, auth):
    create_product(client, auth["manager"], sku="MUG-1")
    resp = client.post("/api/products", json=product_body(sku="mug-1"), headers=auth["manager"])
    assert "sku" in assert_problem(resp, 409, "duplicate_sku")["errors"]


def test_duplicate_barcode_is_409(client, auth):
    create_product(client, auth["manager"], barcode="4006381333931")
    resp = client.post("/api/products", json=product_body(barcode="4006381333931"),
                       headers=auth["manager"])
    assert_problem(resp, 409, "duplicate_barcode")
    second_book = client.post("/api/products", json=book_body(isbn="9780141439518"),
                              headers=auth["manager"])
    assert second_book.status_code == 201
    same_isbn = client.post("/api/products", json=book_body(isbn="0141439513"), headers=auth["manager"])
    assert same_isbn.status_code == 409


def test_duplicate_isbn_is_409_even_under_another_barcode(client, auth):
    create_product(client, auth["manager"], kind="book", isbn="9780141439518")
    resp = client.post("/api/products", headers=auth["manager"],
                       json=book_body(isbn="0141439513", barcode="SHOP-2"))
    assert "isbn" in assert_problem(resp, 409, "duplicate_isbn")["errors"]


def test_patch_changes_only_the_fields_sent(client, auth):
    product = create_product(client, auth["manager"], title="Mug", price="8.00", category="kitchen")
    resp = client.patch(f"/api/products/{product['id']}", json={"price": "9.5"}, headers=auth["manager"])
    assert resp.status_code == 200
    changed = resp.get_json()
    assert (changed["price"], changed["title"], changed["category"]) == ("9.50", "Mug", "kitchen")
    assert changed["version"] == 2 and resp.headers["ETag"] == '"2"'
    assert changed["updated_at"] >= product["updated_at"]


def test_put_replaces_the_writable_fields(client, auth):
    product = create_product(client, auth["manager"], category="kitchen", description="Blue", stock=3)
    resp = client.put(f"/api/products/{product['id']}", headers=auth["manager"],
                      json={"sku": product["sku"], "title": "Plain mug", "price": "7.00"})
    assert resp.status_code == 200
    replaced = resp.get_json()
    assert (replaced["title"], replaced["category"], replaced["description"], replaced["stock"]) == (
        "Plain mug", None, None, 3)


def test_put_needs_the_required_fields(client, auth):
    product = create_product(client, auth["manager"])
    resp = client.put(f"/api/products/{product['id']}", json={"title": "No sku"}, headers=auth["manager"])
    assert_problem(resp, 400, "validation_error")


def test_stock_is_read_only_after_create(client, auth):
    product = create_product(client, auth["manager"], stock=5)
    url = f"/api/products/{product['id']}"
    resp = client.patch(url, json={"stock": 50}, headers=auth["manager"])
    assert "stock" in assert_problem(resp, 400, "validation_error")["errors"]
    put = client.put(url, json={**{k: product[k] for k in ("sku", "title", "price")}, "stock": 6},
                     headers=auth["manager"])
    assert_problem(put, 400, "validation_error")
    same = client.patch(url, json={"stock": 5, "title": "Same stock"}, headers=auth["manager"])
    assert same.status_code == 200
    assert client.get(url, headers=auth["viewer"]).get_json()["stock"] == 5


def test_patch_with_a_duplicate_sku_is_409(client, auth):
    create_product(client, auth["manager"], sku="A-1")
    other = create_product(client, auth["manager"], sku="B-1")
    resp = client.patch(f"/api/products/{other['id']}", json={"sku": "A-1"}, headers=auth["manager"])
    assert_problem(resp, 409, "duplicate_sku")


def test_delete_archives_and_keeps_history(client, auth):
    product = create_product(client, auth["manager"], stock=3)
    resp = client.delete(f"/api/products/{product['id']}", headers=auth["manager"])
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "archived"
    assert client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).status_code == 200
    assert _ledger_sum(client, auth, product["id"]) == 3
    back = client.patch(f"/api/products/{product['id']}", json={"status": "active"},
                        headers=auth["manager"])
    assert back.get_json()["status"] == "active"


def test_stale_if_match_is_412_on_put_patch_and_delete(client, auth):
    product = create_product(client, auth["manager"])
    url = f"/api/products/{product['id']}"
    stale = {**auth["manager"], "If-Match": '"1"'}
    assert client.patch(url, json={"title": "v2"}, headers=stale).status_code == 200
    assert_problem(client.patch(url, json={"title": "v3"}, headers=stale), 412, "precondition_failed")
    assert_problem(client.put(url, json={"sku": product["sku"], "title": "v3", "price": "1"},
                              headers=stale), 412)
    assert_problem(client.delete(url, headers=stale), 412)
    assert client.get(url, headers=auth["viewer"]).get_json()["title"] == "v2"
    assert client.delete(url, headers={**auth["manager"], "If-Match": '"2"'}).status_code == 200


def test_unknown_product_is_404(client, auth):
    assert_problem(client.get("/api/products/nope", headers=auth["viewer"]), 404, "not_found")
    assert_problem(client.patch("/api/products/nope", json={"title": "x"}, headers=auth["manager"]), 404)
    assert_problem(client.delete("/api/products/nope", headers=auth["manager"]), 404)


# ---- who may read and write ----------------------------------------------

@pytest.mark.parametrize("role", WRITERS)
def test_admins_and_managers_write_the_catalog(client, auth, role):
    product = create_product(client, auth[role], stock=2)
    url = f"/api/products/{product['id']}"
    assert client.patch(url, json={"title": "x"}, headers=auth[role]).status_code == 200
    assert client.post(f"{url}/adjustments", json={"delta": 1, "reason": "count"},
                       headers=auth[role]).status_code == 201
    assert client.post("/api/inventory/receive", json={"code": product["sku"]},
                       headers=auth[role]).status_code == 201
    assert client.delete(url, headers=auth[role]).status_code == 200


@pytest.mark.parametrize("role", NOT_WRITERS)
def test_clerks_and_viewers_may_not_write_the_catalog(client, auth, role):
    product = create_product(client, auth["manager"], stock=2)
    url = f"/api/products/{product['id']}"
    headers = auth[role]
    assert_problem(client.post("/api/products", json=product_body(), headers=headers), 403, "forbidden")
    assert_problem(client.patch(url, json={"title": "x"}, headers=headers), 403)
    assert_problem(client.put(url, json=product_body(), headers=headers), 403)
    assert_problem(client.delete(url, headers=headers), 403)
    assert_problem(client.post(f"{url}/adjustments", json={"delta": 1, "reason": "count"},
                               headers=headers), 403)
    assert_problem(client.post("/api/inventory/receive", json={"code": product["sku"]},
                               headers=headers), 403)
    assert client.get(url, headers=auth["viewer"]).get_json()["version"] == 1


def test_anonymous_callers_may_not_write_the_catalog(client, auth):
    product = create_product(client, auth["manager"])
    assert_problem(client.post("/api/products", json=product_body()), 401)
    assert_problem(client.patch(f"/api/products/{product['id']}", json={"title": "x"}), 401)
    assert_problem(client.post(f"/api/products/{product['id']}/adjustments",
                               json={"delta": 1, "reason": "count"}), 401)


@pytest.mark.parametrize("role", STAFF)
def test_every_staff_role_reads_archived_products_with_cost(client, auth, role):
    product = create_product(client, auth["manager"], cost="2.00")
    client.delete(f"/api/products/{product['id']}", headers=auth["manager"])
    one = client.get(f"/api/products/{product['id']}", headers=auth[role])
    assert one.status_code == 200 and one.get_json()["cost"] == "2.00"
    listed = client.get("/api/products?status=archived", headers=auth[role]).get_json()
    assert [p["id"] for p in listed["items"]] == [product["id"]]
    assert client.get("/api/stock-movements", headers=auth[role]).status_code == 200
    assert client.get("/api/inventory/low-stock", headers=auth[role]).status_code == 200


def test_anonymous_callers_read_active_products_without_cost(client, auth):
    active = create_product(client, auth["manager"], cost="2.00")
    archived = create_product(client, auth["manager"], cost="2.00")
    client.delete(f"/api/products/{archived['id']}", headers=auth["manager"])
    one = client.get(f"/api/products/{active['id']}")
    assert one.status_code == 200 and "cost" not in one.get_json()
    assert one.get_json()["price"] == "10.00"
    listed = client.get("/api/products").get_json()
    assert [p["id"] for p in listed["items"]] == [active["id"]]
    assert all("cost" not in p for p in listed["items"])
    assert_problem(client.get(f"/api/products/{archived['id']}"), 404)
    assert client.get("/api/products?status=archived").get_json()["items"] == []
    assert_problem(client.get("/api/stock-movements"), 401)
    assert_problem(client.get("/api/inventory/low-stock"), 401)


def test_private_catalog_refuses_anonymous_callers(app_with, auth):
    app = app_with(PUBLIC_CATALOG=False)
    client = app.test_client()
    product = create_product(client, auth["manager"])
    for url in ("/api/products", f"/api/products/{product['id']}", "/api/books"):
        resp = client.get(url)
        assert_problem(resp, 401)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/products", headers=auth["viewer"]).status_code == 200


def test_a_bad_token_on_a_public_read_is_401(client):
    assert_problem(client.get("/api/products", headers={"Authorization": "Bearer junk"}), 401)


# ---- lists ------------------------------------------------------------------

def test_product_filters_and_search(client, auth):
    m = auth["manager"]
    emma = create_product(client, m, kind="book", title="Emma", author="Jane Austen",
                          isbn="9780141439587", category="fiction")
    hobbit = create_product(client, m, kind="book", title="The Hobbit", author="J. R. R. Tolkien",
                            isbn="9780261102217", category="fiction", stock=1)
    mug = create_product(client, m, title="Mug", category="kitchen", sku="MUG-77")

    def ids(**params):
        resp = client.get("/api/products", query_string=params, headers=auth["viewer"])
        assert resp.status_code == 200, resp.get_json()
        return {p["id"] for p in resp.get_json()["items"]}

    assert ids(kind="book") == {emma["id"], hobbit["id"]}
    assert ids(category="kitchen") == {mug["id"]}
    assert ids(low_stock="true") == {hobbit["id"]}
    assert ids(q="tolkien") == {hobbit["id"]}
    assert ids(q="EMMA") == {emma["id"]}
    assert ids(q="0261102217") == {hobbit["id"]}
    assert ids(q="mug-7") == {mug["id"]}
    assert_problem(client.get("/api/products?kind=food", headers=auth["viewer"]), 400)


def test_products_sort_by_price_numerically(client, auth):
    for price in ("10.00", "9.00", "100.00"):
        create_product(client, auth["manager"], price=price)
    items = client.get("/api/products?sort=price", headers=auth["viewer"]).get_json()["items"]
    assert [p["price"] for p in items] == ["9.00", "10.00", "100.00"]
    items = client.get("/api/products?sort=-price", headers=auth["viewer"]).get_json()["items"]
    assert [p["price"] for p in items] == ["100.00", "10.00", "9.00"]
    assert_problem(client.get("/api/products?sort=colour", headers=auth["viewer"]), 400)


# ---- books ------------------------------------------------------------------

def test_books_endpoints_show_only_books(client, auth):
    book = create_product(client, auth["manager"], kind="book", isbn="9780141439518")
    mug = create_product(client, auth["manager"])
    listed = client.get("/api/books", headers=auth["viewer"]).get_json()
    assert [p["id"] for p in listed["items"]] == [book["id"]] and listed["total"] == 1
    assert client.get(f"/api/books/{book['id']}").get_json()["isbn"] == "9780141439518"
    assert_problem(client.get(f"/api/books/{mug['id']}", headers=auth["viewer"]), 404)
    assert "cost" not in client.get("/api/books").get_json()["items"][0]


# ---- adjustments and the ledger ---------------------------------------------

def test_adjustment_is_201_with_the_movement_and_changes_stock(client, auth, users):
    product = create_product(client, auth["manager"], stock=5)
    resp = client.post(f"/api/products/{product['id']}/adjustments", headers=auth["manager"],
                       json={"delta": -2, "reason": "damaged", "note": "dropped", "ref": "BOX-1"})
    assert resp.status_code == 201
    movement = resp.get_json()
    assert set(movement) == {"id", "product_id", "location_id", "delta", "stock_after",
                             "location_stock_after", "reason", "ref", "note", "user_id", "created_at"}
    assert movement["location_stock_after"] == 3
    assert (movement["delta"], movement["stock_after"], movement["reason"], movement["ref"],
            movement["note"], movement["user_id"]) == (-2, 3, "damaged", "BOX-1", "dropped",
                                                       users["manager"]["id"])
    after = client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).get_json()
    assert after["stock"] == 3 and after["version"] == 2
    assert _ledger_sum(client, auth, product["id"]) == 3


def test_adjustment_below_zero_is_409_and_changes_nothing(client, auth):
    product = create_product(client, auth["manager"], stock=2)
    resp = client.post(f"/api/products/{product['id']}/adjustments", headers=auth["manager"],
                       json={"delta": -3, "reason": "lost"})
    assert_problem(resp, 409, "insufficient_stock")
    assert client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).get_json()["stock"] == 2
    assert len(_movements(client, auth, product_id=product["id"])["items"]) == 1


@pytest.mark.parametrize("body,field", [({"delta": 0, "reason": "count"}, "delta"),
                                        ({"delta": 1.5, "reason": "count"}, "delta"),
                                        ({"delta": "2", "reason": "count"}, "delta"),
                                        ({"delta": 1, "reason": "sale"}, "reason"),
                                        ({"delta": 1}, "reason"),
                                        ({"delta": 1, "reason": "count", "why": "x"}, "why")])
def test_invalid_adjustments_are_400(client, auth, body, field):
    product = create_product(client, auth["manager"])
    resp = client.post(f"/api/products/{product['id']}/adjustments", json=body, headers=auth["manager"])
    assert field in assert_problem(resp, 400, "validation_error")["errors"]


def test_adjusting_an_unknown_product_is_404(client, auth):
    resp = client.post("/api/products/nope/adjustments", json={"delta": 1, "reason": "count"},
                       headers=auth["manager"])
    assert_problem(resp, 404)


def test_ledger_filters_by_product_and_reason(client, auth):
    a = create_product(client, auth["manager"], stock=5)
    b = create_product(client, auth["manager"], stock=5)
    client.post(f"/api/products/{a['id']}/adjustments", json={"delta": -1, "reason": "lost"},
                headers=auth["manager"])
    order = place_order(client, auth["clerk"], [(a, 2), (b, 1)])
    only_a = _movements(client, auth, product_id=a["id"])
    assert only_a["total"] == 3
    assert [m["reason"] for m in only_a["items"]] == ["sale", "lost", "opening"]   # newest first
    sales = _movements(client, auth, reason="sale")["items"]
    assert {(m["product_id"], m["delta"], m["ref"]) for m in sales} == {
        (a["id"], -2, order["id"]), (b["id"], -1, order["id"])}
    assert_problem(client.get("/api/stock-movements?reason=stolen", headers=auth["viewer"]), 400)


def test_ledger_since_and_until_take_dates_and_timestamps_inclusively(client, auth):
    product = create_product(client, auth["manager"], stock=5)
    moved_at = _movements(client, auth, product_id=product["id"])["items"][0]["created_at"]
    moment = datetime.strptime(moved_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    day = moment.date()

    def count(**params):
        return _movements(client, auth, product_id=product["id"], **params)["total"]

    assert count(since=moved_at, until=moved_at) == 1
    assert count(since=day.isoformat(), until=day.isoformat()) == 1
    assert count(until=(day - timedelta(days=1)).isoformat()) == 0
    assert count(since=(day + timedelta(days=1)).isoformat()) == 0
    later = (moment + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    earlier = (moment - timedelta(seconds=1)).isoformat()           # +00:00 form
    assert count(since=later) == 0
    assert count(until=earlier) == 0
    assert count(since=earlier) == 1
    assert_problem(client.get("/api/stock-movements?since=yesterday", headers=auth["viewer"]), 400)


def test_a_date_means_that_whole_day_in_the_shop_time_zone(app_with, auth):
    zone = "Pacific/Kiritimati"                                         # UTC+14
    client = app_with(TIMEZONE=zone).test_client()
    product = create_product(client, auth["manager"], stock=1)
    moved_at = _movements(client, auth, product_id=product["id"])["items"][0]["created_at"]
    local_day = (datetime.strptime(moved_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
                 .astimezone(ZoneInfo(zone)).date())
    on_day = _movements(client, auth, product_id=product["id"], since=local_day.isoformat(),
                        until=local_day.isoformat())
    assert on_day["total"] == 1
    day_before = (local_day - timedelta(days=1)).isoformat()
    assert _movements(client, auth, product_id=product["id"], until=day_before)["total"] == 0


def test_low_stock_lists_active_products_at_or_below_their_threshold(client, auth):
    m = auth["manager"]
    at = create_product(client, m, stock=3, low_stock_threshold=3)
    below = create_product(client, m, stock=0, low_stock_threshold=1)
    create_product(client, m, stock=4, low_stock_threshold=3)
    archived = create_product(client, m, stock=0)
    client.delete(f"/api/products/{archived['id']}", headers=m)
    resp = client.get("/api/inventory/low-stock", headers=auth["clerk"])
    assert resp.status_code == 200
    assert [p["id"] for p in resp.get_json()["items"]] == [below["id"], at["id"]]


# ---- receiving by scan ------------------------------------------------------

def test_receive_by_isbn10_adds_stock_with_a_received_movement(client, auth):
    book = create_product(client, auth["manager"], kind="book", isbn="9780141439518", stock=1)
    resp = client.post("/api/inventory/receive", headers=auth["manager"],
                       json={"code": "0141439513", "quantity": 4, "note": "from the wholesaler"})
    assert resp.status_code == 201
    movement = resp.get_json()
    assert (movement["product_id"], movement["delta"], movement["reason"], movement["stock_after"],
            movement["note"]) == (book["id"], 4, "received", 5, "from the wholesaler")


def test_receive_defaults_to_one_and_finds_by_barcode_or_sku(client, auth):
    product = create_product(client, auth["manager"], sku="MUG-5", barcode="4006381333931", stock=0)
    client.post("/api/inventory/receive", json={"code": "4006381333931"}, headers=auth["manager"])
    client.post("/api/inventory/receive", json={"code": "MUG-5"}, headers=auth["manager"])
    assert client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).get_json()["stock"] == 2


def test_receive_of_an_unknown_code_is_404(client, auth):
    assert_problem(client.post("/api/inventory/receive", json={"code": "nothing-here"},
                               headers=auth["manager"]), 404)


def test_receive_quantity_must_be_positive(client, auth):
    product = create_product(client, auth["manager"])
    resp = client.post("/api/inventory/receive", json={"code": product["sku"], "quantity": 0},
                       headers=auth["manager"])
    assert "quantity" in assert_problem(resp, 400, "validation_error")["errors"]


def test_a_retried_scan_with_its_idempotency_key_counts_once(client, auth):
    product = create_product(client, auth["manager"], stock=0)
    headers = {**auth["manager"], "Idempotency-Key": "scan-1"}
    body = {"code": product["sku"], "quantity": 3}
    first = client.post("/api/inventory/receive", json=body, headers=headers)
    again = client.post("/api/inventory/receive", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).get_json()["stock"] == 3
    other = client.post("/api/inventory/receive", json={**body, "quantity": 4}, headers=headers)
    assert_problem(other, 409, "idempotency_conflict")
    assert client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).get_json()["stock"] == 3


def test_a_remembered_catalog_page_changes_as_soon_as_a_product_changes(client, auth):
    product = create_product(client, auth["manager"], title="Before", stock=4)
    first = client.get("/api/products?limit=5").get_json()
    assert client.get("/api/products?limit=5").get_json() == first
    client.patch(f"/api/products/{product['id']}", json={"title": "After"}, headers=auth["manager"])
    again = client.get("/api/products?limit=5").get_json()
    assert [p["title"] for p in again["items"] if p["id"] == product["id"]] == ["After"]
    client.post(f"/api/products/{product['id']}/adjustments", json={"delta": -1, "reason": "damaged"},
                headers=auth["manager"])
    latest = client.get("/api/products?limit=5").get_json()
    assert [p["stock"] for p in latest["items"] if p["id"] == product["id"]] == [3]
