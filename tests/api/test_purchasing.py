"""The purchasing blueprint over HTTP: vendors, supply links, contacts, purchase orders, receipts,
suggestions and drafts, per role; products' on_order and reorder_quantity; the ledger's ref filter."""
import pytest

from tests.factories import assert_problem, create_product

READERS = ("admin", "manager", "clerk", "editor", "viewer")
BUYERS = ("admin", "manager")


def _vendor(client, auth, expect=201, **fields):
    body = {"name": "Penguin Trade", "contact_name": "Ann Lee", "email": "orders@penguin.example",
            "specialty": "classics", **fields}
    resp = client.post("/api/vendors", json=body, headers=auth["manager"])
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def _link(client, auth, vendor, product, expect=201, **fields):
    resp = client.post(f"/api/vendors/{vendor['id']}/products", json={"product_id": product["id"], **fields},
                       headers=auth["manager"])
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def _draft(client, auth, vendor, lines, expect=201, headers=None, **fields):
    body = {"vendor_id": vendor["id"], "lines": [{"product_id": p["id"], "quantity": q} for p, q in lines], **fields}
    resp = client.post("/api/purchase-orders", json=body, headers={**auth["manager"], **(headers or {})})
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def _act(client, auth, po, action, expect=200, role="manager", **body):
    resp = client.post(f"/api/purchase-orders/{po['id']}/{action}", json=body, headers=auth[role])
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def _receive(client, auth, po, lines, expect=200, key=None, **fields):
    headers = {**auth["manager"], **({"Idempotency-Key": key} if key else {})}
    body = {"lines": [{"product_id": p["id"], "quantity": q} for p, q in lines], **fields}
    resp = client.post(f"/api/purchase-orders/{po['id']}/receive", json=body, headers=headers)
    assert resp.status_code == expect, resp.get_json()
    return resp


def _product(client, auth, product):
    return client.get(f"/api/products/{product['id']}", headers=auth["manager"]).get_json()


# ---- roles ----------------------------------------------------------------------------------------

def test_each_role_may_do_what_section_10_allows_and_nothing_more(client, auth):
    vendor = _vendor(client, auth)
    product = create_product(client, auth["manager"], cost="2.00", stock=1, low_stock_threshold=5)
    _link(client, auth, vendor, product, cost="1.50")
    po = _draft(client, auth, vendor, [(product, 3)])
    reads = ["/api/vendors", f"/api/vendors/{vendor['id']}", f"/api/vendors/{vendor['id']}/products",
             f"/api/vendors/{vendor['id']}/products/{product['id']}", f"/api/products/{product['id']}/vendors",
             f"/api/vendors/{vendor['id']}/contacts", "/api/purchase-orders", f"/api/purchase-orders/{po['id']}",
             "/api/purchasing/suggestions"]
    for path in reads:
        assert_problem(client.get(path), 401)
        for role in READERS:
            assert client.get(path, headers=auth[role]).status_code == 200, (path, role)

    for n, role in enumerate(("viewer", "editor", "clerk", "manager", "admin")):
        allowed = role in BUYERS
        writes = [("POST", "/api/vendors", {"name": f"Vendor {role}"}, 201),
                  ("PATCH", f"/api/vendors/{vendor['id']}", {"notes": role}, 200),
                  ("PUT", f"/api/vendors/{vendor['id']}", {"name": "Penguin Trade"}, 200),
                  ("PATCH", f"/api/vendors/{vendor['id']}/products/{product['id']}", {"vendor_sku": role}, 200),
                  ("POST", "/api/purchase-orders", {"vendor_id": vendor["id"],
                                                    "lines": [{"product_id": product["id"], "quantity": 1}]}, 201),
                  ("PATCH", f"/api/purchase-orders/{po['id']}", {"notes": role}, 200),
                  ("POST", "/api/purchasing/suggestions/draft", {"vendor_ids": []}, 200)]
        for method, path, body, status in writes:
            resp = client.open(path, method=method, json=body, headers=auth[role])
            assert resp.status_code == (status if allowed else 403), (method, path, role, resp.get_json())
        resp = client.post(f"/api/vendors/{vendor['id']}/contacts", headers=auth[role],
                           json={"contact_type": "phone", "message": f"call {n}"})
        assert resp.status_code == (403 if role in ("viewer", "editor") else 201), role
        if not allowed:
            for action in ("order", "receive", "close", "cancel"):
                assert_problem(client.post(f"/api/purchase-orders/{po['id']}/{action}", json={},
                                           headers=auth[role]), 403)
            assert_problem(client.delete(f"/api/vendors/{vendor['id']}", headers=auth[role]), 403)
            assert_problem(client.delete(f"/api/vendors/{vendor['id']}/products/{product['id']}",
                                         headers=auth[role]), 403)
            assert_problem(client.post(f"/api/vendors/{vendor['id']}/products", json={"product_id": product["id"]},
                                       headers=auth[role]), 403)
    assert client.get(f"/api/purchase-orders/{po['id']}", headers=auth["viewer"]).get_json()["status"] == "draft"
    _act(client, auth, po, "order", role="admin")
    _receive(client, auth, po, [(product, 3)])
    assert client.delete(f"/api/vendors/{vendor['id']}/products/{product['id']}",
                         headers=auth["admin"]).status_code == 204
    assert client.delete(f"/api/vendors/{vendor['id']}", headers=auth["admin"]).status_code == 200


