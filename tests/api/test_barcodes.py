"""Barcodes over HTTP: images, in-store codes, look-ups, photo scans, label sheets, selling by scan."""
import io
import re
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from scripts.bench_scan import phone_photo
from tests.factories import create_product
from tests.unit.test_barcodes import bomb_png, pdf_pages

PROBLEM = "application/problem+json"
# drawing and decoding pictures does not touch storage: run those tests on one backend, which
# keeps the barcode suite fast; look-ups, assignment and stock run on every backend
IMAGES_ONLY = pytest.mark.backends("json")


@pytest.fixture
def book(client, auth):
    return create_product(client, auth["manager"], kind="book", isbn="0-14-143951-3",
                          title="Pride and Prejudice", author="Jane Austen", price="9.99", cost="5.20")


def image_of(client, product, headers=None, **query):
    resp = client.get(f"/api/products/{product['id']}/barcode", query_string=query, headers=headers or {})
    assert resp.status_code == 200, resp.get_json()
    return resp


def scan(client, headers, data, content_type="image/png"):
    return client.post("/api/barcodes/scan", data=data, content_type=content_type, headers=headers)


def scan_upload(client, headers, data, filename="photo.png"):
    return client.post("/api/barcodes/scan", data={"image": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data", headers=headers)


# ---- images ------------------------------------------------------------------------------------

@IMAGES_ONLY
def test_a_book_barcode_png_scans_back_to_the_book(client, auth, book):
    png = image_of(client, book)
    assert png.mimetype == "image/png"
    assert png.headers["ETag"] == f'"{book["version"]}-png"'
    assert "no-cache" in png.headers["Cache-Control"]
    resp = scan_upload(client, auth["clerk"], png.data)
    assert resp.status_code == 200
    [code] = resp.get_json()["codes"]
    assert code["data"] == "9780141439518" and code["type"] == "EAN13"
    assert code["product"]["id"] == book["id"] and code["product"]["cost"] == "5.20"


@IMAGES_ONLY
@pytest.mark.parametrize("fields, data, kind", [
    ({"barcode": "96385074"}, "96385074", "EAN8"),
    ({"barcode": "036000291452"}, "036000291452", "UPCA"),
    ({"barcode": "4006381333931"}, "4006381333931", "EAN13"),
    ({"sku": "MUG-LOGO"}, "MUG-LOGO", "CODE128"),
    ({"sku": "BOX-1", "barcode": "SHELF-A/17"}, "SHELF-A/17", "CODE128"),
])
def test_every_kind_of_code_round_trips_through_image_and_scan(client, auth, fields, data, kind):
    item = create_product(client, auth["manager"], **fields)
    png = image_of(client, item, label="true")
    resp = scan(client, auth["viewer"], png.data)
    assert resp.status_code == 200
    assert resp.get_json()["codes"] == [{"data": data, "type": kind,
                                         "product": resp.get_json()["codes"][0]["product"]}]
    assert resp.get_json()["codes"][0]["product"]["id"] == item["id"]


@IMAGES_ONLY
def test_svg_is_an_svg_document_with_the_digits(client, book):
    resp = image_of(client, book, format="svg", label="true")
    assert resp.mimetype == "image/svg+xml"
    assert resp.headers["ETag"] == f'"{book["version"]}-svg-label"'
    root = ET.fromstring(resp.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts[:3] == ["780141", "439518", "9"] and "Pride and Prejudice" in texts and "€9.99" in texts


@IMAGES_ONLY
def test_a_label_image_is_taller_than_the_bare_code(client, book):
    bare = Image.open(io.BytesIO(image_of(client, book).data))
    label = Image.open(io.BytesIO(image_of(client, book, label="true").data))
    assert label.height > bare.height


def test_if_none_match_is_304_until_the_product_changes(client, auth, book):
    first = image_of(client, book, label="1")
    again = client.get(f"/api/products/{book['id']}/barcode?label=1",
                       headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    client.patch(f"/api/products/{book['id']}", json={"price": "11.00"}, headers=auth["manager"])
    changed = client.get(f"/api/products/{book['id']}/barcode?label=1",
                         headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]
    other_format = client.get(f"/api/products/{book['id']}/barcode?format=svg",
                              headers={"If-None-Match": first.headers["ETag"]})
    assert other_format.status_code == 200


def test_anonymous_callers_get_images_of_active_products_only(client, auth, book):
    assert image_of(client, book).headers["Cache-Control"].startswith("public")
    assert image_of(client, book, auth["viewer"]).headers["Cache-Control"].startswith("private")
    client.delete(f"/api/products/{book['id']}", headers=auth["manager"])
    hidden = client.get(f"/api/products/{book['id']}/barcode")
    assert hidden.status_code == 404 and hidden.mimetype == PROBLEM
    assert image_of(client, book, auth["viewer"]).status_code == 200


def test_a_private_catalog_shows_no_images_to_anonymous_callers(app_with, auth, book):
    client = app_with(PUBLIC_CATALOG=False).test_client()
    assert client.get(f"/api/products/{book['id']}/barcode").status_code == 401
    assert client.get(f"/api/barcodes/{book['isbn']}").status_code == 401
    assert client.get(f"/api/labels?product_ids={book['id']}").status_code == 401
    assert client.get(f"/api/products/{book['id']}/barcode", headers=auth["viewer"]).status_code == 200


@IMAGES_ONLY
@pytest.mark.parametrize("query", ["format=gif", "label=maybe"])
def test_a_bad_image_query_is_a_validation_error(client, book, query):
    resp = client.get(f"/api/products/{book['id']}/barcode?{query}")
    assert resp.status_code == 400 and resp.get_json()["code"] == "validation_error"
    assert query.split("=")[0] in resp.get_json()["errors"]


def test_an_unknown_product_has_no_image(client):
    resp = client.get("/api/products/nope/barcode")
    assert resp.status_code == 404 and resp.get_json()["code"] == "not_found"


@IMAGES_ONLY
def test_a_sku_code_128_cannot_print_is_409(client, auth):
    item = create_product(client, auth["manager"], sku="TASSE-BLEUE-É")
    resp = client.get(f"/api/products/{item['id']}/barcode")
    assert resp.status_code == 409 and resp.get_json()["code"] == "not_printable"


# ---- in-store codes ----------------------------------------------------------------------------

def test_a_manager_gives_a_product_an_in_store_ean13(client, auth):
    item = create_product(client, auth["manager"])
    resp = client.post(f"/api/products/{item['id']}/barcode", headers=auth["manager"])
    assert resp.status_code == 200
    code = resp.get_json()["barcode"]
    assert re.fullmatch(r"20\d{11}", code)
    digits = [int(d) for d in code]
    assert (sum(digits[0:12:2]) + 3 * sum(digits[1:12:2]) + digits[12]) % 10 == 0
    assert resp.get_json()["version"] == item["version"] + 1
    assert resp.headers["ETag"] == f'"{item["version"] + 1}"'
    found = client.get(f"/api/barcodes/{code}")
    assert found.status_code == 200 and found.get_json()["id"] == item["id"]
    png = image_of(client, resp.get_json())
    assert scan(client, auth["clerk"], png.data).get_json()["codes"][0]["data"] == code


def test_codes_assigned_one_after_another_are_all_different(client, auth):
    codes = set()
    for _ in range(15):
        item = create_product(client, auth["admin"])
        resp = client.post(f"/api/products/{item['id']}/barcode", headers=auth["admin"])
        codes.add(resp.get_json()["barcode"])
    assert len(codes) == 15


def test_a_product_that_has_a_barcode_is_409_barcode_exists(client, auth, book):
    resp = client.post(f"/api/products/{book['id']}/barcode", headers=auth["manager"])
    assert resp.status_code == 409 and resp.mimetype == PROBLEM
    assert resp.get_json()["code"] == "barcode_exists"
    item = create_product(client, auth["manager"])
    client.post(f"/api/products/{item['id']}/barcode", headers=auth["manager"])
    assert client.post(f"/api/products/{item['id']}/barcode",
                       headers=auth["manager"]).get_json()["code"] == "barcode_exists"


@pytest.mark.parametrize("role, status", [("clerk", 403), ("viewer", 403), (None, 401)])
def test_only_managers_and_admins_assign_codes(client, auth, role, status):
    item = create_product(client, auth["manager"])
    resp = client.post(f"/api/products/{item['id']}/barcode", headers=auth[role] if role else {})
    assert resp.status_code == status and resp.mimetype == PROBLEM
    assert client.get(f"/api/products/{item['id']}", headers=auth["manager"]).get_json()["barcode"] is None


def test_assigning_takes_an_empty_body_of_any_type_but_no_fields(client, auth):
    item = create_product(client, auth["manager"])
    odd = client.post(f"/api/products/{item['id']}/barcode", data="", content_type="text/plain",
                      headers=auth["manager"])
    assert odd.status_code == 200
    other = create_product(client, auth["manager"])
    fields = client.post(f"/api/products/{other['id']}/barcode", json={"barcode": "2000000000015"},
                         headers=auth["manager"])
    assert fields.status_code == 400 and fields.get_json()["code"] == "validation_error"
    assert client.post("/api/products/nope/barcode", headers=auth["manager"]).status_code == 404


# ---- look-up -----------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", [
    "9780141439518", "0141439513", "0-14-143951-3", "978-0-14-143951-8",
    "%209780141439518%0A",  # a USB scanner's spaces and Enter key, URL-encoded
    "9780141439518%0D%0A",
])
def test_a_book_is_found_by_any_form_of_its_isbn(client, book, typed):
    resp = client.get(f"/api/barcodes/{typed}")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["id"] == book["id"]
    assert "cost" not in resp.get_json()  # anonymous callers never see it
    assert resp.headers["ETag"] == f'"{book["version"]}"'


def test_upc_a_and_its_ean13_form_are_one_code(client, auth):
    cola = create_product(client, auth["manager"], barcode="036000291452")
    as_ean = create_product(client, auth["manager"], barcode="0012345678905")
    assert client.get("/api/barcodes/0036000291452").get_json()["id"] == cola["id"]
    assert client.get("/api/barcodes/036000291452").get_json()["id"] == cola["id"]
    assert client.get("/api/barcodes/012345678905").get_json()["id"] == as_ean["id"]


def test_a_sku_is_found_even_with_a_slash(client, auth):
    item = create_product(client, auth["manager"], sku="BIN/7-a")
    resp = client.get("/api/barcodes/bin/7-A", headers=auth["viewer"])
    assert resp.status_code == 200 and resp.get_json()["id"] == item["id"]
    assert "cost" in resp.get_json()  # staff see it


def test_an_unknown_code_is_404_problem(client, book):
    resp = client.get("/api/barcodes/9780141439519")
    assert resp.status_code == 404 and resp.mimetype == PROBLEM and resp.get_json()["code"] == "not_found"


def test_an_archived_product_is_found_by_staff_only(client, auth, book):
    client.delete(f"/api/products/{book['id']}", headers=auth["manager"])
    assert client.get(f"/api/barcodes/{book['isbn']}").status_code == 404
    staff = client.get(f"/api/barcodes/{book['isbn']}", headers=auth["viewer"])
    assert staff.status_code == 200 and staff.get_json()["status"] == "archived"


def test_a_look_up_answers_304_while_the_product_is_unchanged(client, book):
    first = client.get(f"/api/barcodes/{book['isbn']}")
    again = client.get(f"/api/barcodes/{book['isbn']}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


# ---- scanning pictures -------------------------------------------------------------------------

@IMAGES_ONLY
@pytest.mark.parametrize("photo", [
    {"angle": 90, "blur": 1.5},
    {"angle": 183, "scale": 1.2, "quality": 45},
])
def test_a_phone_photo_of_a_label_finds_the_book(client, auth, book, photo):
    png = image_of(client, book, label="true").data
    resp = scan(client, auth["clerk"], phone_photo(png, **photo), "image/jpeg")
    assert resp.status_code == 200
    [code] = resp.get_json()["codes"]
    assert code["data"] == "9780141439518" and code["product"]["id"] == book["id"]


@IMAGES_ONLY
def test_a_code_we_do_not_sell_comes_back_with_a_null_product(client, auth):
    from app.services.barcodes import BarcodeImage
    png = BarcodeImage({"sku": "X", "barcode": "4006381333931", "title": "X", "price": "1.00",
                        "version": 1}, "png", False, "EUR").render()
    resp = scan_upload(client, auth["clerk"], png)
    assert resp.get_json() == {"codes": [{"data": "4006381333931", "type": "EAN13", "product": None}]}


@IMAGES_ONLY
def test_a_picture_without_a_code_is_an_empty_list(client, auth):
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 180, 160)).save(buf, "JPEG")
    resp = scan_upload(client, auth["clerk"], buf.getvalue(), "wall.jpg")
    assert resp.status_code == 200 and resp.get_json() == {"codes": []}


@IMAGES_ONLY
@pytest.mark.parametrize("data", [b"just some text\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"])
def test_a_file_that_is_not_a_picture_is_400(client, auth, data):
    resp = scan_upload(client, auth["clerk"], data, "notes.png")
    assert resp.status_code == 400 and resp.mimetype == PROBLEM
    assert resp.get_json()["code"] == "validation_error" and "image" in resp.get_json()["errors"]


@IMAGES_ONLY
def test_a_truncated_png_is_400(client, auth, book):
    png = image_of(client, book).data
    resp = scan(client, auth["clerk"], png[: len(png) // 2])
    assert resp.status_code == 400 and resp.get_json()["code"] == "validation_error"


@IMAGES_ONLY
def test_a_decompression_bomb_is_413_image_too_large(client, auth):
    resp = scan(client, auth["clerk"], bomb_png(100_000, 100_000))
    assert resp.status_code == 413 and resp.mimetype == PROBLEM
    assert resp.get_json()["code"] == "image_too_large"
    resp = scan_upload(client, auth["clerk"], bomb_png(9000, 9000))
    assert resp.status_code == 413 and resp.get_json()["code"] == "image_too_large"


@IMAGES_ONLY
def test_an_upload_over_the_size_limit_is_413_payload_too_large(client, auth, app):
    big = b"\xff\xd8" + b"\x00" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    for resp in (scan(client, auth["clerk"], big, "image/jpeg"), scan_upload(client, auth["clerk"], big)):
        assert resp.status_code == 413 and resp.mimetype == PROBLEM
        assert resp.get_json()["code"] == "payload_too_large"


@IMAGES_ONLY
def test_a_scan_needs_a_picture_in_a_known_shape(client, auth):
    missing = client.post("/api/barcodes/scan", data={"photo": (io.BytesIO(b"x"), "a.png")},
                          content_type="multipart/form-data", headers=auth["clerk"])
    assert missing.status_code == 400 and "image" in missing.get_json()["errors"]
    assert scan(client, auth["clerk"], b"", "image/png").status_code == 400
    as_json = client.post("/api/barcodes/scan", json={"image": "..."}, headers=auth["clerk"])
    assert as_json.status_code == 415 and as_json.mimetype == PROBLEM


@IMAGES_ONLY
def test_scanning_is_for_signed_in_staff(client, book):
    resp = scan(client, {}, b"whatever")
    assert resp.status_code == 401 and resp.mimetype == PROBLEM


# ---- label sheets ------------------------------------------------------------------------------

@IMAGES_ONLY
def test_a_pdf_sheet_has_a_page_per_24_labels(client, auth, book):
    others = [create_product(client, auth["manager"]) for _ in range(2)]
    ids = ",".join([book["id"]] + [o["id"] for o in others])
    resp = client.get(f"/api/labels?product_ids={ids}&copies=9")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF") and pdf_pages(resp.data) == 2  # 27 labels
    assert 'filename="labels.pdf"' in resp.headers["Content-Disposition"]
    one = client.get(f"/api/labels?product_ids={book['id']}")
    assert pdf_pages(one.data) == 1


@IMAGES_ONLY
def test_a_png_sheet_stacks_its_a4_pages(client, auth, book):
    resp = client.get(f"/api/labels?product_ids={book['id']}&copies=25&format=png")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    sheet = Image.open(io.BytesIO(resp.data))
    assert sheet.size == (2480, 2 * 3508)
    first_label = sheet.crop((0, 0, 900, 600))
    buf = io.BytesIO()
    first_label.convert("L").save(buf, "PNG")
    assert scan(client, auth["clerk"], buf.getvalue()).get_json()["codes"][0]["data"] == "9780141439518"


def test_a_sheet_has_an_etag_and_answers_304(client, book):
    first = client.get(f"/api/labels?product_ids={book['id']}&copies=2")
    again = client.get(f"/api/labels?product_ids={book['id']}&copies=2",
                       headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    more = client.get(f"/api/labels?product_ids={book['id']}&copies=3",
                      headers={"If-None-Match": first.headers["ETag"]})
    assert more.status_code == 200


def test_an_unknown_product_on_a_sheet_is_404(client, book):
    resp = client.get(f"/api/labels?product_ids={book['id']},nope")
    assert resp.status_code == 404 and resp.mimetype == PROBLEM
    assert resp.get_json()["missing"] == ["nope"]


@IMAGES_ONLY
@pytest.mark.parametrize("query, field", [
    ("", "product_ids"), ("product_ids=,,", "product_ids"), ("product_ids={id}&copies=0", "copies"),
    ("product_ids={id}&copies=101", "copies"), ("product_ids={id}&copies=two", "copies"),
    ("product_ids={id}&format=docx", "format"), ("product_ids={id},{id}&copies=100&format=png", "copies"),
])
def test_a_bad_label_query_is_a_validation_error(client, book, query, field):
    resp = client.get("/api/labels?" + query.format(id=book["id"]))
    assert resp.status_code == 400 and resp.get_json()["code"] == "validation_error"
    assert field in resp.get_json()["errors"]


# ---- scanning drives stock and sales -----------------------------------------------------------

def test_receiving_by_a_scanned_isbn_adds_stock_once_per_idempotency_key(client, auth, book):
    body = {"code": " 0-14-143951-3\n", "quantity": 6, "note": "box 3"}
    headers = {**auth["manager"], "Idempotency-Key": "scan-42"}
    first = client.post("/api/inventory/receive", json=body, headers=headers)
    assert first.status_code == 201
    movement = first.get_json()
    assert movement["reason"] == "received" and movement["delta"] == 6
    assert movement["product_id"] == book["id"] and movement["stock_after"] == book["stock"] + 6
    retry = client.post("/api/inventory/receive", json=body, headers=headers)
    assert retry.status_code == 201 and retry.get_json() == movement
    stock = client.get(f"/api/products/{book['id']}", headers=auth["manager"]).get_json()["stock"]
    assert stock == book["stock"] + 6


def test_receiving_an_unknown_code_is_404_and_clerks_may_not_receive(client, auth, book):
    unknown = client.post("/api/inventory/receive", json={"code": "4006381333931", "quantity": 1},
                          headers=auth["manager"])
    assert unknown.status_code == 404 and unknown.mimetype == PROBLEM
    clerk = client.post("/api/inventory/receive", json={"code": book["isbn"], "quantity": 1},
                        headers=auth["clerk"])
    assert clerk.status_code == 403


def test_an_order_line_may_name_its_product_by_a_scanned_code(client, auth, book):
    cola = create_product(client, auth["manager"], barcode="036000291452", price="1.50")
    order = client.post("/api/orders", headers=auth["clerk"], json={"items": [
        {"barcode": "978-0-14-143951-8\n", "quantity": 2},
        {"barcode": "0036000291452", "quantity": 1},
    ]})
    assert order.status_code == 201, order.get_json()
    lines = order.get_json()["items"]
    assert [line["product_id"] for line in lines] == [book["id"], cola["id"]]
    assert order.get_json()["total"] == "21.48"
    unknown = client.post("/api/orders", headers=auth["clerk"],
                          json={"items": [{"barcode": "4006381333931", "quantity": 1}]})
    assert unknown.status_code == 400 and "items.0" in unknown.get_json()["errors"]
