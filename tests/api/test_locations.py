"""The locations blueprint over HTTP: locations, stock per location, transfers and stock counts,
and location_id on orders, adjustments, receiving, opening stock and the ledger."""
import pytest

from tests.factories import assert_problem, create_product, place_order

ROLES = ("admin", "manager", "clerk", "viewer")


def _main(client, auth):
    return client.get("/api/locations?is_default=true", headers=auth["viewer"]).get_json()["items"][0]


def _location(client, auth, expect=201, **fields):
    body = {"name": "Back room", "code": "back", "kind": "stockroom", **fields}
    resp = client.post("/api/locations", json=body, headers=auth["manager"])
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def _transfer(client, headers, source, destination, lines, expect=201, **fields):
    body = {"from_location_id": source["id"], "to_location_id": destination["id"],
            "lines": [{"product_id": p["id"], "quantity": q} for p, q in lines], **fields}
    resp = client.post("/api/transfers", json=body, headers=headers)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def _quantities(client, auth, product):
    answer = client.get(f"/api/products/{product['id']}/stock", headers=auth["viewer"]).get_json()
    return answer["total"], {loc["code"]: loc["quantity"] for loc in answer["locations"]}


def _ledger(client, auth, **filters):
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return client.get(f"/api/stock-movements?limit=200&{query}", headers=auth["viewer"]).get_json()["items"]


# ---- roles ----------------------------------------------------------------------------------------

def test_each_role_may_do_what_section_9_allows_and_nothing_more(client, auth):
    main = _main(client, auth)
    product = create_product(client, auth["manager"], stock=50)
    back = _location(client, auth)
    reads = ["/api/locations", f"/api/locations/{main['id']}", f"/api/locations/{main['id']}/stock",
             f"/api/products/{product['id']}/stock", "/api/transfers", "/api/stock-counts"]
    for path in reads:
        assert client.get(path).status_code == 401, path
        for role in ROLES:
            assert client.get(path, headers=auth[role]).status_code == 200, (path, role)

    for n, role in enumerate(ROLES):
        allowed = role in ("admin", "manager")
        resp = client.post("/api/locations", json={"name": f"Room {n}", "code": f"R{n}"}, headers=auth[role])
        assert resp.status_code == (201 if allowed else 403), role
        resp = client.patch(f"/api/locations/{back['id']}", json={"address": role}, headers=auth[role])
        assert resp.status_code == (200 if allowed else 403), role
        resp = client.post(f"/api/locations/{main['id']}/counts", headers=auth[role],
                           json={"lines": [{"product_id": product["id"], "counted": 50}]})
        assert resp.status_code == (201 if allowed else 403), role
        if not allowed:
            assert client.delete(f"/api/locations/{back['id']}", headers=auth[role]).status_code == 403

        may_move = role != "viewer"
        body = {"from_location_id": main["id"], "to_location_id": back["id"],
                "lines": [{"product_id": product["id"], "quantity": 1}]}
        resp = client.post("/api/transfers", json=body, headers=auth[role])
        assert resp.status_code == (201 if may_move else 403), role
        planned = resp.get_json() if may_move else _transfer(client, auth["clerk"], main, back, [(product, 1)])
        for action in ("complete", "cancel"):
            resp = client.post(f"/api/transfers/{planned['id']}/{action}", headers=auth[role])
            assert resp.status_code == (200 if may_move and action == "complete" else 409 if may_move else 403)
    assert client.post("/api/locations", json={"name": "X", "code": "X"}).status_code == 401
    assert client.get(f"/api/transfers/{planned['id']}", headers=auth["viewer"]).status_code == 200
    gone = _location(client, auth, name="Attic", code="ATTIC")
    assert client.delete(f"/api/locations/{gone['id']}", headers=auth["admin"]).status_code == 200


# ---- locations ------------------------------------------------------------------------------------

def test_a_store_starts_with_the_default_location_shop(client, auth):
    resp = client.get("/api/locations", headers=auth["viewer"])
    assert resp.status_code == 200
    [main] = resp.get_json()["items"]
    assert {k: main[k] for k in ("name", "code", "kind", "address", "is_default", "status", "version")} == {
        "name": "Shop", "code": "MAIN", "kind": "store", "address": None, "is_default": True,
        "status": "active", "version": 1}


