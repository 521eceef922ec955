"""The storefront blueprint over HTTP: keys per role, every public endpoint with keys valid, revoked
and missing, per-key CORS and preflights, checkout, its limits, idempotency, tracking, held stock
and the shop page's switch."""
import time

import pytest

from tests.factories import assert_problem, create_delivery, create_product, move_delivery, pay

ROLES = ("admin", "manager", "clerk", "viewer")
ORIGIN = "https://shop.example"
ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}
ADDRESS = {"name": "Ada", "line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH",
           "country": "GB"}


def _key(client, auth, **fields):
    body = {"name": "Web shop", "allowed_origins": [ORIGIN], **fields}
    resp = client.post("/api/storefront-keys", json=body, headers=auth["admin"])
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _with(key, **headers):
    return {"X-Storefront-Key": key["key"], **headers}


def _checkout(client, key, lines, expect=201, headers=None, **fields):
    body = {"items": [{"product_id": p["id"], "quantity": q} for p, q in lines], "customer": ADA, **fields}
    resp = client.post("/api/storefront/orders", json=body, headers={**_with(key), **(headers or {})})
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def _stock(client, auth, product):
    return client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).get_json()["stock"]


# ---- keys -------------------------------------------------------------------------------------------

def test_only_admins_manage_keys(client, auth):
    made = _key(client, auth)
    assert made["key"].startswith("pk_") and len(made["key"]) == 35
    assert (made["active"], made["builtin"], made["allowed_origins"]) == (True, False, [ORIGIN])
    paths = ["/api/storefront-keys", f"/api/storefront-keys/{made['id']}"]
    for role in ("manager", "clerk", "viewer"):
        for path in paths:
            assert_problem(client.get(path, headers=auth[role]), 403)
        assert_problem(client.post(paths[0], json={"name": "X"}, headers=auth[role]), 403)
        assert_problem(client.patch(paths[1], json={"name": "X"}, headers=auth[role]), 403)
        assert_problem(client.delete(paths[1], headers=auth[role]), 403)
    assert_problem(client.get(paths[0]), 401)
    listed = client.get(paths[0], headers=auth["admin"]).get_json()["items"]
    assert [k["builtin"] for k in listed] == [True, False]  # the shop page's key, made at start-up
    renamed = client.patch(paths[1], json={"name": "Main shop", "allowed_origins": ["http://localhost:5173"]},
                           headers=auth["admin"]).get_json()
    assert (renamed["name"], renamed["allowed_origins"], renamed["version"]) == (
        "Main shop", ["http://localhost:5173"], 2)
    body = assert_problem(client.post(paths[0], json={"name": "Bad", "allowed_origins": [
        ORIGIN, "https://shop.example/shop", "*"]}, headers=auth["admin"]), 400, "validation_error")
    assert set(body["errors"]) == {"allowed_origins.1", "allowed_origins.2"}
    revoked = client.delete(paths[1], headers=auth["admin"]).get_json()
    assert revoked["active"] is False


def test_every_public_endpoint_needs_an_active_key_and_nothing_else_opens_it(client, auth):
    book = create_product(client, auth["manager"], stock=5)
    key = _key(client, auth)
    order = _checkout(client, key, [(book, 1)])
    calls = [("GET", "/api/storefront/products", None), ("GET", "/api/storefront/categories", None), ("GET", f"/api/storefront/products/{book['id']}", None),
             ("POST", "/api/storefront/orders", {"items": [{"product_id": book["id"], "quantity": 1}],
                                                "customer": ADA}),
             ("GET", f"/api/storefront/orders/{order['number']}?email=ada@example.com", None)]
    for method, path, body in calls:
        assert_problem(client.open(path, method=method, json=body), 401, "storefront_key_required")
        assert_problem(client.open(path, method=method, json=body, headers=auth["admin"]), 401,
                       "storefront_key_required")  # a staff token opens nothing here
        assert_problem(client.open(path, method=method, json=body, headers={"X-Storefront-Key": "pk_nope"}),
                       401, "invalid_storefront_key")
        assert client.open(path, method=method, json=body, headers=_with(key)).status_code in (200, 201)
    client.delete(f"/api/storefront-keys/{key['id']}", headers=auth["admin"])
    for method, path, body in calls:
        assert_problem(client.open(path, method=method, json=body, headers=_with(key)), 401,
                       "invalid_storefront_key")
    # elsewhere a key grants nothing
    assert_problem(client.get("/api/orders", headers=_with(key)), 401)


