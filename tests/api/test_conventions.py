"""Section 2 conventions over HTTP: problem+json for every error, ETags, lists, bodies, money, timestamps."""
import re

import pytest

from tests.factories import (assert_problem, create_delivery, create_product, move_delivery, pay,
                             place_order)

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
MONEY = re.compile(r"^-?\d+\.\d\d$")


# ---- errors are problem+json, always ------------------------------------------

def test_invalid_json_is_400_invalid_json(client, auth):
    resp = client.post("/api/products", data='{"sku": ', content_type="application/json",
                       headers=auth["manager"])
    assert_problem(resp, 400, "invalid_json")


@pytest.mark.parametrize("path,text", [
    ("/api/products", '{"sku": "S-1", "title": "Half \\ud800 a pair", "price": "1.00"}'),
    ("/api/products", '{"sku": "S-1", "title": "T", "price": "1.00", "tags\\udc00": 1}'),
    ("/api/orders", '{"items": [{"barcode": "\\udfff", "quantity": 1}]}'),
    ("/api/auth/login", '{"username": "a\\udc00", "password": "x"}'),
])
def test_half_a_surrogate_pair_is_invalid_json_and_stores_nothing(client, auth, path, text):
    resp = client.post(path, data=text, content_type="application/json", headers=auth["manager"])
    assert "surrogate" in assert_problem(resp, 400, "invalid_json")["detail"]
    assert client.get("/api/products", headers=auth["manager"]).get_json()["total"] == 0


def test_an_escaped_surrogate_pair_is_one_character(client, auth):
    resp = client.post("/api/products", data='{"sku": "S-1", "title": "Smile \\ud83d\\ude00", '
                       '"price": "1.00"}', content_type="application/json", headers=auth["manager"])
    assert resp.status_code == 201 and resp.get_json()["title"] == "Smile \U0001F600"


def test_a_json_body_that_is_not_an_object_is_400(client, auth):
    resp = client.post("/api/products", json=["sku"], headers=auth["manager"])
    assert_problem(resp, 400, "validation_error")


def test_unknown_route_is_404_problem(client):
    body = assert_problem(client.get("/api/no-such-thing"), 404, "not_found")
    assert "<html" not in str(body).lower()


def test_wrong_method_is_405_problem_with_allow(client):
    resp = client.delete("/api/orders")
    assert_problem(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"] and "POST" in resp.headers["Allow"]


def test_body_over_the_limit_is_413_problem(app_with, auth):
    client = app_with(MAX_BODY_BYTES=200).test_client()
    resp = client.post("/api/products", json={"sku": "S", "title": "x" * 500, "price": "1"},
                       headers=auth["manager"])
    assert_problem(resp, 413, "payload_too_large")
    small = client.post("/api/products", json={"sku": "S", "title": "x", "price": "1"},
                        headers=auth["manager"])
    assert small.status_code == 201


def test_json_sent_as_text_plain_is_415(client, auth):
    resp = client.post("/api/products", data='{"sku": "S", "title": "T", "price": "1"}',
                       content_type="text/plain", headers=auth["manager"])
    assert_problem(resp, 415, "unsupported_media_type")
    assert client.get("/api/products", headers=auth["viewer"]).get_json()["total"] == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8",
                                          "application/merge-patch+json"])
def test_json_with_a_charset_or_a_json_suffix_is_accepted(client, auth, content_type):
    resp = client.post("/api/products", data='{"sku": "S", "title": "T", "price": "1"}',
                       content_type=content_type, headers=auth["manager"])
    assert resp.status_code == 201


def test_a_server_error_is_a_500_problem_without_traceback(app_with):
    app = app_with()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals: /etc/passwd")

    resp = app.test_client().get("/boom")
    body = assert_problem(resp, 500, "internal_error")
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text and "RuntimeError" not in text
    assert body["status"] == 500