def test_create_location_is_201_with_location_and_etag_and_the_code_upper_cased(client, auth):
    resp = client.post("/api/locations", json={"name": " Back room ", "code": "back-1", "kind": "stockroom"},
                       headers=auth["manager"])
    assert resp.status_code == 201
    made = resp.get_json()
    assert (made["name"], made["code"], made["is_default"], made["status"]) == ("Back room", "BACK-1", False,
                                                                               "active")
    assert resp.headers["Location"].endswith(f"/api/locations/{made['id']}")
    assert resp.headers["ETag"] == '"1"'
    got = client.get(resp.headers["Location"], headers=auth["viewer"])
    assert got.get_json() == made and got.headers["ETag"] == '"1"'


@pytest.mark.parametrize("body, status, code", [
    ({"name": "shop", "code": "OTHER"}, 409, "duplicate_name"),
    ({"name": "Other", "code": "main"}, 409, "duplicate_code"),
    ({"name": "Other", "code": "NO SPACES"}, 400, "validation_error"),
    ({"name": "Other", "code": "O", "status": "archived"}, 400, "validation_error"),
    ({"name": "Other", "code": "O", "kind": "shed"}, 400, "validation_error"),
    ({"name": "Other", "code": "O", "colour": "red"}, 400, "validation_error"),
])
def test_bad_or_clashing_locations_are_refused(client, auth, body, status, code):
    assert_problem(client.post("/api/locations", json=body, headers=auth["manager"]), status, code)


def test_the_default_moves_and_archiving_is_judged_default_then_stock_then_pending_transfers(client, auth):
    main = _main(client, auth)
    back = _location(client, auth)
    assert_problem(client.patch(f"/api/locations/{main['id']}", json={"is_default": False},
                                headers=auth["manager"]), 409, "default_location")
    assert_problem(client.delete(f"/api/locations/{main['id']}", headers=auth["manager"]), 409,
                   "default_location")
    product = create_product(client, auth["manager"], stock=3)
    _transfer(client, auth["clerk"], main, back, [(product, 1)], complete=True)
    assert_problem(client.delete(f"/api/locations/{back['id']}", headers=auth["manager"]), 409,
                   "location_not_empty")
    _transfer(client, auth["clerk"], back, main, [(product, 1)], complete=True)
    planned = _transfer(client, auth["clerk"], main, back, [(product, 1)])
    assert_problem(client.delete(f"/api/locations/{back['id']}", headers=auth["manager"]), 409,
                   "location_in_use")
    client.post(f"/api/transfers/{planned['id']}/cancel", headers=auth["clerk"])
    resp = client.delete(f"/api/locations/{back['id']}", headers=auth["manager"])
    assert resp.status_code == 200 and resp.get_json()["status"] == "archived"
    assert_problem(client.patch(f"/api/locations/{back['id']}", json={"is_default": True},
                                headers=auth["manager"]), 409, "location_archived")
    resp = client.patch(f"/api/locations/{back['id']}", json={"status": "active", "is_default": True},
                        headers={**auth["manager"], "If-Match": resp.headers["ETag"]})
    assert resp.status_code == 200 and resp.get_json()["is_default"] is True
    old = client.get(f"/api/locations/{main['id']}", headers=auth["viewer"]).get_json()
    assert (old["is_default"], old["version"]) == (False, main["version"] + 1)
    assert_problem(client.patch(f"/api/locations/{main['id']}", json={"name": "Floor"},
                                headers={**auth["manager"], "If-Match": '"1"'}), 412, "precondition_failed")


def test_locations_are_listed_default_first_then_by_name_and_filtered(client, auth):
    for name, code in (("Warehouse", "WH"), ("Annex", "ANX")):
        _location(client, auth, name=name, code=code, kind="warehouse", address=f"{name} Road")
    items = client.get("/api/locations", headers=auth["viewer"]).get_json()["items"]
    assert [loc["code"] for loc in items] == ["MAIN", "ANX", "WH"]
    found = client.get("/api/locations?q=annex&kind=warehouse&is_default=false",
                       headers=auth["viewer"]).get_json()
    assert [loc["code"] for loc in found["items"]] == ["ANX"] and found["total"] == 1
    assert_problem(client.get("/api/locations?sort=colour", headers=auth["viewer"]), 400, "validation_error")


# ---- stock at a location --------------------------------------------------------------------------