def test_a_key_works_whatever_the_public_catalog_says(make_app, auth):
    client = make_app(PUBLIC_CATALOG=False).test_client()
    create_product(client, auth["manager"], title="Middlemarch", stock=2)
    key = _key(client, auth)
    assert_problem(client.get("/api/products"), 401)
    assert client.get("/api/storefront/products", headers=_with(key)).get_json()["total"] == 1


# ---- CORS -------------------------------------------------------------------------------------------

def test_answers_name_the_origin_their_key_lists_errors_included(client, auth):
    key = _key(client, auth)
    other = _key(client, auth, name="Other", allowed_origins=["https://other.example"])
    ok = client.get("/api/storefront/products", headers=_with(key, Origin=ORIGIN))
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in ok.headers["Vary"]
    assert ok.headers["Access-Control-Expose-Headers"] == "Link, ETag, Location, Retry-After"
    refused = client.get("/api/storefront/products/nope", headers=_with(key, Origin=ORIGIN))
    assert refused.status_code == 404 and refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    foreign = client.get("/api/storefront/products", headers=_with(other, Origin=ORIGIN))
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_a_preflight_is_answered_for_an_origin_some_active_key_lists(client, auth):
    key = _key(client, auth)
    asked = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "X-Storefront-Key, Content-Type"}
    resp = client.options("/api/storefront/orders", headers=asked)
    assert resp.status_code in (200, 204)
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert resp.headers["Access-Control-Allow-Headers"] == "X-Storefront-Key, Content-Type, Idempotency-Key"
    stranger = client.options("/api/storefront/orders", headers={**asked, "Origin": "https://evil.example"})
    assert not [h for h in stranger.headers.keys() if h.startswith("Access-Control-Allow-")]
    client.delete(f"/api/storefront-keys/{key['id']}", headers=auth["admin"])
    gone = client.options("/api/storefront/products", headers=asked)
    assert "Access-Control-Allow-Origin" not in gone.headers


# ---- products -------------------------------------------------------------------------------------

def test_the_public_sees_active_products_without_cost_or_stock(client, auth):
    key = _key(client, auth)
    in_stock = create_product(client, auth["manager"], title="Middlemarch", kind="book", author="George Eliot",
                              price="12.50", cost="4.00", stock=3, category="Fiction")
    create_product(client, auth["manager"], title="Adam Bede", kind="book", author="George Eliot", stock=0)
    archived = create_product(client, auth["manager"], title="Silas Marner", author="George Eliot")
    client.delete(f"/api/products/{archived['id']}", headers=auth["manager"])

    page = client.get("/api/storefront/products?q=eliot", headers=_with(key)).get_json()
    assert [p["title"] for p in page["items"]] == ["Adam Bede", "Middlemarch"]
    shown = page["items"][1]
    assert list(shown) == ["id", "sku", "title", "kind", "author", "isbn", "barcode", "description", "category",
                           "category_id", "price", "currency", "available", "images"]
    assert (shown["price"], shown["currency"], shown["available"]) == ("12.50", "EUR", True)
    available = client.get("/api/storefront/products?available=true", headers=_with(key)).get_json()
    assert [p["id"] for p in available["items"]] == [in_stock["id"]]
    by_price = client.get("/api/storefront/products?sort=-price&kind=book", headers=_with(key)).get_json()
    assert by_price["items"][0]["id"] == in_stock["id"]
    assert client.get("/api/storefront/products?category=Fiction", headers=_with(key)).get_json()["total"] == 1
    tree = client.get("/api/storefront/categories", headers=_with(key)).get_json()
    assert tree == client.get("/api/categories", headers=auth["viewer"]).get_json()
    assert [c["name"] for c in tree["items"]] == ["Fiction"]
    assert_problem(client.get("/api/storefront/products?sort=cost", headers=_with(key)), 400)
    assert_problem(client.get(f"/api/storefront/products/{archived['id']}", headers=_with(key)), 404)
    one = client.get(f"/api/storefront/products/{in_stock['id']}", headers=_with(key)).get_json()
    assert one == shown


