"""The audit log over HTTP: what each kind of request writes (and what writes nothing), reading it back, CSV."""
import csv
import io
import json

import pytest

from tests.conftest import PASSWORDS
from tests.factories import assert_problem, create_product, pay, place_order


def entries(client, auth, **params):
    resp = client.get("/api/audit-log", query_string={"limit": 200, **params}, headers=auth["admin"])
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["items"]


def newest(client, auth, **params):
    found = entries(client, auth, **params)
    return found[0] if found else None


def count(client, auth):
    return client.get("/api/audit-log?limit=1", headers=auth["admin"]).get_json()["total"]


def test_a_product_change_records_who_changed_what_from_what_to_what(client, auth, users):
    product = create_product(client, auth["manager"], price="10.00")
    resp = client.patch(f"/api/products/{product['id']}", json={"price": "12.50"},
                        headers={**auth["manager"], "X-Request-Id": "price-change-1"})
    assert resp.status_code == 200
    entry = newest(client, auth, resource_id=product["id"], action="product.update")
    assert entry["changes"] == {"price": ["10.00", "12.50"]}
    assert entry["actor"] == {"user_id": users["manager"]["id"], "username": "manager", "role": "manager"}
    assert (entry["resource_type"], entry["method"], entry["path"], entry["status"]) == (
        "product", "PATCH", f"/api/products/{product['id']}", 200)
    assert entry["request_id"] == "price-change-1" and entry["ip"] == "127.0.0.1"
    assert set(entry) == {"id", "at", "actor", "action", "resource_type", "resource_id", "changes",
                          "details", "method", "path", "status", "ip", "request_id"}
    made = newest(client, auth, resource_id=product["id"], action="product.create")
    assert made["changes"]["price"] == [None, "10.00"] and made["status"] == 201
    assert "updated_at" not in made["changes"] and "version" not in made["changes"]
    client.delete(f"/api/products/{product['id']}", headers=auth["manager"])
    assert newest(client, auth, resource_id=product["id"])["action"] == "product.archive"


def test_stock_adjusted_or_received_is_adjust_stock_with_the_stock_before_and_after(client, auth):
    product = create_product(client, auth["manager"], stock=4, sku="ADJ-1")
    client.post(f"/api/products/{product['id']}/adjustments", json={"delta": -1, "reason": "damaged"},
                headers=auth["manager"])
    resp = client.post("/api/inventory/receive", json={"code": "ADJ-1", "quantity": 5},
                       headers={**auth["manager"], "Idempotency-Key": "scan-1"})
    assert resp.status_code == 201
    again = client.post("/api/inventory/receive", json={"code": "ADJ-1", "quantity": 5},
                        headers={**auth["manager"], "Idempotency-Key": "scan-1"})
    assert again.headers.get("Idempotent-Replayed") == "true"
    found = entries(client, auth, action="product.adjust_stock", resource_id=product["id"])
    assert [e["changes"] for e in found] == [{"stock": [3, 8]}, {"stock": [4, 3]}]  # the replay wrote none


def test_an_order_its_payment_and_a_replayed_create(client, auth):
    product = create_product(client, auth["manager"], price="5.00", stock=9)
    headers = {**auth["clerk"], "Idempotency-Key": "order-1"}
    body = {"items": [{"product_id": product["id"], "quantity": 2}]}
    order = client.post("/api/orders", json=body, headers=headers).get_json()
    before = count(client, auth)
    assert client.post("/api/orders", json=body, headers=headers).status_code == 201
    assert count(client, auth) == before
    pay(client, auth["clerk"], order)
    paid, made = entries(client, auth, resource_id=order["id"])
    assert made["action"] == "order.create" and made["changes"]["total"] == [None, "10.00"]
    assert paid["action"] == "order.pay" and paid["changes"]["payment_status"] == ["unpaid", "paid"]


def test_settings_update_has_no_resource_id(client, auth):
    resp = client.patch("/api/settings", json={"delivery_days": 4}, headers=auth["admin"])
    assert resp.status_code == 200
    entry = newest(client, auth, action="settings.update")
    assert entry["resource_type"] == "settings" and entry["resource_id"] is None
    assert entry["changes"]["delivery_days"] == [None, 4]


def test_users_are_audited_and_passwords_never_appear(client, auth):
    resp = client.post("/api/users", json={"username": "sam", "password": "sam-secret-1", "role": "clerk"},
                       headers=auth["admin"])
    sam = resp.get_json()
    made = newest(client, auth, resource_id=sam["id"])
    assert made["action"] == "user.create" and made["changes"]["password"] == [None, "[redacted]"]
    client.delete(f"/api/users/{sam['id']}", headers=auth["admin"])
    gone = newest(client, auth, resource_id=sam["id"])
    assert gone["action"] == "user.deactivate" and gone["changes"]["active"] == [True, False]
    text = client.get("/api/audit-log?format=csv", headers=auth["admin"]).get_data(as_text=True)
    assert "sam-secret-1" not in text and "scrypt" not in text