def test_an_editor_reads_purchasing_without_what_the_shop_pays(client, auth):
    vendor = _vendor(client, auth)
    product = create_product(client, auth["manager"], cost="2.00")
    _link(client, auth, vendor, product, cost="1.50")
    po = _draft(client, auth, vendor, [(product, 2)])
    link = client.get(f"/api/vendors/{vendor['id']}/products/{product['id']}", headers=auth["editor"]).get_json()
    assert "cost" not in link and link["vendor_id"] == vendor["id"]
    got = client.get(f"/api/purchase-orders/{po['id']}", headers=auth["editor"]).get_json()
    assert "subtotal" not in got and "unit_cost" not in got["lines"][0] and "line_total" not in got["lines"][0]
    assert_problem(client.get(f"/api/vendors/{vendor['id']}/products?sort=cost", headers=auth["editor"]), 400)
    assert_problem(client.get("/api/purchase-orders?sort=subtotal", headers=auth["editor"]), 400)
    assert client.get(f"/api/purchase-orders/{po['id']}", headers=auth["viewer"]).get_json()["subtotal"] == "3.00"


# ---- vendors --------------------------------------------------------------------------------------

def test_create_vendor_is_201_with_location_and_etag_and_reads_back(client, auth):
    resp = client.post("/api/vendors", json={"name": " Penguin Trade ", "email": "orders@penguin.example",
                                             "phone": "+44 20 1234"}, headers=auth["manager"])
    assert resp.status_code == 201 and resp.headers["ETag"] == '"1"'
    made = resp.get_json()
    assert {k: made[k] for k in ("name", "contact_name", "email", "phone", "address", "specialty", "notes",
                                 "status")} == {"name": "Penguin Trade", "contact_name": None,
                                                "email": "orders@penguin.example", "phone": "+44 20 1234",
                                                "address": None, "specialty": None, "notes": None,
                                                "status": "active"}
    assert resp.headers["Location"].endswith(f"/api/vendors/{made['id']}")
    got = client.get(resp.headers["Location"], headers=auth["viewer"])
    assert got.get_json() == made and got.headers["ETag"] == '"1"'


@pytest.mark.parametrize("body, status, code", [
    ({"name": "penguin trade"}, 409, "duplicate_name"),
    ({"name": "   "}, 400, "validation_error"),
    ({"name": "Other", "email": "not an email"}, 400, "validation_error"),
    ({"name": "Other", "status": "archived"}, 400, "validation_error"),
    ({"name": "Other", "colour": "red"}, 400, "validation_error"),
    ({}, 400, "validation_error"),
])
def test_bad_or_clashing_vendors_are_refused(client, auth, body, status, code):
    _vendor(client, auth)
    assert_problem(client.post("/api/vendors", json=body, headers=auth["manager"]), status, code)
    assert client.get("/api/vendors", headers=auth["viewer"]).get_json()["total"] == 1