# ---- checkout -------------------------------------------------------------------------------------

def test_a_checkout_is_a_normal_order_to_staff(client, auth):
    key = _key(client, auth)
    book = create_product(client, auth["manager"], price="12.50", stock=5, barcode="9780141439518")
    resp = client.post("/api/storefront/orders", headers=_with(key), json={
        "items": [{"barcode": "9780141439518", "quantity": 2}], "customer": {**ADA, "phone": "+44 1"},
        "shipping_address": ADDRESS, "notes": "please ring twice"})
    assert resp.status_code == 201
    public = resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/storefront/orders/{public['number']}")
    assert (public["status"], public["payment_status"], public["total"], public["delivery"]) == (
        "pending", "unpaid", "25.00", None)
    assert public["hold_expires_at"] > public["created_at"]
    assert not {"id", "customer", "customer_id", "created_by", "notes", "payment"} & set(public)
    staff = client.get(f"/api/orders?channel=storefront", headers=auth["viewer"]).get_json()["items"][0]
    assert (staff["number"], staff["channel"], staff["created_by"], staff["notes"]) == (
        public["number"], "storefront", None, "please ring twice")
    assert staff["shipping_address"] == ADDRESS and staff["customer"]["email"] == ADA["email"]
    customer = client.get("/api/customers?email=ada@example.com", headers=auth["viewer"]).get_json()["items"][0]
    assert staff["customer_id"] == customer["id"] and customer["order_count"] == 1
    assert _stock(client, auth, book) == 3
    sale = client.get(f"/api/stock-movements?product_id={book['id']}&reason=sale",
                      headers=auth["viewer"]).get_json()["items"][0]
    assert sale["user_id"] is None


def test_bad_checkouts_are_400_or_409_and_change_nothing(client, auth):
    key = _key(client, auth)
    book = create_product(client, auth["manager"], stock=30)
    scarce = create_product(client, auth["manager"], stock=1)
    line = {"product_id": book["id"], "quantity": 1}
    bad = [{"items": [line], "customer": {"name": "Ada"}},
           {"items": [line], "customer": ADA, "payment": {"method": "cash", "amount": "10.00"}},
           {"items": [line], "customer": ADA, "customer_id": "x"},
           {"items": [{**line, "unit_price": "0.01"}], "customer": ADA},
           {"items": [{"product_id": book["id"], "quantity": 21}], "customer": ADA},
           {"items": [line] * 51, "customer": ADA},
           {"items": [line], "customer": ADA, "shipping_address": {"line1": "1 Road", "city": "York"}}]
    for body in bad:
        assert_problem(client.post("/api/storefront/orders", json=body, headers=_with(key)), 400,
                       "validation_error")
    over = assert_problem(client.post("/api/storefront/orders", headers=_with(key), json={
        "items": [{"product_id": book["id"], "quantity": 21}], "customer": ADA}), 400)
    assert "items.0.quantity" in over["errors"]
    short = assert_problem(client.post("/api/storefront/orders", headers=_with(key), json={
        "items": [line, {"product_id": scarce["id"], "quantity": 2}], "customer": ADA}), 409, "insufficient_stock")
    assert "items.1" in short["errors"] and short["shortages"][0]["requested"] == 2
    assert (_stock(client, auth, book), _stock(client, auth, scarce)) == (30, 1)
    assert client.get("/api/customers", headers=auth["viewer"]).get_json()["total"] == 0


