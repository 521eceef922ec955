"""The audit log's rules through fakes: the name a request's entry gets, its changes, secrets redacted."""
from app.services import audit, password_reset
from app.storage.base import UNKNOWN
from app.storage.memory import MemoryStore
from tests.unit.builders import run

REQUEST = {"method": "POST", "path": "/api/orders", "rule": "/api/orders", "view_args": {},
           "status": 201, "ip": "203.0.113.7", "request_id": "req-1",
           "actor": {"user_id": "u1", "username": "maria", "role": "manager"}}


def _name(method, rule, status=200, changed=(), **view_args):
    return audit.name_request(method, rule, view_args, status, list(changed))[:4]


def test_a_create_is_named_by_the_collection_and_records_each_non_null_field():
    order = {"id": "o1", "status": "pending", "notes": None, "version": 1, "updated_at": "x",
             "created_at": "2026-11-21T10:15:00Z"}
    changed = [("stock_movements", "m1", None, {"id": "m1"}), ("orders", "o1", None, order)]
    [entry] = audit.request_entries(REQUEST, changed, [])
    assert entry["action"] == "order.create" and entry["resource_type"] == "order"
    assert entry["resource_id"] == "o1"
    assert entry["changes"] == {"id": [None, "o1"], "status": [None, "pending"],
                                "created_at": [None, "2026-11-21T10:15:00Z"]}
    assert entry["actor"] == REQUEST["actor"] and entry["actor_id"] == "u1"
    assert (entry["method"], entry["path"], entry["status"], entry["ip"], entry["request_id"]) == (
        "POST", "/api/orders", 201, "203.0.113.7", "req-1")
    assert entry["at"].endswith("Z") and len(entry["at"]) == len("2026-11-21T10:15:00.123Z")


def test_an_update_records_old_and_new_of_each_changed_field_but_never_its_stamps():
    before = {"id": "p1", "price": "10.00", "title": "A", "version": 1, "updated_at": "a"}
    after = {"id": "p1", "price": "12.50", "title": "A", "version": 2, "updated_at": "b"}
    assert audit.changes_between(before, after) == {"price": ["10.00", "12.50"]}


def test_secrets_are_redacted_by_name_and_a_password_hash_is_the_password():
    before = {"id": "u1", "password_hash": "scrypt:old", "email": "a@example.com"}
    after = {"id": "u1", "password_hash": "scrypt:new", "email": "a@example.com"}
    assert audit.changes_between(before, after) == {"password": ["[redacted]", "[redacted]"]}
    made = audit.changes_between(None, {"id": "k1", "key": "pk_x", "code_hash": "h", "secret": "s",
                                        "storefront_key_id": "sk1", "barcode": "2000000000015",
                                        "hooks": [{"secret": "s2", "url": "https://x"}]})
    assert made == {"id": [None, "k1"], "key": [None, "[redacted]"], "code": [None, "[redacted]"],
                    "secret": [None, "[redacted]"], "storefront_key_id": [None, "sk1"],
                    "barcode": [None, "2000000000015"],
                    "hooks": [None, [{"secret": "[redacted]", "url": "https://x"}]]}
    assert audit.redact({"token": "t", "username": "sam"}) == {"token": "[redacted]", "username": "sam"}


def test_a_record_never_read_before_its_change_has_no_changes_rather_than_wrong_ones():
    assert audit.changes_between(UNKNOWN, {"id": "p1", "stock": 3}) is None


def test_routes_name_the_resource_and_the_verb():
    product = [("products", "p1", {"id": "p1", "status": "active"}, {"id": "p1", "status": "archived"})]
    assert _name("DELETE", "/api/products/<product_id>", 200, product, product_id="p1") == (
        "product.archive", "product", "p1", None)
    user = [("users", "u1", {"id": "u1", "active": True}, {"id": "u1", "active": False})]
    assert _name("DELETE", "/api/users/<user_id>", 200, user, user_id="u1")[0] == "user.deactivate"
    invite = [("invites", "i1", {"id": "i1", "status": "pending", "revoked_at": None},
               {"id": "i1", "status": "revoked", "revoked_at": "t"})]
    assert _name("DELETE", "/api/invites/<invite_id>", 200, invite, invite_id="i1")[0] == "invite.revoke"
    gone = [("categories", "c1", {"id": "c1"}, None)]
    assert _name("DELETE", "/api/categories/<category_id>", 204, gone, category_id="c1")[0] == "category.delete"
    assert _name("POST", "/api/orders/<order_id>/pay", order_id="o1")[:3] == ("order.pay", "order", "o1")
    assert _name("POST", "/api/transfers/<transfer_id>/complete", transfer_id="t1")[0] == "transfer.complete"
    assert _name("POST", "/api/products/<product_id>/barcode", product_id="p1")[0] == "product.update"
    assert _name("POST", "/api/deliveries/<delivery_id>/status", delivery_id="d1")[0] == "delivery.update"
    assert _name("PUT", "/api/products/<product_id>", product_id="p1")[0] == "product.update"
    settings = [("settings", "shop", {"id": "shop", "delivery_days": 3}, {"id": "shop", "delivery_days": 4})]
    assert audit.name_request("PATCH", "/api/settings", {}, 200, settings)[:3] == (
        "settings.update", "settings", None)