def test_opening_adjustments_receiving_and_orders_take_a_location(client, auth):
    back = _location(client, auth)
    product = create_product(client, auth["manager"], stock=4, barcode="4006381333931", location_id=back["id"])
    assert "location_id" not in product
    assert _quantities(client, auth, product) == (4, {"MAIN": 0, "BACK": 4})
    resp = client.post(f"/api/products/{product['id']}/adjustments", headers=auth["manager"],
                       json={"delta": -1, "reason": "damaged", "location_id": back["id"]})
    assert resp.status_code == 201 and resp.get_json()["location_stock_after"] == 3
    resp = client.post("/api/inventory/receive", headers=auth["manager"],
                       json={"code": "4006381333931", "quantity": 2, "location_id": back["id"]})
    assert resp.status_code == 201 and resp.get_json()["location_id"] == back["id"]
    body = assert_problem(client.post("/api/orders", headers=auth["clerk"], json={
        "items": [{"product_id": product["id"], "quantity": 1}]}), 409, "insufficient_stock")
    assert body["shortages"][0]["available"] == 0
    order = place_order(client, auth["clerk"], [(product, 2)], location_id=back["id"])
    assert order["location_id"] == back["id"]
    assert _quantities(client, auth, product) == (3, {"MAIN": 0, "BACK": 3})
    listed = client.get(f"/api/orders?location_id={back['id']}", headers=auth["viewer"]).get_json()
    assert [o["id"] for o in listed["items"]] == [order["id"]]
    at_back = _ledger(client, auth, product_id=product["id"], location_id=back["id"])
    assert sum(m["delta"] for m in at_back) == 3 and {m["location_id"] for m in at_back} == {back["id"]}


@pytest.mark.parametrize("where", ["order", "adjustment", "receive", "product"])
def test_an_unknown_location_in_a_body_is_400_under_location_id(client, auth, where):
    product = create_product(client, auth["manager"], barcode="4006381333931")
    path, body = {
        "order": ("/api/orders", {"items": [{"product_id": product["id"], "quantity": 1}]}),
        "adjustment": (f"/api/products/{product['id']}/adjustments", {"delta": 1, "reason": "other"}),
        "receive": ("/api/inventory/receive", {"code": "4006381333931"}),
        "product": ("/api/products", {"sku": "NEW-1", "title": "New", "price": "1.00", "stock": 1}),
    }[where]
    body = assert_problem(client.post(path, json={**body, "location_id": "nowhere"}, headers=auth["manager"]),
                          400, "validation_error")
    assert list(body["errors"]) == ["location_id"]


def test_location_id_is_no_product_field_for_put_or_patch(client, auth):
    product = create_product(client, auth["manager"])
    resp = client.patch(f"/api/products/{product['id']}", json={"location_id": _main(client, auth)["id"]},
                        headers=auth["manager"])
    assert assert_problem(resp, 400, "validation_error")["errors"].keys() == {"location_id"}


def test_a_transfer_reason_is_no_adjustment(client, auth):
    product = create_product(client, auth["manager"])
    resp = client.post(f"/api/products/{product['id']}/adjustments", json={"delta": 1, "reason": "transfer_in"},
                       headers=auth["manager"])
    assert list(assert_problem(resp, 400, "validation_error")["errors"]) == ["reason"]


def test_a_locations_stock_lists_what_it_holds_searched_and_sorted(client, auth):
    main = _main(client, auth)
    a = create_product(client, auth["manager"], sku="B-MUG", title="Mug", stock=5)
    b = create_product(client, auth["manager"], sku="A-PEN", title="Pen", stock=2)
    create_product(client, auth["manager"], sku="C-NONE", title="Nothing", stock=0)
    items = client.get(f"/api/locations/{main['id']}/stock", headers=auth["viewer"]).get_json()["items"]
    assert items == [{"product_id": b["id"], "sku": "A-PEN", "title": "Pen", "quantity": 2},
                     {"product_id": a["id"], "sku": "B-MUG", "title": "Mug", "quantity": 5}]
    page = client.get(f"/api/locations/{main['id']}/stock?sort=-quantity&limit=1", headers=auth["viewer"])
    assert [i["sku"] for i in page.get_json()["items"]] == ["B-MUG"] and 'rel="next"' in page.headers["Link"]
    found = client.get(f"/api/locations/{main['id']}/stock?q=pen", headers=auth["viewer"]).get_json()
    assert [i["sku"] for i in found["items"]] == ["A-PEN"]
    assert_problem(client.get("/api/locations/nowhere/stock", headers=auth["viewer"]), 404, "not_found")
    assert_problem(client.get("/api/products/nowhere/stock", headers=auth["viewer"]), 404, "not_found")


# ---- transfers ------------------------------------------------------------------------------------