def test_vendors_list_by_name_filter_search_and_archive_and_revive(client, auth):
    for name, specialty in (("Zed", "maps"), ("able books", "classics"), ("Mid", "classics")):
        _vendor(client, auth, name=name, specialty=specialty, email=None)
    page = client.get("/api/vendors", headers=auth["viewer"]).get_json()
    assert [v["name"] for v in page["items"]] == ["Mid", "Zed", "able books"]
    assert [v["name"] for v in client.get("/api/vendors?q=CLASS&sort=-name", headers=auth["viewer"]).get_json()[
        "items"]] == ["able books", "Mid"]
    zed = page["items"][1]
    archived = client.delete(f"/api/vendors/{zed['id']}", headers={**auth["manager"], "If-Match": '"1"'})
    assert archived.status_code == 200 and archived.get_json()["status"] == "archived"
    assert [v["name"] for v in client.get("/api/vendors?status=archived", headers=auth["viewer"]).get_json()[
        "items"]] == ["Zed"]
    assert_problem(client.patch(f"/api/vendors/{zed['id']}", json={"status": "active"},
                                headers={**auth["manager"], "If-Match": '"1"'}), 412)
    revived = client.patch(f"/api/vendors/{zed['id']}", json={"status": "active"}, headers=auth["manager"])
    assert revived.get_json()["status"] == "active" and revived.headers["ETag"] == '"3"'
    assert_problem(client.get("/api/vendors/nothing", headers=auth["viewer"]), 404)


# ---- supply links ---------------------------------------------------------------------------------

def test_supply_links_over_http_with_one_primary_moved_atomically(client, auth):
    penguin, other = _vendor(client, auth), _vendor(client, auth, name="Other")
    product = create_product(client, auth["manager"])
    resp = client.post(f"/api/vendors/{penguin['id']}/products", headers=auth["manager"],
                       json={"product_id": product["id"], "vendor_sku": "PEN-0141", "cost": 5.2,
                             "lead_time_days": 7})
    assert resp.status_code == 201
    first = resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/vendors/{penguin['id']}/products/{product['id']}")
    assert {k: first[k] for k in ("vendor_id", "product_id", "vendor_sku", "cost", "lead_time_days",
                                  "min_order_quantity", "pack_size", "is_primary", "version")} == {
        "vendor_id": penguin["id"], "product_id": product["id"], "vendor_sku": "PEN-0141", "cost": "5.20",
        "lead_time_days": 7, "min_order_quantity": 1, "pack_size": 1, "is_primary": True, "version": 1}
    assert "id" not in first and "key" not in first
    _link(client, auth, other, product, is_primary=True, pack_size=6)
    old = client.get(f"/api/vendors/{penguin['id']}/products/{product['id']}", headers=auth["viewer"])
    assert (old.get_json()["is_primary"], old.headers["ETag"]) == (False, '"2"')
    listed = client.get(f"/api/products/{product['id']}/vendors", headers=auth["viewer"]).get_json()
    assert [(l["vendor_id"], l["is_primary"]) for l in listed["items"]] == [(other["id"], True), (penguin["id"], False)]
    assert client.get(f"/api/vendors/{penguin['id']}/products?is_primary=true",
                      headers=auth["viewer"]).get_json()["total"] == 0
    changed = client.patch(f"/api/vendors/{penguin['id']}/products/{product['id']}", json={"is_primary": True},
                           headers={**auth["manager"], "If-Match": '"2"'})
    assert changed.status_code == 200 and changed.get_json()["is_primary"] is True
    assert_problem(client.post(f"/api/vendors/{penguin['id']}/products", json={"product_id": product["id"]},
                               headers=auth["manager"]), 409, "supply_exists")
    assert_problem(client.post(f"/api/vendors/{penguin['id']}/products", json={"product_id": "nothing"},
                               headers=auth["manager"]), 400, "validation_error")
    assert_problem(client.post(f"/api/vendors/{penguin['id']}/products",
                               json={"product_id": product["id"], "pack_size": 0}, headers=auth["manager"]), 400)
    assert_problem(client.patch(f"/api/vendors/{penguin['id']}/products/{product['id']}",
                                json={"vendor_id": other["id"]}, headers=auth["manager"]), 400)
    assert client.delete(f"/api/vendors/{penguin['id']}/products/{product['id']}",
                         headers=auth["manager"]).status_code == 204
    assert_problem(client.get(f"/api/vendors/{penguin['id']}/products/{product['id']}", headers=auth["viewer"]), 404)
    assert [l["is_primary"] for l in client.get(f"/api/products/{product['id']}/vendors",
                                                headers=auth["viewer"]).get_json()["items"]] == [False]
    assert_problem(client.get("/api/products/nothing/vendors", headers=auth["viewer"]), 404)