def test_sign_ins_failed_sign_ins_logout_and_a_password_change(client, auth, users):
    ok = client.post("/api/auth/login", json={"username": "clerk", "password": PASSWORDS["clerk"]})
    assert ok.status_code == 200
    signed_in = newest(client, auth, action="auth.login")
    assert signed_in["resource_id"] == users["clerk"]["id"] and signed_in["actor"]["username"] == "clerk"
    assert client.post("/api/auth/login", json={"username": "clerk", "password": "wrong-one-1"}).status_code == 401
    assert client.post("/api/auth/login", json={"username": "nobody", "password": "wrong-one-1"}).status_code == 401
    nobody, wrong = entries(client, auth, action="auth.login_failed")
    assert (wrong["resource_id"], wrong["details"], wrong["status"], wrong["actor"]) == (
        users["clerk"]["id"], {"username": "clerk"}, 401, None)
    assert nobody["resource_id"] is None and nobody["details"] == {"username": "nobody"}
    session = {"Authorization": f"Bearer {ok.get_json()['access_token']}"}
    before = count(client, auth)
    refreshed = client.post("/api/auth/refresh", json={"refresh_token": ok.get_json()["refresh_token"]})
    assert refreshed.status_code == 200 and count(client, auth) == before  # a refresh writes none
    resp = client.post("/api/auth/password", json={"current_password": PASSWORDS["clerk"],
                                                   "new_password": "a-new-password-2"}, headers=session)
    assert resp.status_code == 204
    changed = newest(client, auth, action="auth.password_change")
    assert changed["changes"] == {"password": ["[redacted]", "[redacted]"]}
    assert client.post("/api/auth/logout", headers=session).status_code == 204
    assert newest(client, auth, action="auth.logout")["actor"]["user_id"] == users["clerk"]["id"]


def test_every_403_is_recorded_and_other_refusals_and_reads_are_not(client, auth, users):
    before = count(client, auth)
    assert client.get("/api/products", headers=auth["viewer"]).status_code == 200
    assert_problem(client.post("/api/products", json={"sku": "X"}, headers=auth["manager"]), 400)
    assert_problem(client.patch("/api/products/nope", json={"price": "1.00"}, headers=auth["manager"]), 404)
    assert_problem(client.post("/api/products", json={}), 401)
    assert count(client, auth) == before
    assert_problem(client.post("/api/products", json={"sku": "X"}, headers=auth["viewer"]), 403)
    refused = newest(client, auth, action="auth.forbidden")
    assert (refused["method"], refused["path"], refused["status"]) == ("POST", "/api/products", 403)
    assert refused["actor"]["user_id"] == users["viewer"]["id"]
    assert refused["resource_type"] is None and refused["resource_id"] is None
    assert count(client, auth) == before + 1


def test_an_invite_its_acceptance_by_the_new_user_and_its_code_never_shown(client, auth):
    invite = client.post("/api/invites", json={"role": "clerk"}, headers=auth["admin"]).get_json()
    made = newest(client, auth, resource_id=invite["id"])
    assert made["action"] == "invite.create" and made["changes"]["code"] == [None, "[redacted]"]
    joined = client.post("/api/auth/accept-invite", json={"code": invite["code"], "username": "newbie",
                                                          "password": "newbie-pass-1"})
    assert joined.status_code == 201
    accepted = newest(client, auth, action="invite.accept")
    assert accepted["resource_id"] == invite["id"] and accepted["actor"]["username"] == "newbie"
    assert accepted["changes"]["status"] == ["pending", "used"]
    other = client.post("/api/invites", json={"role": "viewer"}, headers=auth["admin"]).get_json()
    client.delete(f"/api/invites/{other['id']}", headers=auth["admin"])
    assert newest(client, auth, resource_id=other["id"])["action"] == "invite.revoke"
    text = client.get("/api/audit-log?format=csv", headers=auth["admin"]).get_data(as_text=True)
    assert invite["code"] not in text and other["code"] not in text


