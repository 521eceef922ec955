"""Section 14 over HTTP: draft and review, the editor role and `cost`, approval on and off."""
import pytest

from tests.factories import assert_problem, create_product, place_order, product_body

ROLES = ("admin", "manager", "clerk", "editor", "viewer")
APPROVERS = ("admin", "manager")


@pytest.fixture
def approving(make_app):
    """A client of an app whose product_approval is on (same store)."""
    return make_app(PRODUCT_APPROVAL=True).test_client()


def _post(client, headers, product, action, body=None):
    return client.post(f"/api/products/{product['id']}/{action}", headers=headers,
                       **({"json": body} if body is not None else {}))


def _draft(client, auth, **fields):
    return create_product(client, auth["manager"], status="draft", **fields)


# ---- review actions, per role ----------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_submit_is_for_admins_managers_and_editors(client, auth, role):
    draft = _draft(client, auth)
    resp = _post(client, auth[role], draft, "submit")
    if role in ("admin", "manager", "editor"):
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["status"] == "pending_review" and body["version"] == draft["version"] + 1
        assert body["review"][0]["action"] == "submitted" and body["review"][0]["comment"] is None
    else:
        assert_problem(resp, 403, "forbidden")


@pytest.mark.parametrize("role", ROLES)
def test_approve_and_reject_are_for_approvers_only(approving, auth, role):
    draft = _draft(approving, auth)
    assert _post(approving, auth["editor"], draft, "submit").status_code == 200
    approve = _post(approving, auth[role], draft, "approve", {"comment": "Fine"})
    if role in APPROVERS:
        assert approve.status_code == 200 and approve.get_json()["status"] == "active"
    else:
        assert_problem(approve, 403, "forbidden")
        assert_problem(_post(approving, auth[role], draft, "reject", {"comment": "No"}), 403, "forbidden")


def test_the_empty_submit_body_may_come_with_any_content_type(client, auth):
    draft = _draft(client, auth)
    resp = client.post(f"/api/products/{draft['id']}/submit", headers={**auth["editor"],
                                                                       "Content-Type": "text/plain"})
    assert resp.status_code == 200


def test_reject_needs_a_comment_checked_before_the_state(client, auth):
    active = create_product(client, auth["manager"])
    for body in ({}, {"comment": "   "}):
        problem = assert_problem(_post(client, auth["manager"], active, "reject", body), 400,
                                 "validation_error")
        assert "comment" in problem["errors"]
    assert_problem(_post(client, auth["manager"], active, "reject", {"comment": "No"}), 409,
                   "invalid_transition")


def test_a_rejected_product_is_a_draft_with_the_reason_in_its_review(client, auth, users):
    draft = _draft(client, auth)
    _post(client, auth["editor"], draft, "submit", {"comment": "Ready"})
    resp = _post(client, auth["manager"], draft, "reject", {"comment": " Cover image missing "})
    body = resp.get_json()
    assert body["status"] == "draft" and body["version"] == draft["version"] + 2
    assert [(r["action"], r["user_id"], r["comment"]) for r in body["review"]] == [
        ("submitted", users["editor"]["id"], "Ready"),
        ("rejected", users["manager"]["id"], "Cover image missing")]


def test_a_second_submit_is_409_and_changes_nothing(client, auth):
    draft = _draft(client, auth)
    first = _post(client, auth["editor"], draft, "submit").get_json()
    assert_problem(_post(client, auth["editor"], draft, "submit"), 409, "invalid_transition")
    assert client.get(f"/api/products/{draft['id']}", headers=auth["editor"]).get_json() == first


def test_a_product_in_review_keeps_its_status_against_a_body_and_delete(client, auth):
    draft = _draft(client, auth)
    _post(client, auth["editor"], draft, "submit")
    url = f"/api/products/{draft['id']}"
    assert_problem(client.patch(url, json={"status": "active"}, headers=auth["manager"]), 409,
                   "invalid_transition")
    assert_problem(client.delete(url, headers=auth["manager"]), 409, "invalid_transition")
    put = client.put(url, json=product_body(sku=draft["sku"]), headers=auth["manager"])
    assert put.status_code == 200 and put.get_json()["status"] == "pending_review"