def test_an_archived_vendor_gets_no_new_link_or_purchase_order_but_may_be_contacted(client, auth):
    vendor = _vendor(client, auth)
    product = create_product(client, auth["manager"], cost="1.00")
    client.delete(f"/api/vendors/{vendor['id']}", headers=auth["manager"])
    assert_problem(client.post(f"/api/vendors/{vendor['id']}/products", json={"product_id": product["id"]},
                               headers=auth["manager"]), 409, "vendor_archived")
    body = {"vendor_id": vendor["id"], "lines": [{"product_id": product["id"], "quantity": 1}]}
    assert_problem(client.post("/api/purchase-orders", json=body, headers=auth["manager"]), 409, "vendor_archived")
    resp = client.post(f"/api/vendors/{vendor['id']}/contacts", json={"contact_type": "email", "message": "back?"},
                       headers=auth["clerk"])
    assert resp.status_code == 201


# ---- contacts -------------------------------------------------------------------------------------

def test_contacts_are_recorded_by_the_caller_and_listed_newest_first_with_filters(client, auth, users):
    vendor = _vendor(client, auth)
    product = create_product(client, auth["manager"])
    for kind, message, pid in (("email", "Asked for the spring list", None), ("phone", "Chased the order", product["id"]),
                               ("in_person", "Met at the fair", None)):
        resp = client.post(f"/api/vendors/{vendor['id']}/contacts", headers=auth["clerk"],
                           json={"contact_type": kind, "message": message, "product_id": pid})
        assert resp.status_code == 201
        made = resp.get_json()
        assert (made["user_id"], made["vendor_id"], made["contact_type"]) == (users["clerk"]["id"], vendor["id"], kind)
        assert set(made) == {"id", "vendor_id", "product_id", "contact_type", "message", "user_id", "created_at"}
    listed = client.get(f"/api/vendors/{vendor['id']}/contacts", headers=auth["viewer"]).get_json()
    assert [c["contact_type"] for c in listed["items"]] == ["in_person", "phone", "email"]
    path = f"/api/vendors/{vendor['id']}/contacts"
    assert client.get(f"{path}?contact_type=phone", headers=auth["viewer"]).get_json()["total"] == 1
    assert client.get(f"{path}?product_id={product['id']}", headers=auth["viewer"]).get_json()["total"] == 1
    assert client.get(f"{path}?q=SPRING", headers=auth["viewer"]).get_json()["total"] == 1
    assert client.get(f"{path}?since=2000-01-01&until=2999-01-01", headers=auth["viewer"]).get_json()["total"] == 3
    for body in ({"contact_type": "fax", "message": "x"}, {"contact_type": "email"},
                 {"contact_type": "email", "message": "x", "product_id": "nothing"}):
        assert_problem(client.post(path, json=body, headers=auth["clerk"]), 400, "validation_error")
    assert_problem(client.post("/api/vendors/nothing/contacts", json={"contact_type": "email", "message": "x"},
                               headers=auth["clerk"]), 404)
    assert client.get(path, headers=auth["viewer"]).get_json()["total"] == 3