def test_routes_of_areas_that_write_no_audit_code_are_named_too():
    """Sections 10, 11, 13 and 16 land beside this one: their routes get names without a word."""
    image = {"id": "img1", "product_id": "p1", "alt": "", "position": 1}
    made = [("products", "p1", {"id": "p1"}, {"id": "p1"}), ("product_images", "img1", None, image)]
    assert _name("POST", "/api/products/<product_id>/images", 201, made, product_id="p1") == (
        "product.image_add", "product", "p1", {"image_id": "img1"})
    moved = [("product_images", "img1", {**image, "alt": ""}, {**image, "alt": "Front"})]
    action, kind, rid, details, change = audit.name_request(
        "PATCH", "/api/products/<product_id>/images/<image_id>", {"product_id": "p1", "image_id": "img1"},
        200, moved)
    assert (action, kind, rid, details) == ("product.image_update", "product", "p1", {"image_id": "img1"})
    assert audit.changes_between(change[2], change[3]) == {"alt": ["", "Front"]}
    assert _name("DELETE", "/api/products/<id>/images/<image_id>", 204, id="p1", image_id="i")[0] == (
        "product.image_remove")
    assert _name("POST", "/api/purchase-orders", 201, [("purchase_orders", "po1", None, {"id": "po1"})])[:3] == (
        "purchase_order.create", "purchase_order", "po1")
    assert _name("POST", "/api/purchase-orders/<id>/receive", id="po1")[0] == "purchase_order.receive"
    assert _name("POST", "/api/storefront/orders", 201, [("orders", "o9", None, {"id": "o9"})])[:3] == (
        "order.create", "order", "o9")
    key = [("storefront_keys", "k1", {"id": "k1", "active": True}, {"id": "k1", "active": False})]
    assert _name("DELETE", "/api/storefront-keys/<key_id>", 200, key, key_id="k1")[0] == "storefront_key.revoke"
    erased = [("customers", "c1", {"id": "c1", "erased": False}, {"id": "c1", "erased": True})]
    assert _name("DELETE", "/api/customers/<customer_id>", 200, erased, customer_id="c1")[0] == "customer.erase"
    assert _name("POST", "/api/webhooks/<webhook_id>/rotate-secret", webhook_id="w1")[0] == "webhook.rotate_secret"
    assert _name("POST", "/api/webhooks/<webhook_id>/deliveries/<delivery_id>/retry", 202,
                 webhook_id="w1", delivery_id="d1") == ("webhook.delivery_retry", "webhook", "w1",
                                                        {"delivery_id": "d1"})
    assert _name("POST", "/api/notifications/read-all")[0] == "notification.read_all"
    ticket = [("stream_tickets", "t1", None, {"id": "t1", "user_id": "u1"})]
    assert audit.request_entries({**REQUEST, "rule": "/api/events/tickets"}, ticket, []) == []


def test_a_commit_of_only_the_houses_books_writes_no_entry():
    refresh = [("sessions", "s1", {"id": "s1", "refresh_id": "a"}, {"id": "s1", "refresh_id": "b"})]
    assert audit.request_entries({**REQUEST, "rule": "/api/auth/refresh", "status": 200}, refresh, []) == []
    counted = [("throttles", "t1", None, {"id": "t1", "hits": [1.0]})]
    assert audit.request_entries({**REQUEST, "rule": "/api/auth/accept-invite"}, counted, []) == []


def test_a_read_that_writes_writes_no_entry():
    changed = [("invites", "i1", {"id": "i1", "status": "pending"}, {"id": "i1", "status": "expired"})]
    assert audit.request_entries({**REQUEST, "method": "GET", "rule": "/api/invites"}, changed, []) == []