def test_a_transfer_planned_then_completed_moves_stock_with_two_movements_per_line(client, auth, users):
    main, back = _main(client, auth), _location(client, auth)
    product = create_product(client, auth["manager"], stock=10)
    resp = client.post("/api/transfers", headers=auth["clerk"], json={
        "from_location_id": main["id"], "to_location_id": back["id"], "note": "restock",
        "lines": [{"barcode": product["sku"], "quantity": 4}]})
    assert resp.status_code == 201
    planned = resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/transfers/{planned['id']}")
    assert (planned["number"], planned["status"], planned["created_by"], planned["completed_by"]) == (
        1, "pending", users["clerk"]["id"], None)
    assert planned["lines"] == [{"product_id": product["id"], "sku": product["sku"], "title": product["title"],
                                 "quantity": 4}]
    assert _quantities(client, auth, product) == (10, {"MAIN": 10, "BACK": 0})

    resp = client.post(f"/api/transfers/{planned['id']}/complete", headers=auth["manager"])
    assert resp.status_code == 200 and resp.headers["ETag"] == '"2"'
    done = resp.get_json()
    assert (done["status"], done["completed_by"]) == ("completed", users["manager"]["id"])
    assert done["completed_at"].endswith("Z")
    assert _quantities(client, auth, product) == (10, {"MAIN": 6, "BACK": 4})
    moved = sorted(_ledger(client, auth, product_id=product["id"], q=done["id"]), key=lambda m: m["id"])
    assert [(m["reason"], m["delta"], m["stock_after"], m["location_stock_after"], m["ref"]) for m in moved] == [
        ("transfer_out", -4, 6, 6, done["id"]), ("transfer_in", 4, 10, 4, done["id"])]
    assert_problem(client.post(f"/api/transfers/{done['id']}/complete", headers=auth["manager"]), 409,
                   "invalid_transition")
    assert_problem(client.post(f"/api/transfers/{done['id']}/complete", json={"now": True},
                               headers=auth["manager"]), 400, "validation_error")


def test_a_transfer_short_at_the_source_is_409_with_its_line_and_moves_nothing(client, auth):
    main, back = _main(client, auth), _location(client, auth)
    a, b = create_product(client, auth["manager"], stock=5), create_product(client, auth["manager"], stock=1)
    body = _transfer(client, auth["clerk"], main, back, [(a, 2), (b, 3)], expect=409, complete=True)
    assert body["code"] == "insufficient_stock" and list(body["errors"]) == ["lines.1"]
    assert body["shortages"] == [{"index": 1, "product_id": b["id"], "location_id": main["id"],
                                  "requested": 3, "available": 1}]
    assert client.get("/api/transfers", headers=auth["viewer"]).get_json()["total"] == 0
    assert _quantities(client, auth, a) == (5, {"MAIN": 5, "BACK": 0})


@pytest.mark.parametrize("change, field", [
    ({"to_location_id": "same"}, "to_location_id"), ({"from_location_id": "nowhere"}, "from_location_id"),
    ({"lines": []}, "lines"), ({"lines": [{"product_id": "nope", "quantity": 1}]}, "lines.0"),
    ({"lines": "quantity0"}, "lines.0"), ({"to_location_id": None}, "to_location_id")])
def test_bad_transfers_are_400_under_their_field(client, auth, change, field):
    main, back = _main(client, auth), _location(client, auth)
    product = create_product(client, auth["manager"])
    body = {"from_location_id": main["id"], "to_location_id": back["id"],
            "lines": [{"product_id": product["id"], "quantity": 1}], **change}
    if body["to_location_id"] == "same":
        body["to_location_id"] = main["id"]
    if body["lines"] == "quantity0":
        body["lines"] = [{"product_id": product["id"], "quantity": 0}]
    resp = client.post("/api/transfers", json=body, headers=auth["clerk"])
    assert list(assert_problem(resp, 400, "validation_error")["errors"]) == [field]