# ---- purchase orders ------------------------------------------------------------------------------

def test_a_purchase_order_from_draft_to_received_by_scanning(client, auth):
    vendor = _vendor(client, auth)
    book = create_product(client, auth["manager"], kind="book", isbn="9780141439518", author="Austen", cost="4.00",
                          stock=10)
    mug = create_product(client, auth["manager"], cost="3.00", stock=0)
    _link(client, auth, vendor, book, cost="5.00", vendor_sku="PEN-0141", lead_time_days=7)
    resp = client.post("/api/purchase-orders", headers=auth["manager"], json={
        "vendor_id": vendor["id"], "notes": "spring restock",
        "lines": [{"barcode": "9780141439518", "quantity": 5}, {"product_id": mug["id"], "quantity": 2,
                                                                "unit_cost": "2.50"}]})
    assert resp.status_code == 201 and resp.headers["Location"].endswith(f"/api/purchase-orders/{resp.get_json()['id']}")
    po = resp.get_json()
    assert (po["number"], po["status"], po["subtotal"], po["currency"], po["expected_date"]) == (
        1, "draft", "30.00", "EUR", None)
    assert [(l["vendor_sku"], l["unit_cost"], l["line_total"]) for l in po["lines"]] == [
        ("PEN-0141", "5.00", "25.00"), (None, "2.50", "5.00")]
    ordered = _act(client, auth, po, "order", note="by email")
    assert ordered["status"] == "ordered" and ordered["expected_date"] is not None and ordered["ordered_at"]
    assert (_product(client, auth, book)["on_order"], _product(client, auth, mug)["on_order"]) == (5, 2)
    main = client.get("/api/locations?is_default=true", headers=auth["viewer"]).get_json()["items"][0]

    first = _receive(client, auth, po, [(book, 5)], note="carton 1 of 2", location_id=main["id"]).get_json()
    assert first["status"] == "partially_received" and first["lines"][0]["received_quantity"] == 5
    after = _product(client, auth, book)
    assert (after["stock"], after["cost"], after["on_order"]) == (15, "4.33", 0)
    resp = client.post(f"/api/purchase-orders/{po['id']}/receive", headers=auth["manager"],
                       json={"lines": [{"barcode": mug["sku"], "quantity": 2}]})
    assert resp.status_code == 200 and resp.get_json()["status"] == "received"
    assert resp.headers["ETag"] == f'"{resp.get_json()["version"]}"'
    assert [e["status"] for e in resp.get_json()["events"]] == ["draft", "ordered", "partially_received", "received"]
    ledger = client.get(f"/api/stock-movements?ref={po['id']}", headers=auth["viewer"]).get_json()["items"]
    assert sorted((m["product_id"], m["delta"], m["reason"]) for m in ledger) == sorted(
        [(book["id"], 5, "received"), (mug["id"], 2, "received")])
    assert _product(client, auth, mug)["cost"] == "2.50"
    for action in ("order", "close", "cancel"):
        assert_problem(client.post(f"/api/purchase-orders/{po['id']}/{action}", headers=auth["manager"]),
                       409, "invalid_transition")
    assert_problem(_receive(client, auth, po, [(mug, 1)], expect=409), 409, "invalid_transition")


def test_a_rescanned_carton_counts_once_with_its_idempotency_key(client, auth):
    vendor = _vendor(client, auth)
    product = create_product(client, auth["manager"], cost="1.00", stock=0)
    po = _draft(client, auth, vendor, [(product, 4)])
    _act(client, auth, po, "order")
    first = _receive(client, auth, po, [(product, 2)], key="carton-1")
    again = _receive(client, auth, po, [(product, 2)], key="carton-1")
    assert again.get_json() == first.get_json() and again.headers.get("Idempotent-Replayed") == "true"
    assert _product(client, auth, product)["stock"] == 2
    assert_problem(_receive(client, auth, po, [(product, 1)], expect=409, key="carton-1"), 409, "idempotency_conflict")