def test_pending_review_in_a_body_is_400(client, auth):
    resp = client.post("/api/products", json=product_body(status="pending_review"), headers=auth["manager"])
    assert "status" in assert_problem(resp, 400, "validation_error")["errors"]


def test_review_in_a_body_is_ignored(client, auth):
    product = create_product(client, auth["manager"], review=[{"action": "approved"}])
    assert product["review"] == []


# ---- drafts are never sold and never public -------------------------------------------------

@pytest.mark.parametrize("status", ["draft", "pending_review"])
def test_a_draft_or_pending_product_is_not_sold_nor_public(client, auth, status):
    product = _draft(client, auth, barcode="4006381333931")
    if status == "pending_review":
        _post(client, auth["editor"], product, "submit")
    order = client.post("/api/orders", json={"items": [{"product_id": product["id"], "quantity": 1}]},
                        headers=auth["clerk"])
    assert "items.0" in assert_problem(order, 400, "validation_error")["errors"]
    for url in (f"/api/products/{product['id']}", f"/api/books/{product['id']}",
                "/api/barcodes/4006381333931", f"/api/products/{product['id']}/barcode",
                f"/api/labels?product_ids={product['id']}"):
        assert_problem(client.get(url), 404)
    assert client.get("/api/products").get_json()["total"] == 0
    assert client.get(f"/api/products?status={status}").get_json()["total"] == 0
    staff = client.get(f"/api/products?status={status}", headers=auth["viewer"]).get_json()
    assert [p["id"] for p in staff["items"]] == [product["id"]]


def test_stock_may_be_adjusted_on_a_draft(client, auth):
    draft = _draft(client, auth)
    resp = client.post(f"/api/products/{draft['id']}/adjustments", json={"delta": 2, "reason": "received"},
                       headers=auth["manager"])
    assert resp.status_code == 201


def test_staff_lists_every_status_and_the_status_filter_takes_four_values(client, auth):
    for status in ("draft", "active", "archived"):
        create_product(client, auth["manager"], status=status)
    assert client.get("/api/products", headers=auth["viewer"]).get_json()["total"] == 3
    assert client.get("/api/products", headers=auth["editor"]).get_json()["total"] == 3
    assert_problem(client.get("/api/products?status=deleted", headers=auth["viewer"]), 400)


def test_anonymous_readers_see_neither_cost_nor_review(client, auth):
    product = create_product(client, auth["manager"], cost="3.00")
    public = client.get(f"/api/products/{product['id']}").get_json()
    assert "cost" not in public and "review" not in public and public["category_id"] is None


# ---- the editor and cost ----------------------------------------------------------------------

def _walk_has_cost(value):
    if isinstance(value, dict):
        return "cost" in value or any(_walk_has_cost(v) for v in value.values())
    if isinstance(value, list):
        return any(_walk_has_cost(v) for v in value)
    return False


def test_no_answer_to_an_editor_holds_cost(client, auth):
    product = create_product(client, auth["manager"], cost="3.00", barcode="4006381333931", stock=1,
                             low_stock_threshold=5)
    editor = auth["editor"]
    answers = [client.get(url, headers=editor) for url in (
        "/api/products", f"/api/products/{product['id']}", "/api/books", "/api/inventory/low-stock",
        "/api/barcodes/4006381333931", "/api/stock-movements", "/api/orders")]
    answers.append(client.patch(f"/api/products/{product['id']}", json={"title": "New"}, headers=editor))
    answers.append(client.post("/api/products", json=product_body(stock=0), headers=editor))
    for resp in answers:
        assert resp.status_code in (200, 201), resp.get_json()
        assert not _walk_has_cost(resp.get_json()), resp.request.path
    assert client.get(f"/api/products/{product['id']}", headers=auth["viewer"]).get_json()["cost"] == "3.00"


def test_an_editor_may_not_sort_by_cost(client, auth):
    assert "sort" in assert_problem(client.get("/api/products?sort=cost", headers=auth["editor"]),
                                    400)["errors"]
    assert client.get("/api/products?sort=cost", headers=auth["viewer"]).status_code == 200