def test_a_retried_transfer_with_its_idempotency_key_is_made_once(client, auth):
    main, back = _main(client, auth), _location(client, auth)
    product = create_product(client, auth["manager"], stock=5)
    body = {"from_location_id": main["id"], "to_location_id": back["id"], "complete": True,
            "lines": [{"product_id": product["id"], "quantity": 2}]}
    headers = {**auth["clerk"], "Idempotency-Key": "t-1"}
    first = client.post("/api/transfers", json=body, headers=headers)
    again = client.post("/api/transfers", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _quantities(client, auth, product) == (5, {"MAIN": 3, "BACK": 2})
    assert_problem(client.post("/api/transfers", json={**body, "note": "other"}, headers=headers), 409,
                   "idempotency_conflict")


def test_transfers_are_listed_newest_first_and_filtered(client, auth):
    main, back = _main(client, auth), _location(client, auth)
    a, b = create_product(client, auth["manager"]), create_product(client, auth["manager"])
    first = _transfer(client, auth["clerk"], main, back, [(a, 1)], note="floor one")
    second = _transfer(client, auth["clerk"], back, main, [(b, 1)])
    client.post(f"/api/transfers/{first['id']}/cancel", headers=auth["clerk"])

    def listed(query):
        return [t["number"] for t in client.get(f"/api/transfers?{query}", headers=auth["viewer"]).get_json()["items"]]
    assert listed("") == [second["number"], first["number"]]
    assert listed("status=cancelled") == listed(f"from_location_id={main['id']}") == [first["number"]]
    assert listed(f"to_location_id={main['id']}") == listed(f"product_id={b['id']}") == [second["number"]]
    assert listed("q=floor") == [first["number"]] and listed("sort=number") == [1, 2]
    assert_problem(client.get("/api/transfers?status=lost", headers=auth["viewer"]), 400, "validation_error")
    assert_problem(client.get("/api/transfers/nope", headers=auth["viewer"]), 404, "not_found")


# ---- stock counts ---------------------------------------------------------------------------------

def test_a_count_is_201_with_expected_counted_delta_and_corrects_stock(client, auth, users):
    main = _main(client, auth)
    a = create_product(client, auth["manager"], stock=6)
    b = create_product(client, auth["manager"], stock=0, barcode="4006381333931")
    resp = client.post(f"/api/locations/{main['id']}/counts", headers=auth["manager"], json={
        "note": "Saturday stocktake, aisle 3",
        "lines": [{"product_id": a["id"], "counted": 4}, {"barcode": "4006381333931", "counted": 0}]})
    assert resp.status_code == 201
    made = resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/stock-counts/{made['id']}")
    assert (made["location_id"], made["note"], made["created_by"]) == (main["id"], "Saturday stocktake, aisle 3",
                                                                      users["manager"]["id"])
    assert [(ln["product_id"], ln["expected"], ln["counted"], ln["delta"]) for ln in made["lines"]] == [
        (a["id"], 6, 4, -2), (b["id"], 0, 0, 0)]
    assert set(made) == {"id", "location_id", "note", "created_by", "created_at", "lines"}
    assert _quantities(client, auth, a) == (4, {"MAIN": 4})
    counted = _ledger(client, auth, reason="count")
    assert [(m["product_id"], m["delta"], m["ref"]) for m in counted] == [(a["id"], -2, made["id"])]
    assert client.get(resp.headers["Location"], headers=auth["viewer"]).get_json() == made
    listed = client.get(f"/api/stock-counts?location_id={main['id']}&product_id={b['id']}&q=aisle",
                        headers=auth["viewer"]).get_json()
    assert [c["id"] for c in listed["items"]] == [made["id"]]


def test_a_retried_count_with_its_idempotency_key_counts_once(client, auth):
    main, back = _main(client, auth), _location(client, auth)
    product = create_product(client, auth["manager"], stock=3)
    body = {"lines": [{"product_id": product["id"], "counted": 1}]}
    headers = {**auth["manager"], "Idempotency-Key": "count-1"}
    first = client.post(f"/api/locations/{main['id']}/counts", json=body, headers=headers)
    again = client.post(f"/api/locations/{main['id']}/counts", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and again.get_json() == first.get_json()
    elsewhere = client.post(f"/api/locations/{back['id']}/counts", json=body, headers=headers)
    assert elsewhere.status_code == 201 and elsewhere.get_json()["id"] != first.get_json()["id"]
    assert _quantities(client, auth, product) == (2, {"MAIN": 1, "BACK": 1})


def test_bad_counts_change_nothing(client, auth):
    main, back = _main(client, auth), _location(client, auth)
    product = create_product(client, auth["manager"], stock=3)
    for lines, field in (([], "lines"), ([{"product_id": product["id"], "counted": -1}], "lines.0"),
                         ([{"product_id": product["id"], "counted": 1}, {"product_id": product["id"], "counted": 1}],
                          "lines.1")):
        resp = client.post(f"/api/locations/{main['id']}/counts", json={"lines": lines}, headers=auth["manager"])
        assert list(assert_problem(resp, 400, "validation_error")["errors"]) == [field]
    client.delete(f"/api/locations/{back['id']}", headers=auth["manager"])
    assert_problem(client.post(f"/api/locations/{back['id']}/counts", headers=auth["manager"],
                               json={"lines": [{"product_id": product["id"], "counted": 1}]}), 409,
                   "location_archived")
    assert_problem(client.post("/api/locations/nowhere/counts", headers=auth["manager"],
                               json={"lines": [{"product_id": product["id"], "counted": 1}]}), 404, "not_found")
    assert _quantities(client, auth, product)[0] == 3