def test_an_over_receipt_is_409_with_overages_and_changes_nothing(client, auth):
    vendor = _vendor(client, auth)
    a, b = (create_product(client, auth["manager"], cost="1.00", stock=0) for _ in range(2))
    po = _draft(client, auth, vendor, [(a, 3), (b, 1)])
    assert_problem(_receive(client, auth, po, [(a, 1)], expect=409), 409, "invalid_transition")
    _act(client, auth, po, "order")
    body = assert_problem(_receive(client, auth, po, [(a, 3), (b, 2)], expect=409), 409, "over_receipt")
    assert body["overages"] == [{"index": 1, "product_id": b["id"], "requested": 2, "outstanding": 1}]
    assert list(body["errors"]) == ["lines.1"]
    assert (_product(client, auth, a)["stock"], _product(client, auth, a)["on_order"]) == (0, 3)
    bad = assert_problem(_receive(client, auth, po, [(a, 0)], expect=400), 400, "validation_error")
    assert list(bad["errors"]) == ["lines.0"]
    assert_problem(_receive(client, auth, po, [(a, 1)], expect=400, location_id="nowhere"), 400)
    assert client.get(f"/api/purchase-orders/{po['id']}", headers=auth["viewer"]).get_json()["version"] == po["version"] + 1


@pytest.mark.parametrize("line, field", [({"product_id": "nothing", "quantity": 1}, "lines.0"),
                                         ({"quantity": 0}, "lines.0"), ({"unit_cost": "-1.00"}, "lines.0"),
                                         ({"unit_cost": None, "product_id": None}, "lines.0")])
def test_bad_purchase_order_lines_are_400_under_their_index(client, auth, line, field):
    vendor = _vendor(client, auth)
    product = create_product(client, auth["manager"])  # no cost
    item = {"product_id": product["id"], "quantity": 1, "unit_cost": "1.00", **line}
    item = {k: v for k, v in item.items() if v is not None}
    resp = client.post("/api/purchase-orders", json={"vendor_id": vendor["id"], "lines": [item]}, headers=auth["manager"])
    assert field in assert_problem(resp, 400, "validation_error")["errors"]
    assert client.get("/api/purchase-orders", headers=auth["viewer"]).get_json()["total"] == 0


def test_create_purchase_order_honours_idempotency_key_and_an_unknown_vendor_is_400(client, auth):
    vendor = _vendor(client, auth)
    product = create_product(client, auth["manager"], cost="1.00")
    first = _draft(client, auth, vendor, [(product, 1)], headers={"Idempotency-Key": "po-1"})
    again = _draft(client, auth, vendor, [(product, 1)], headers={"Idempotency-Key": "po-1"})
    assert again == first
    assert client.get("/api/purchase-orders", headers=auth["viewer"]).get_json()["total"] == 1
    body = {"vendor_id": "nobody", "lines": [{"product_id": product["id"], "quantity": 1}]}
    assert "vendor_id" in assert_problem(client.post("/api/purchase-orders", json=body, headers=auth["manager"]),
                                         400)["errors"]


def test_patch_changes_lines_only_while_draft_and_notes_until_finished(client, auth):
    vendor = _vendor(client, auth)
    product = create_product(client, auth["manager"], cost="2.00")
    po = _draft(client, auth, vendor, [(product, 1)])
    resp = client.patch(f"/api/purchase-orders/{po['id']}", headers={**auth["manager"], "If-Match": '"1"'},
                        json={"lines": [{"product_id": product["id"], "quantity": 3}], "expected_date": "2026-12-01"})
    assert resp.status_code == 200
    assert (resp.get_json()["subtotal"], resp.get_json()["expected_date"]) == ("6.00", "2026-12-01")
    assert_problem(client.patch(f"/api/purchase-orders/{po['id']}", json={"notes": "x"},
                                headers={**auth["manager"], "If-Match": '"1"'}), 412)
    _act(client, auth, po, "order")
    assert_problem(client.patch(f"/api/purchase-orders/{po['id']}", headers=auth["manager"],
                                json={"lines": [{"product_id": product["id"], "quantity": 1}]}), 409, "invalid_transition")
    assert client.patch(f"/api/purchase-orders/{po['id']}", json={"notes": "late"},
                        headers=auth["manager"]).get_json()["notes"] == "late"
    cancelled = _act(client, auth, po, "cancel", note="not needed")
    assert cancelled["status"] == "cancelled" and _product(client, auth, product)["on_order"] == 0
    assert_problem(client.patch(f"/api/purchase-orders/{po['id']}", json={"notes": "x"}, headers=auth["manager"]),
                   409, "invalid_transition")