def test_an_editor_sending_cost_or_opening_stock_is_403_under_those_fields(client, auth):
    resp = client.post("/api/products", json=product_body(cost="1.00", stock=5), headers=auth["editor"])
    assert set(assert_problem(resp, 403, "forbidden")["errors"]) == {"cost", "stock"}
    product = create_product(client, auth["manager"], cost="2.00")
    resp = client.patch(f"/api/products/{product['id']}", json={"cost": None}, headers=auth["editor"])
    assert "cost" in assert_problem(resp, 403, "forbidden")["errors"]


def test_an_editors_put_keeps_the_stored_cost(client, auth):
    product = create_product(client, auth["manager"], cost="2.00")
    resp = client.put(f"/api/products/{product['id']}", json=product_body(sku=product["sku"], stock=10),
                      headers=auth["editor"])
    assert resp.status_code == 200, resp.get_json()
    assert client.get(f"/api/products/{product['id']}", headers=auth["admin"]).get_json()["cost"] == "2.00"


@pytest.mark.parametrize("path, body", [
    ("/adjustments", {"delta": 1, "reason": "received"})])
def test_stock_and_sales_are_403_to_an_editor(client, auth, path, body):
    product = create_product(client, auth["manager"])
    assert_problem(client.post(f"/api/products/{product['id']}{path}", json=body, headers=auth["editor"]), 403)
    assert_problem(client.post("/api/inventory/receive", json={"code": product["sku"]},
                               headers=auth["editor"]), 403)
    assert_problem(client.post("/api/orders", json={"items": [{"product_id": product["id"], "quantity": 1}]},
                               headers=auth["editor"]), 403)


def test_with_approval_off_an_editor_creates_edits_and_archives(client, auth):
    product = client.post("/api/products", json=product_body(stock=0), headers=auth["editor"]).get_json()
    assert product["status"] == "active"
    url = f"/api/products/{product['id']}"
    assert client.patch(url, json={"status": "draft"}, headers=auth["editor"]).get_json()["status"] == "draft"
    assert client.delete(url, headers=auth["editor"]).get_json()["status"] == "archived"
    assert client.post(f"{url}/barcode", headers=auth["editor"]).status_code == 200


def test_with_approval_on_an_editor_writes_drafts_and_approvers_publish(approving, auth):
    editor = auth["editor"]
    draft = approving.post("/api/products", json=product_body(stock=0), headers=editor).get_json()
    assert draft["status"] == "draft"
    url = f"/api/products/{draft['id']}"
    assert approving.patch(url, json={"title": "Better"}, headers=editor).status_code == 200
    assert approving.post(f"{url}/barcode", headers=editor).status_code == 200
    assert_problem(approving.patch(url, json={"status": "active"}, headers=editor), 403, "forbidden")
    assert_problem(approving.delete(url, headers=editor), 403, "forbidden")
    assert_problem(approving.post("/api/products", json=product_body(stock=0, status="active"),
                                  headers=editor), 403, "forbidden")
    assert _post(approving, editor, draft, "submit").status_code == 200
    assert_problem(approving.patch(url, json={"title": "Again"}, headers=editor), 403, "forbidden")
    assert _post(approving, auth["manager"], draft, "approve").get_json()["status"] == "active"
    manager_made = create_product(approving, auth["manager"])
    assert manager_made["status"] == "active"
    assert_problem(approving.post(f"/api/products/{manager_made['id']}/barcode", headers=editor), 403)


def test_switching_approval_changes_no_product(client, approving, auth):
    product = create_product(client, auth["manager"])
    assert approving.get(f"/api/products/{product['id']}", headers=auth["admin"]).get_json() == product


def test_approved_products_are_sold(client, auth):
    draft = _draft(client, auth)
    _post(client, auth["editor"], draft, "submit")
    _post(client, auth["admin"], draft, "approve")
    place_order(client, auth["clerk"], [(draft, 1)])


def test_the_editor_role_is_one_an_admin_can_give(client, auth):
    resp = client.post("/api/users", json={"username": "ed2", "password": "long-enough-1", "role": "editor"},
                       headers=auth["admin"])
    assert resp.status_code == 201 and resp.get_json()["role"] == "editor"