def test_a_storefront_key_is_the_actor_of_a_checkout(client, auth):
    """Section 11's checkout with a publishable key: the entry names the key, not a user."""
    made = client.post("/api/storefront-keys", json={"name": "Web shop", "allowed_origins": []},
                       headers=auth["admin"]).get_json()
    book = create_product(client, auth["manager"], price="12.50", stock=5)
    resp = client.post("/api/storefront/orders", headers={"X-Storefront-Key": made["key"]}, json={
        "items": [{"product_id": book["id"], "quantity": 2}],
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"}})
    assert resp.status_code == 201, resp.get_json()
    placed = client.get("/api/orders?channel=storefront", headers=auth["viewer"]).get_json()["items"][0]
    entry = newest(client, auth, resource_id=placed["id"])
    assert entry["action"] == "order.create" and entry["actor"] == {"storefront_key_id": made["id"]}
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/api/storefront/orders", 201)
    assert entries(client, auth, actor_id=made["id"]) == [entry]
    assert made["key"] not in client.get("/api/audit-log?format=csv", headers=auth["admin"]).get_data(as_text=True)


def test_the_log_reads_newest_first_with_filters_one_entry_and_never_changes(client, auth, users):
    first = create_product(client, auth["manager"])
    second = create_product(client, auth["admin"])
    client.patch(f"/api/products/{second['id']}", json={"title": "Renamed"}, headers=auth["admin"])
    everything = entries(client, auth)
    assert [e["at"] for e in everything] == sorted((e["at"] for e in everything), reverse=True)
    oldest = entries(client, auth, sort="at")
    assert [e["id"] for e in oldest] == [e["id"] for e in reversed(everything)]
    mine = entries(client, auth, actor_id=users["admin"]["id"], resource_type="product")
    assert [e["action"] for e in mine] == ["product.update", "product.create"]
    both = entries(client, auth, action="product.create, product.update")
    assert {e["resource_id"] for e in both} == {first["id"], second["id"]} and len(both) == 3
    by_request = entries(client, auth, request_id=everything[0]["request_id"])
    assert [e["id"] for e in by_request] == [everything[0]["id"]]
    today = everything[0]["at"][:10]
    assert len(entries(client, auth, since=today, until=today)) == len(everything)
    assert entries(client, auth, until="2000-01-01") == []
    page = client.get("/api/audit-log?limit=1&offset=1", headers=auth["admin"])
    assert page.get_json()["total"] == len(everything) and 'rel="next"' in page.headers["Link"]
    one = client.get(f"/api/audit-log/{first['id']}", headers=auth["admin"])
    assert_problem(one, 404, "not_found")
    entry_id = everything[-1]["id"]
    one = client.get(f"/api/audit-log/{entry_id}", headers=auth["admin"])
    assert one.status_code == 200 and one.get_json() == everything[-1]
    for method in ("put", "patch", "delete"):
        assert_problem(getattr(client, method)(f"/api/audit-log/{entry_id}", json={}, headers=auth["admin"]), 405)
    assert_problem(client.get(f"/api/audit-log/{entry_id}", headers=auth["manager"]), 403)
    assert_problem(client.get("/api/audit-log?sort=action", headers=auth["admin"]), 400, "validation_error")


def test_the_log_as_csv_has_the_sections_columns(client, auth, users):
    product = create_product(client, auth["manager"], price="10.00")
    client.patch(f"/api/products/{product['id']}", json={"title": "=2+3"}, headers=auth["manager"])
    resp = client.get("/api/audit-log?format=csv&resource_type=product", headers=auth["admin"])
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="audit-log-')
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert list(rows[0]) == ["id", "at", "actor_user_id", "actor_username", "actor_role",
                             "actor_storefront_key_id", "action", "resource_type", "resource_id", "method",
                             "path", "status", "ip", "request_id", "changes", "details"]
    assert [r["action"] for r in rows] == ["product.update", "product.create"]
    assert json.loads(rows[0]["changes"])["title"][1] == "=2+3"  # a JSON cell, never a formula
    create = [r for r in rows if r["action"] == "product.create"][0]
    assert create["actor_username"] == "manager" and create["actor_user_id"] == users["manager"]["id"]
    assert create["status"] == "201" and create["details"] == "" and create["actor_storefront_key_id"] == ""
    assert json.loads(create["changes"])["price"] == [None, "10.00"]


@pytest.mark.parametrize("role", ["manager", "clerk", "editor", "viewer"])
def test_only_admins_read_the_log(client, auth, role):
    assert_problem(client.get("/api/audit-log", headers=auth[role]), 403, "forbidden")
    assert_problem(client.get("/api/audit-log"), 401)


def test_transfers_counts_and_the_assistant_are_named_by_what_they_are(client, auth):
    product = create_product(client, auth["manager"], stock=6)
    main = client.get("/api/locations?is_default=true", headers=auth["admin"]).get_json()["items"][0]
    back = client.post("/api/locations", json={"name": "Back room", "code": "back"}, headers=auth["admin"]).get_json()
    transfer = client.post("/api/transfers", headers=auth["clerk"], json={
        "from_location_id": main["id"], "to_location_id": back["id"],
        "lines": [{"product_id": product["id"], "quantity": 2}]}).get_json()
    client.post(f"/api/transfers/{transfer['id']}/complete", headers=auth["clerk"])
    done = newest(client, auth, resource_id=transfer["id"])
    assert done["action"] == "transfer.complete" and done["changes"]["status"] == ["pending", "completed"]
    count = client.post(f"/api/locations/{back['id']}/counts", headers=auth["manager"],
                        json={"lines": [{"product_id": product["id"], "counted": 1}]}).get_json()
    counted = newest(client, auth, resource_id=count["id"])
    assert counted["action"] == "stock_count.create" and counted["changes"]["location_id"] == [None, back["id"]]
    asked = client.post("/api/assistant/messages", json={"message": "any books?"}, headers=auth["viewer"])
    assert asked.status_code == 200
    talk = newest(client, auth, resource_id=asked.get_json()["conversation_id"])
    assert talk["action"] == "conversation.create" and talk["changes"] is None


def test_purchasing_landed_beside_the_log_and_got_entries_without_a_word_of_audit_code(client, auth):
    product = create_product(client, auth["manager"], stock=1)
    vendor = client.post("/api/vendors", json={"name": "Paper Mill"}, headers=auth["manager"]).get_json()
    client.post(f"/api/vendors/{vendor['id']}/products", json={"product_id": product["id"], "cost": "4.00"},
                headers=auth["manager"])
    client.patch(f"/api/vendors/{vendor['id']}/products/{product['id']}", json={"cost": "3.50"},
                 headers=auth["manager"])
    order = client.post("/api/purchase-orders", headers=auth["manager"], json={
        "vendor_id": vendor["id"], "lines": [{"product_id": product["id"], "quantity": 2}]}).get_json()
    client.post(f"/api/purchase-orders/{order['id']}/order", json={}, headers=auth["manager"])
    about_vendor = entries(client, auth, resource_id=vendor["id"])
    assert [e["action"] for e in about_vendor] == ["vendor.product_update", "vendor.product_add",
                                                   "vendor.create"]
    assert about_vendor[0]["changes"]["cost"] == ["4.00", "3.50"]
    assert about_vendor[0]["details"] == about_vendor[1]["details"] == {"product_id": product["id"]}
    about_order = entries(client, auth, resource_id=order["id"])
    assert [e["action"] for e in about_order] == ["purchase_order.order", "purchase_order.create"]
    assert about_order[0]["changes"]["status"] == ["draft", "ordered"]


def test_a_reset_asked_for_is_audited_when_acted_upon_and_its_confirmation_too(app, client, auth, users,
                                                                               data_dir):
    from tests.api.test_password_reset import confirm, tokens_mailed
    before = count(client, auth)
    client.post("/api/auth/password-reset", json={"username": "nobody"})
    client.post("/api/auth/password-reset", json={"username": "clerk"}, headers={"X-Request-Id": "forgot-1"})
    assert count(client, auth) == before  # nothing is done, so nothing audited, inside the request
    [(_, token)] = tokens_mailed(app, data_dir)
    [asked] = entries(client, auth, action="auth.password_reset_request")
    assert (asked["resource_id"], asked["request_id"], asked["status"], asked["actor"]) == (
        users["clerk"]["id"], "forgot-1", 202, None)
    assert confirm(client, token).status_code == 204
    done = newest(client, auth, action="auth.password_reset")
    assert done["resource_id"] == users["clerk"]["id"]
    assert done["changes"] == {"password": ["[redacted]", "[redacted]"]}
    text = client.get("/api/audit-log?format=csv", headers=auth["admin"]).get_data(as_text=True)
    assert token not in text


def test_images_landed_beside_the_log_and_are_audited_on_their_product(client, auth):
    from tests.factories import add_image
    product = create_product(client, auth["manager"])
    image = add_image(client, auth["manager"], product)
    client.patch(f"/api/products/{product['id']}/images/{image['id']}", json={"alt": "Back cover"},
                 headers=auth["manager"])
    client.delete(f"/api/products/{product['id']}/images/{image['id']}", headers=auth["manager"])
    removed, changed, added = entries(client, auth, resource_id=product["id"])[:3]
    assert [e["action"] for e in (removed, changed, added)] == [
        "product.image_remove", "product.image_update", "product.image_add"]
    assert all(e["resource_type"] == "product" and e["details"] == {"image_id": image["id"]}
               for e in (removed, changed, added))
    assert changed["changes"] == {"alt": [image["alt"], "Back cover"]}
    assert added["changes"]["position"] == [None, 1]
    assert len(entries(client, auth, action="product.image_remove")) == 1