def test_a_service_names_the_entry_and_its_changes_come_from_the_record_it_names():
    store = MemoryStore()
    with store.unit_of_work() as uow:
        audit.describe(uow, "invite.accept", "invite", "i1", actor={"id": "u2", "username": "sam",
                                                                    "role": "clerk"})
        notes = uow.audit_notes
    changed = [("users", "u2", None, {"id": "u2"}),
               ("invites", "i1", {"id": "i1", "status": "pending"}, {"id": "i1", "status": "used"})]
    [entry] = audit.request_entries({**REQUEST, "rule": "/api/auth/accept-invite"}, changed, notes)
    assert entry["action"] == "invite.accept" and entry["resource_id"] == "i1"
    assert entry["actor"] == {"user_id": "u2", "username": "sam", "role": "clerk"}
    assert entry["changes"] == {"status": ["pending", "used"]}


def test_a_failed_sign_in_keeps_its_own_status_and_the_username_as_sent():
    note = {"action": "auth.login_failed", "resource_type": "user", "resource_id": None, "changes": None,
            "details": {"username": "Maria "}, "actor": None, "status": 401, "record_id": None}
    [entry] = audit.request_entries({**REQUEST, "rule": "/api/auth/login", "actor": None}, [], [note])
    assert (entry["status"], entry["details"], entry["actor"]) == (401, {"username": "Maria "}, None)


def test_a_storefront_key_is_the_actor_of_what_it_does():
    assert audit.actor_of(None, "sk1") == {"storefront_key_id": "sk1"}
    entry = audit.entry("order.create", actor=audit.actor_of(None, "sk1"))
    assert entry["actor_id"] == "sk1"


def test_a_password_reset_acted_upon_is_audited_with_the_request_that_asked():
    store = MemoryStore()
    user = {"id": "u1", "username": "sam", "email": "sam@example.com", "role": "clerk", "active": True,
            "password_hash": "x"}
    run(store, lambda uow: uow.users.add(user))
    asked = {"method": "POST", "path": "/api/auth/password-reset", "status": 202, "ip": "198.51.100.4",
             "request_id": "req-9"}
    run(store, lambda uow: password_reset.act_on_request(uow, {"username": "sam", "request": asked},
                                                         "Backroom", 1800))
    run(store, lambda uow: password_reset.act_on_request(uow, {"username": "nobody", "request": asked},
                                                         "Backroom", 1800))
    entries = list(store.tables.logs.newest_first("audit"))
    assert len(entries) == 1
    assert entries[0]["action"] == "auth.password_reset_request"
    assert (entries[0]["resource_id"], entries[0]["ip"], entries[0]["request_id"]) == ("u1", "198.51.100.4", "req-9")
    assert "token" not in str(entries[0])


def test_an_erased_customer_is_not_repeated_by_the_entry_of_the_erasure():
    before = {"id": "c1", "name": "Ada Lovelace", "email": "ada@example.com", "phone": None, "erased": False}
    after = {"id": "c1", "name": None, "email": None, "phone": None, "erased": True}
    request = {**REQUEST, "method": "DELETE", "rule": "/api/customers/<customer_id>",
               "view_args": {"customer_id": "c1"}, "status": 200}
    [entry] = audit.request_entries(request, [("customers", "c1", before, after)], [])
    assert entry["action"] == "customer.erase"
    assert entry["changes"] == {"name": ["[redacted]", None], "email": ["[redacted]", None],
                                "erased": [False, True]}


def test_a_link_named_by_what_it_links_and_a_create_under_a_prefix():
    link = [("supply_links", "v1:p1", {"id": "v1:p1", "cost": "4.00"}, {"id": "v1:p1", "cost": "3.50"})]
    action, kind, rid, details, change = audit.name_request(
        "PATCH", "/api/vendors/<vendor_id>/products/<product_id>", {"vendor_id": "v1", "product_id": "p1"},
        200, link)
    assert (action, kind, rid, details) == ("vendor.product_update", "vendor", "v1", {"product_id": "p1"})
    assert audit.changes_between(change[2], change[3]) == {"cost": ["4.00", "3.50"]}
    drafts = [("counters", "po", None, {"id": "po"}), ("purchase_orders", "po1", None, {"id": "po1"})]
    assert _name("POST", "/api/purchasing/suggestions/draft", 201, drafts)[:3] == (
        "purchase_order.create", "purchase_order", "po1")