def test_an_idempotency_key_belongs_to_its_storefront_key(client, auth):
    key, other = _key(client, auth), _key(client, auth, name="Other")
    book = create_product(client, auth["manager"], stock=10)
    once = {"Idempotency-Key": "basket-1"}
    first = _checkout(client, key, [(book, 2)], headers=once)
    again = client.post("/api/storefront/orders", headers={**_with(key), **once}, json={
        "items": [{"product_id": book["id"], "quantity": 2}], "customer": ADA})
    assert again.status_code == 201 and again.get_json() == first
    assert again.headers["Idempotent-Replayed"] == "true"
    assert_problem(client.post("/api/storefront/orders", headers={**_with(key), **once}, json={
        "items": [{"product_id": book["id"], "quantity": 3}], "customer": ADA}), 409, "idempotency_conflict")
    elsewhere = _checkout(client, other, [(book, 2)], headers=once)
    assert elsewhere["number"] != first["number"]
    assert _stock(client, auth, book) == 6


def test_the_rate_limit_counts_every_answer_per_key_and_address(make_app, auth):
    client = make_app(STOREFRONT_ORDERS_PER_MINUTE=3).test_client()
    key, other = _key(client, auth), _key(client, auth, name="Other")
    book = create_product(client, auth["manager"], stock=10)
    _checkout(client, key, [(book, 1)])
    _checkout(client, key, [(book, 15)], expect=409)
    assert_problem(client.post("/api/storefront/orders", json={}, headers=_with(key)), 400)
    refused = client.post("/api/storefront/orders", headers=_with(key), json={
        "items": [{"product_id": book["id"], "quantity": 1}], "customer": ADA})
    assert_problem(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert _stock(client, auth, book) == 9
    _checkout(client, other, [(book, 1)])  # another key has its own count
    tracked = [client.get("/api/storefront/orders/1001?email=ada@example.com", headers=_with(key)).status_code
               for _ in range(4)]
    assert tracked == [200, 200, 200, 429]  # look-ups have their own count


# ---- tracking ---------------------------------------------------------------------------------------

def test_tracking_shows_the_newest_delivery_and_every_miss_is_the_same_404(client, auth):
    key = _key(client, auth)
    book = create_product(client, auth["manager"], price="5.00", stock=5)
    placed = _checkout(client, key, [(book, 1)], shipping_address=ADDRESS)
    staff = client.get("/api/orders?channel=storefront", headers=auth["viewer"]).get_json()["items"][0]
    pay(client, auth["clerk"], staff)
    first = create_delivery(client, auth["clerk"], staff)
    move_delivery(client, auth["clerk"], first, "cancelled")
    delivery = create_delivery(client, auth["clerk"], staff, carrier="Royal Mail", tracking_number="RM1")
    move_delivery(client, auth["clerk"], delivery, "in_transit")

    found = client.get(f"/api/storefront/orders/{placed['number']}?email=ADA@example.com", headers=_with(key))
    assert found.status_code == 200
    shown = found.get_json()
    assert (shown["status"], shown["payment_status"]) == ("shipped", "paid")
    assert (shown["delivery"]["carrier"], shown["delivery"]["tracking_number"]) == ("Royal Mail", "RM1")
    assert [e["status"] for e in shown["delivery"]["events"]] == ["pending", "in_transit"]
    assert set(shown["delivery"]["events"][0]) == {"status", "at"}

    misses = [f"/api/storefront/orders/{placed['number']}?email=eve@example.com",
              "/api/storefront/orders/999999?email=ada@example.com",
              "/api/storefront/orders/10x1?email=ada@example.com"]
    bodies = set()
    for path in misses:
        body = assert_problem(client.get(path, headers=_with(key)), 404, "not_found")
        body.pop("request_id", None)
        bodies.add(repr(sorted(body.items())))
    assert len(bodies) == 1
    assert_problem(client.get(f"/api/storefront/orders/{placed['number']}", headers=_with(key)), 400,
                   "validation_error")


def test_an_erased_customers_order_is_not_found(client, auth):
    key = _key(client, auth)
    book = create_product(client, auth["manager"], stock=5)
    placed = _checkout(client, key, [(book, 1)])
    staff = client.get("/api/orders?channel=storefront", headers=auth["viewer"]).get_json()["items"][0]
    client.post(f"/api/orders/{staff['id']}/cancel", headers=auth["clerk"])
    client.delete(f"/api/customers/{staff['customer_id']}", headers=auth["manager"])
    assert_problem(client.get(f"/api/storefront/orders/{placed['number']}?email=ada@example.com",
                              headers=_with(key)), 404, "not_found")
    erased = client.get(f"/api/orders/{staff['id']}", headers=auth["viewer"]).get_json()
    assert erased["notes"] is None and erased["customer"]["email"] is None


# ---- held stock ---------------------------------------------------------------------------------------

def test_an_unpaid_order_past_its_hold_is_never_shown_pending(make_app, auth):
    client = make_app(STOREFRONT_HOLD_SECONDS=1).test_client()
    key = _key(client, auth)
    book = create_product(client, auth["manager"], stock=5)
    kept = create_product(client, auth["manager"], price="4.00", stock=5)
    placed = _checkout(client, key, [(book, 2)])
    paid = _checkout(client, key, [(kept, 1)])
    staff_paid = client.get("/api/orders?channel=storefront&sort=number", headers=auth["viewer"]).get_json()["items"][1]
    pay(client, auth["clerk"], staff_paid)
    time.sleep(2.1)  # past both holds

    shown = client.get(f"/api/storefront/orders/{placed['number']}?email=ada@example.com",
                       headers=_with(key)).get_json()
    assert shown["status"] == "cancelled"
    staff = client.get("/api/orders?channel=storefront&sort=number", headers=auth["viewer"]).get_json()["items"]
    assert [(o["status"], o["cancel_reason"]) for o in staff] == [("cancelled", "hold_expired"), ("paid", None)]
    assert (_stock(client, auth, book), _stock(client, auth, kept)) == (5, 4)
    back = client.get(f"/api/stock-movements?product_id={book['id']}&reason=order_cancelled",
                      headers=auth["viewer"]).get_json()["items"]
    assert [(m["delta"], m["user_id"]) for m in back] == [(2, None)]
    assert paid["number"] == staff[1]["number"]


@pytest.mark.backends("json")
def test_the_shop_page_is_served_unless_switched_off(make_app):
    client = make_app().test_client()
    page = client.get("/shop/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert client.get("/shop").status_code in (301, 308)
    assert client.get("/shop/key.json").get_json()["key"].startswith("pk_")
    off = make_app(STOREFRONT_PAGE=False).test_client()
    assert_problem(off.get("/shop/"), 404)
    assert_problem(off.get("/shop/key.json"), 404)


def test_a_public_product_shows_its_images_with_the_key_in_their_urls(make_app, auth):
    from tests.factories import add_image
    client = make_app(PUBLIC_CATALOG=False).test_client()
    key = _key(client, auth)
    book = create_product(client, auth["manager"], title="Pictured", stock=1)
    add_image(client, auth["manager"], book)
    shown = client.get(f"/api/storefront/products/{book['id']}", headers=_with(key)).get_json()
    assert len(shown["images"]) == 1
    urls = [u for u in shown["images"][0]["urls"].values()]
    assert urls and all(f"key={key['key']}" in u for u in urls)
    thumb = shown["images"][0]["urls"]["thumb"].split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + thumb).status_code == 200  # an <img> tag opens it, whatever the catalog says