def test_close_takes_the_rest_off_order(client, auth):
    vendor = _vendor(client, auth)
    product = create_product(client, auth["manager"], cost="1.00")
    po = _draft(client, auth, vendor, [(product, 5)])
    _act(client, auth, po, "order")
    _receive(client, auth, po, [(product, 2)])
    closed = _act(client, auth, po, "close", note="the rest will not come")
    assert closed["status"] == "closed" and closed["events"][-1]["note"] == "the rest will not come"
    assert _product(client, auth, product)["on_order"] == 0


def test_purchase_orders_list_newest_first_with_filters_and_search(client, auth):
    penguin, other = _vendor(client, auth), _vendor(client, auth, name="Other")
    a = create_product(client, auth["manager"], cost="1.00", title="Middlemarch")
    b = create_product(client, auth["manager"], cost="9.00")
    first = _draft(client, auth, penguin, [(a, 1)], notes="spring restock")
    second = _draft(client, auth, other, [(b, 2)])
    _act(client, auth, second, "order")

    def numbers(query):
        resp = client.get(f"/api/purchase-orders?{query}", headers=auth["viewer"])
        assert resp.status_code == 200, resp.get_json()
        return [po["number"] for po in resp.get_json()["items"]]
    assert numbers("") == [2, 1]
    assert numbers("status=ordered") == [2]
    assert numbers(f"vendor_id={penguin['id']}") == [1]
    assert numbers(f"product_id={b['id']}") == [2]
    assert numbers("q=SPRING") == [1] and numbers("q=middle") == [1] and numbers(f"q={b['sku']}") == [2]
    assert numbers("sort=-subtotal") == [2, 1] and numbers("sort=number") == [1, 2]
    assert numbers("since=2000-01-01&until=2999-12-31") == [2, 1]
    assert_problem(client.get("/api/purchase-orders?status=lost", headers=auth["viewer"]), 400)
    assert first["status"] == "draft"


# ---- on order and suggestions ---------------------------------------------------------------------

def test_products_show_on_order_and_reorder_quantity_to_staff_only_and_on_order_is_read_only(client, auth):
    product = create_product(client, auth["manager"], reorder_quantity=12)
    assert (product["on_order"], product["reorder_quantity"]) == (0, 12)
    public = client.get(f"/api/products/{product['id']}").get_json()
    assert "on_order" not in public and "reorder_quantity" not in public and "cost" not in public
    assert_problem(client.patch(f"/api/products/{product['id']}", json={"on_order": 3}, headers=auth["manager"]), 400)
    same = client.patch(f"/api/products/{product['id']}", json={"on_order": 0, "reorder_quantity": None},
                        headers=auth["manager"])
    assert same.status_code == 200 and same.get_json()["reorder_quantity"] is None
    assert_problem(client.patch(f"/api/products/{product['id']}", json={"reorder_quantity": 0},
                                headers=auth["manager"]), 400)