def test_401_says_www_authenticate_bearer(client):
    resp = client.get("/api/orders")
    assert_problem(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"].split()[0] == "Bearer"


def test_403_is_a_problem(client, auth):
    assert_problem(client.get("/api/users", headers=auth["viewer"]), 403, "forbidden")


def test_validation_errors_name_each_field(client, auth):
    resp = client.post("/api/products", json={"title": 5, "price": "x"}, headers=auth["manager"])
    body = assert_problem(resp, 400, "validation_error")
    assert {"sku", "title", "price"} <= set(body["errors"])
    assert all(isinstance(m, list) and m and all(isinstance(x, str) for x in m)
               for m in body["errors"].values())


# ---- ETag and If-Match -----------------------------------------------------------

def test_get_of_one_record_sends_a_strong_etag_of_its_version(client, auth):
    product = create_product(client, auth["manager"])
    order = place_order(client, auth["clerk"], [(product, 1)])
    delivery = create_delivery(client, auth["clerk"], order)
    for url, version in ((f"/api/products/{product['id']}", 2),   # the sale changed its stock
                         (f"/api/orders/{order['id']}", 1),
                         (f"/api/deliveries/{delivery['id']}", 1)):
        resp = client.get(url, headers=auth["viewer"])
        assert resp.headers["ETag"] == f'"{version}"' == f'"{resp.get_json()["version"]}"'


def test_if_match_stale_is_412_and_changes_nothing(client, auth):
    product = create_product(client, auth["manager"], title="Before")
    url = f"/api/products/{product['id']}"
    resp = client.patch(url, json={"title": "After"}, headers={**auth["manager"], "If-Match": '"9"'})
    assert_problem(resp, 412, "precondition_failed")
    assert client.get(url, headers=auth["viewer"]).get_json()["title"] == "Before"
    star = client.patch(url, json={"title": "After"}, headers={**auth["manager"], "If-Match": "*"})
    assert star.status_code == 200


# ---- lists -------------------------------------------------------------------------

def test_list_envelope_and_default_limit(client, auth):
    body = client.get("/api/products", headers=auth["viewer"]).get_json()
    assert body == {"items": [], "total": 0, "limit": 50, "offset": 0}


@pytest.mark.parametrize("path", ["/api/products", "/api/orders", "/api/stock-movements"])
@pytest.mark.parametrize("query", ["limit=201", "limit=0", "limit=ten", "offset=-1",
                                   "offset=1000000001", f"offset={2**63}", f"offset={10**30}",
                                   f"sort=-created_at&offset={2**63}"])
def test_bad_limit_or_offset_is_400(client, auth, path, query):
    body = assert_problem(client.get(f"{path}?{query}", headers=auth["manager"]), 400,
                          "validation_error")
    assert set(body["errors"]) <= {"limit", "offset"}


def test_offset_up_to_a_billion_is_an_empty_page(client, auth):
    create_product(client, auth["manager"])
    body = client.get("/api/products?offset=1000000000&sort=-price", headers=auth["viewer"]).get_json()
    assert (body["items"], body["total"], body["offset"]) == ([], 1, 1_000_000_000)


def test_limit_200_is_allowed(client, auth):
    assert client.get("/api/products?limit=200", headers=auth["viewer"]).status_code == 200


def test_link_header_carries_next_and_prev_that_work(client, auth):
    for _ in range(3):
        create_product(client, auth["manager"])
    first = client.get("/api/products?limit=2&kind=general", headers=auth["viewer"])
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', first.headers["Link"]))
    assert set(links) == {"next"}
    assert "kind=general" in links["next"]
    second = client.get(links["next"], headers=auth["viewer"])
    assert second.get_json()["offset"] == 2 and len(second.get_json()["items"]) == 1
    back = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', second.headers["Link"]))
    assert set(back) == {"prev"}
    assert client.get(back["prev"], headers=auth["viewer"]).get_json()["items"] == \
        first.get_json()["items"]


def test_a_single_page_has_no_link_header(client, auth):
    create_product(client, auth["manager"])
    assert "Link" not in client.get("/api/products", headers=auth["viewer"]).headers


# ---- action endpoints accept an empty body ------------------------------------

@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/json"])
def test_action_endpoints_accept_an_empty_body_with_any_content_type(client, auth, content_type):
    product = create_product(client, auth["manager"], stock=5)
    headers = dict(auth["manager"])
    if content_type:
        headers["Content-Type"] = content_type
    paid = place_order(client, auth["clerk"], [(product, 1)],
                       payment={"method": "cash", "amount": "10.00"})
    assert client.post(f"/api/orders/{paid['id']}/complete", headers=headers,
                       data=b"").status_code == 200
    pending = place_order(client, auth["clerk"], [(product, 1)])
    assert client.post(f"/api/orders/{pending['id']}/cancel", headers=headers,
                       data=b"").status_code == 200
    assert client.post("/api/auth/logout", headers=headers, data=b"").status_code == 204


# ---- shapes of values ----------------------------------------------------------------

def test_money_is_a_two_place_string_everywhere(client, auth):
    product = create_product(client, auth["manager"], price=12, cost=7.5)
    assert MONEY.match(product["price"]) and product["price"] == "12.00"
    assert product["cost"] == "7.50"
    order = place_order(client, auth["clerk"], [(product, 3)])
    for value in (order["subtotal"], order["total"], order["items"][0]["unit_price"],
                  order["items"][0]["line_total"]):
        assert isinstance(value, str) and MONEY.match(value)
    assert order["total"] == "36.00"
    paid = pay(client, auth["clerk"], order, amount=36)
    assert paid["payment"]["amount"] == "36.00"


def test_more_than_two_decimal_places_is_400(client, auth):
    resp = client.post("/api/products", json={"sku": "S", "title": "T", "price": "1.005"},
                       headers=auth["manager"])
    assert "price" in assert_problem(resp, 400)["errors"]
    ok = client.post("/api/products", json={"sku": "S", "title": "T", "price": "1.500"},
                     headers=auth["manager"])
    assert ok.status_code == 201 and ok.get_json()["price"] == "1.50"


def test_timestamps_are_utc_with_z(client, auth):
    product = create_product(client, auth["manager"])
    order = place_order(client, auth["clerk"], [(product, 1)],
                        payment={"method": "cash", "amount": "10.00"})
    delivery = create_delivery(client, auth["clerk"], order)
    movement = client.get("/api/stock-movements", headers=auth["viewer"]).get_json()["items"][0]
    for value in (product["created_at"], product["updated_at"], order["created_at"],
                  order["payment"]["paid_at"], delivery["created_at"], delivery["events"][0]["at"],
                  movement["created_at"]):
        assert TIMESTAMP.match(value), value


def test_every_record_has_created_updated_and_a_version_that_grows_by_one(client, auth, users):
    product = create_product(client, auth["manager"])
    order = place_order(client, auth["clerk"], [(product, 1)])
    delivery = create_delivery(client, auth["clerk"], order)
    user = client.get(f"/api/users/{users['clerk']['id']}", headers=auth["admin"]).get_json()
    for record in (product, order, delivery, user):
        assert {"created_at", "updated_at", "version"} <= set(record)
        assert record["version"] == 1
    edited = client.patch(f"/api/products/{product['id']}", json={"title": "x"},
                          headers=auth["manager"]).get_json()
    assert edited["version"] == 3            # create, the sale, the edit
    paid = pay(client, auth["clerk"], order)
    assert paid["version"] == 2
    shipped = move_delivery(client, auth["clerk"], delivery, "in_transit")
    assert shipped["version"] == 2
    assert client.get(f"/api/orders/{order['id']}", headers=auth["viewer"]).get_json()["version"] == 3
    renamed = client.patch(f"/api/users/{user['id']}", json={"email": "c@example.org"},
                           headers=auth["admin"]).get_json()
    assert renamed["version"] == 2 and renamed["updated_at"] >= renamed["created_at"]


def test_ids_are_opaque_url_safe_strings(client, auth):
    product = create_product(client, auth["manager"])
    assert re.fullmatch(r"[A-Za-z0-9_-]+", product["id"])


# ---- health ------------------------------------------------------------------------------

def test_healthz_is_ok_without_auth(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}


def test_readyz_checks_the_store(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200 and resp.get_json()["status"] == "ok"


def test_readyz_is_503_problem_when_the_store_fails(app, monkeypatch):
    store = app.extensions["backroom.store"]

    def broken():
        raise OSError("disk gone")
    monkeypatch.setattr(store, "check", broken)
    resp = app.test_client().get("/readyz")
    assert_problem(resp, 503, "not_ready")
    assert "disk gone" not in resp.get_data(as_text=True)


def test_a_nul_character_in_any_text_field_is_refused_and_changes_nothing(client, auth):
    resp = client.post("/api/products", json={"sku": "NUL-1", "title": "Bad\u0000title", "price": "1.00"},
                       headers=auth["manager"])
    assert resp.status_code == 400
    assert resp.get_json()["code"] == "validation_error"
    assert "title" in resp.get_json()["errors"]
    assert client.get("/api/products?q=NUL-1", headers=auth["manager"]).get_json()["total"] == 0


def test_if_match_takes_a_list_of_etags_and_compares_strongly(client, auth):
    product = create_product(client, auth["manager"])
    path = f"/api/products/{product['id']}"
    stale_or_current = {"If-Match": '"99", "1"', **auth["manager"]}
    assert client.patch(path, json={"title": "Listed"}, headers=stale_or_current).status_code == 200
    weak = {"If-Match": 'W/"2"', **auth["manager"]}
    resp = client.patch(path, json={"title": "Weak"}, headers=weak)
    assert resp.status_code == 412
    assert resp.get_json()["code"] == "precondition_failed"
    assert client.get(path, headers=auth["manager"]).get_json()["title"] == "Listed"


def test_every_answer_carries_a_request_id_and_a_problem_names_it(client):
    ok = client.get("/healthz")
    assert ok.headers["X-Request-Id"].startswith("req_") and len(ok.headers["X-Request-Id"]) == 28
    made = {client.get("/healthz").headers["X-Request-Id"][4:] for _ in range(200)}
    assert len(made) == 200 and set("".join(made)) == set("abcdefghijklmnopqrstuvwxyz234567")
    assert client.get("/healthz").headers["X-Request-Id"] != ok.headers["X-Request-Id"]
    missing = client.get("/api/orders/nothing-here", headers={"X-Request-Id": "till-7:2026/11/21+a=b"})
    assert missing.status_code in (401, 404)
    assert missing.headers["X-Request-Id"] == "till-7:2026/11/21+a=b"
    assert missing.get_json()["request_id"] == "till-7:2026/11/21+a=b"


def test_a_request_id_that_is_not_a_sane_one_is_replaced(client):
    for bad in ("", "x" * 129, "has space", "new\\nline", "é"):
        resp = client.get("/healthz", headers={"X-Request-Id": bad})
        assert resp.headers["X-Request-Id"].startswith("req_"), bad
