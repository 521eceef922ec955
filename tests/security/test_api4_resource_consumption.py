"""OWASP API4:2023 Unrestricted Resource Consumption: every way a client could make the server do
unbounded work has a limit, answered before the work starts: bodies (SHOP_MAX_BODY_BYTES, 413),
pictures (SHOP_MAX_IMAGE_PIXELS, 413 image_too_large before a pixel is decoded), list pages
(limit <= 200), offsets, order lines and quantities, label sheets, the ids a request names, and
password guesses (429 with Retry-After). CSV imports and exports get their row limits here when
they land.
"""
import pytest

from tests.factories import assert_problem, create_product
from tests.unit.test_barcodes import bomb_png

LIST_OPERATIONS = ("/api/products", "/api/books", "/api/orders", "/api/deliveries",
                   "/api/stock-movements", "/api/inventory/low-stock", "/api/users")


def test_a_body_over_the_limit_is_413_before_it_is_read(make_app, auth):
    client = make_app(MAX_BODY_BYTES=1024).test_client()
    big = b'{"items": [' + b" " * 2048 + b"]}"
    for path, content_type in (("/api/orders", "application/json"), ("/api/products", "application/json"),
                               ("/api/auth/login", "application/json"), ("/api/barcodes/scan", "image/png")):
        resp = client.post(path, data=big, content_type=content_type, headers=auth["admin"])
        assert_problem(resp, 413, "payload_too_large")


@pytest.mark.parametrize("path", LIST_OPERATIONS)
def test_every_list_caps_its_page(client, auth, path):
    assert_problem(client.get(f"{path}?limit=201", headers=auth["admin"]), 400, "validation_error")
    assert_problem(client.get(f"{path}?limit=0", headers=auth["admin"]), 400, "validation_error")
    assert_problem(client.get(f"{path}?offset=-1", headers=auth["admin"]), 400, "validation_error")
    assert_problem(client.get(f"{path}?offset=1{'0' * 30}", headers=auth["admin"]), 400, "validation_error")
    ok = client.get(f"{path}?limit=200", headers=auth["admin"])
    assert ok.status_code == 200 and ok.get_json()["limit"] == 200


def test_a_list_without_a_limit_sends_one_page(client, auth):
    for _ in range(3):
        create_product(client, auth["manager"])
    body = client.get("/api/products?limit=2", headers=auth["admin"]).get_json()
    assert len(body["items"]) == 2 and body["total"] == 3
    assert client.get("/api/products", headers=auth["admin"]).get_json()["limit"] == 50


@pytest.mark.backends("json")
def test_a_decompression_bomb_is_refused_before_decoding(client, auth):
    resp = client.post("/api/barcodes/scan", data=bomb_png(100_000, 100_000), content_type="image/png",
                       headers=auth["viewer"])
    assert_problem(resp, 413, "image_too_large")


@pytest.mark.backends("json")
def test_the_pixel_limit_is_the_configured_one(make_app, auth):
    client = make_app(MAX_IMAGE_PIXELS=100 * 100).test_client()
    resp = client.post("/api/barcodes/scan", data=bomb_png(200, 200), content_type="image/png",
                       headers=auth["viewer"])
    assert_problem(resp, 413, "image_too_large")


def test_an_order_has_a_bounded_number_of_lines_and_quantities(client, auth):
    product = create_product(client, auth["manager"])
    lines = [{"product_id": product["id"], "quantity": 1}] * 501
    assert_problem(client.post("/api/orders", json={"items": lines}, headers=auth["clerk"]), 400)
    huge = [{"product_id": product["id"], "quantity": 10 ** 30}]
    assert_problem(client.post("/api/orders", json={"items": huge}, headers=auth["clerk"]), 400)


def test_label_sheets_and_the_ids_they_name_are_bounded(client, auth):
    product = create_product(client, auth["manager"])
    assert_problem(client.get(f"/api/labels?product_ids={product['id']}&copies=101"), 400)
    many = ",".join([product["id"]] * 201)
    assert_problem(client.get(f"/api/labels?product_ids={many}"), 400)
    pages = ",".join(create_product(client, auth["manager"])["id"] for _ in range(6))
    # 6 products x 100 copies = 25 pages of 24 labels: more than a sheet may have
    resp = client.get(f"/api/labels?product_ids={pages}&copies=100")
    assert resp.status_code in (400, 409)


def test_password_guessing_is_throttled_with_retry_after(make_app):
    client = make_app(LOGIN_MAX_FAILURES=2).test_client()
    for _ in range(2):
        assert client.post("/api/auth/login", json={"username": "manager", "password": "guess"}).status_code == 401
    locked = client.post("/api/auth/login", json={"username": "manager", "password": "guess"})
    assert_problem(locked, 429, "rate_limited")
    assert int(locked.headers["Retry-After"]) >= 1


def test_big_numbers_and_long_strings_are_refused_not_stored(client, auth):
    for body in ({"sku": "S" * 65, "title": "T", "price": "1.00"},
                 {"sku": "S", "title": "T" * 301, "price": "1.00"},
                 {"sku": "S", "title": "T", "price": "1" * 40},
                 {"sku": "S", "title": "T", "price": "1.00", "stock": 10 ** 12},
                 {"sku": "S", "title": "T", "price": "1.00", "description": "d" * 5001}):
        assert_problem(client.post("/api/products", json=body, headers=auth["manager"]), 400, "validation_error")