def test_suggestions_group_by_primary_vendor_and_drafts_follow_them(client, auth):
    penguin = _vendor(client, auth)
    low = create_product(client, auth["manager"], sku="LOW-1", stock=2, low_stock_threshold=5, cost="1.00")
    alone = create_product(client, auth["manager"], sku="LOW-2", stock=0, low_stock_threshold=1, cost="1.00")
    create_product(client, auth["manager"], sku="PLENTY", stock=50, low_stock_threshold=5)
    _link(client, auth, penguin, low, min_order_quantity=10, pack_size=6, cost="0.80")
    resp = client.get("/api/purchasing/suggestions", headers=auth["viewer"])
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
    assert [(g["vendor_id"], g["vendor_name"], [(p["sku"], p["suggested_quantity"]) for p in g["products"]])
            for g in body["items"]] == [(penguin["id"], "Penguin Trade", [("LOW-1", 12)]), (None, None, [("LOW-2", 2)])]
    assert body["items"][0]["products"][0] == {"product_id": low["id"], "sku": "LOW-1", "title": low["title"],
                                               "stock": 2, "on_order": 0, "threshold": 5, "suggested_quantity": 12}
    page = client.get("/api/purchasing/suggestions?limit=1&offset=1", headers=auth["viewer"])
    assert page.get_json()["items"][0]["vendor_id"] is None and 'rel="prev"' in page.headers["Link"]
    assert client.get(f"/api/purchasing/suggestions?vendor_id={penguin['id']}",
                      headers=auth["viewer"]).get_json()["total"] == 1

    resp = client.post("/api/purchasing/suggestions/draft", headers={**auth["manager"], "Idempotency-Key": "d-1"})
    assert resp.status_code == 201
    made = resp.get_json()
    assert [(po["vendor_id"], po["status"], [(l["product_id"], l["quantity"], l["unit_cost"]) for l in po["lines"]])
            for po in made["purchase_orders"]] == [(penguin["id"], "draft", [(low["id"], 12, "0.80")])]
    assert made["skipped"] == [{"product_id": alone["id"], "sku": "LOW-2", "title": alone["title"],
                                "reason": "no_vendor"}]
    replay = client.post("/api/purchasing/suggestions/draft", headers={**auth["manager"], "Idempotency-Key": "d-1"})
    assert replay.status_code == 201 and replay.get_json() == made
    again = client.post("/api/purchasing/suggestions/draft", json={"vendor_ids": [penguin["id"]]},
                        headers=auth["manager"])
    assert again.status_code == 200
    assert again.get_json() == {"purchase_orders": [], "skipped": [{"product_id": low["id"], "sku": "LOW-1",
                                                                    "title": low["title"], "reason": "on_draft"}]}
    _act(client, auth, made["purchase_orders"][0], "order")
    assert [g["vendor_id"] for g in client.get("/api/purchasing/suggestions",
                                               headers=auth["viewer"]).get_json()["items"]] == [None]
    assert_problem(client.post("/api/purchasing/suggestions/draft", json={"vendor_ids": ["nobody"]},
                               headers=auth["manager"]), 400, "validation_error")


def test_the_stock_levels_report_shows_what_is_on_order(client, auth):
    vendor = _vendor(client, auth)
    product = create_product(client, auth["manager"], sku="ON-ORDER", cost="1.00")
    po = _draft(client, auth, vendor, [(product, 7)])
    _act(client, auth, po, "order")
    rows = client.get("/api/reports/stock-levels?q=ON-ORDER", headers=auth["viewer"]).get_json()["items"]
    assert [(r["sku"], r["on_order"]) for r in rows] == [("ON-ORDER", 7)]


def test_products_stored_before_purchasing_get_on_order_0_at_start_up(app, make_app, auth):
    store = app.extensions["backroom.store"]
    with store.unit_of_work() as uow:  # as a store made before section 10 left it
        uow.products.add({"id": "p-old", "sku": "OLD-1", "title": "Old", "kind": "general", "author": None,
                          "isbn": None, "barcode": None, "description": None, "category": None, "price": "1.00",
                          "cost": None, "stock": 0, "low_stock_threshold": 5, "status": "active"})
        uow.commit()
    restarted = make_app().test_client()
    product = restarted.get("/api/products/p-old", headers=auth["manager"]).get_json()
    assert (product["on_order"], product["reorder_quantity"], product["version"]) == (0, None, 1)
