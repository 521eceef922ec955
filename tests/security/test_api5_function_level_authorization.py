"""OWASP API5:2023 Broken Function Level Authorization: every operation in openapi.yaml, called by
every role, answers as the roles table of contract section 3 says.

The cases are generated from the spec: an operation the table below does not name fails, so a new
route cannot land untested (tests/security/test_api9_improper_inventory.py keeps the spec and the
routes equal). A role the table allows must get past authorization (any answer but 401 and 403);
another staff role gets 403, an anonymous caller 401. Refused calls are made first and with an
empty body, so a route that validates or acts before it checks the role fails here too.
"""
import pytest

from tests.factories import add_image, create_product, one_of_every_kind, place_order

from .spec import operations

STAFF = frozenset({"admin", "manager", "clerk", "viewer"})
ROLES = ("anonymous", "viewer", "clerk", "manager", "admin")
EVERYONE = STAFF | {"anonymous"}
CATALOG = frozenset({"admin", "manager"})
SALES = frozenset({"admin", "manager", "clerk"})
ADMIN = frozenset({"admin"})
# anonymous clients may read these while SHOP_PUBLIC_CATALOG is true (the default), staff always
PUBLIC_CATALOG = "public catalog"
# section 11: /api/storefront/* opens with a storefront key only; without one every caller,
# staff token or not, is 401 (tests/api/test_storefront.py calls them with keys)
STOREFRONT_KEY = "storefront key"
ERASE = frozenset({"admin", "manager"})

# operationId -> the roles that may call it (contract section 3)
EXPECTED_ROLES = {
    "getHealth": EVERYONE,
    "getReadiness": EVERYONE,
    "login": EVERYONE,
    "refreshToken": EVERYONE,
    "logout": STAFF,
    "getCurrentUser": STAFF,
    "changePassword": STAFF,
    "listUsers": ADMIN,
    "createUser": ADMIN,
    "getUser": ADMIN,
    "updateUser": ADMIN,
    "deactivateUser": ADMIN,
    "listProducts": PUBLIC_CATALOG,
    "getProduct": PUBLIC_CATALOG,
    "listBooks": PUBLIC_CATALOG,
    "getBook": PUBLIC_CATALOG,
    "createProduct": CATALOG,
    "replaceProduct": CATALOG,
    "updateProduct": CATALOG,
    "archiveProduct": CATALOG,
    "adjustStock": CATALOG,
    "listStockMovements": STAFF,
    "listLowStock": STAFF,
    "receiveStock": CATALOG,
    "listOrders": STAFF,
    "createOrder": SALES,
    "getOrder": STAFF,
    "payOrder": SALES,
    "completeOrder": SALES,
    "cancelOrder": SALES,   # a paid order's cancel is a refund: test_refund_is_for_managers_and_admins
    "listDeliveries": STAFF,
    "createDelivery": SALES,
    "getDelivery": STAFF,
    "changeDeliveryStatus": SALES,
    "getProductBarcode": PUBLIC_CATALOG,
    "assignProductBarcode": CATALOG,
    "lookupBarcode": PUBLIC_CATALOG,
    "scanBarcodes": STAFF,
    "printLabels": PUBLIC_CATALOG,
    # section 12: accounts
    "acceptInvite": EVERYONE,
    "askForPasswordReset": EVERYONE,
    "confirmPasswordReset": EVERYONE,
    "listInvites": ADMIN,
    "createInvite": ADMIN,
    "getInvite": ADMIN,
    "revokeInvite": ADMIN,
    "listOutbox": ADMIN,
    "listAuditLog": ADMIN,
    "getAuditEntry": ADMIN,
    # section 14: the catalog workflow, categories, the assistant (the editor: tests/api)
    "submitProduct": CATALOG,
    "approveProduct": CATALOG,
    "rejectProduct": CATALOG,
    "listCategories": PUBLIC_CATALOG,
    "getCategory": PUBLIC_CATALOG,
    "createCategory": CATALOG,
    "updateCategory": CATALOG,
    "deleteCategory": CATALOG,
    "askAssistant": PUBLIC_CATALOG,
    "listConversations": STAFF,
    "getConversation": PUBLIC_CATALOG,
    "getSettings": STAFF,
    "updateSettings": ADMIN,
    # section 15: reports, the dashboard, CSV in
    "getDashboard": STAFF,
    "reportInventoryValuation": CATALOG,
    "reportStockLevels": STAFF,
    "reportSales": CATALOG,
    "reportTransactionHistory": STAFF,
    "importProducts": CATALOG,
    "getDashboardPage": EVERYONE,   # static files; the page signs in to call the API
    "getDashboardFile": EVERYONE,
    # section 9: locations, transfers, stock counts
    "listLocations": STAFF,
    "createLocation": CATALOG,
    "getLocation": STAFF,
    "updateLocation": CATALOG,
    "archiveLocation": CATALOG,
    "getLocationStock": STAFF,
    "getProductStock": STAFF,
    "createStockCount": CATALOG,
    "listStockCounts": STAFF,
    "getStockCount": STAFF,
    "listTransfers": STAFF,
    "createTransfer": SALES,
    "getTransfer": STAFF,
    "completeTransfer": SALES,
    "cancelTransfer": SALES,
    # section 11: customers, storefront keys, the storefront API, the shop page
    "listCustomers": STAFF,
    "createCustomer": SALES,
    "getCustomer": STAFF,
    "replaceCustomer": SALES,
    "updateCustomer": SALES,
    "eraseCustomer": ERASE,
    "listCustomerOrders": STAFF,
    "listStorefrontKeys": ADMIN,
    "createStorefrontKey": ADMIN,
    "getStorefrontKey": ADMIN,
    "updateStorefrontKey": ADMIN,
    "revokeStorefrontKey": ADMIN,
    "listStorefrontProducts": STOREFRONT_KEY,
    "getStorefrontProduct": STOREFRONT_KEY,
    "listStorefrontCategories": STOREFRONT_KEY,
    "createStorefrontOrder": STOREFRONT_KEY,
    "trackStorefrontOrder": STOREFRONT_KEY,
    "getShopPage": EVERYONE,
    "getShopFile": EVERYONE,
    # section 10: vendors and purchasing (the editor reads like a viewer, without costs: tests/api)
    "listVendors": STAFF,
    "createVendor": CATALOG,
    "getVendor": STAFF,
    "replaceVendor": CATALOG,
    "updateVendor": CATALOG,
    "archiveVendor": CATALOG,
    "listVendorProducts": STAFF,
    "createSupplyLink": CATALOG,
    "getSupplyLink": STAFF,
    "updateSupplyLink": CATALOG,
    "deleteSupplyLink": CATALOG,
    "listProductVendors": STAFF,
    "listVendorContacts": STAFF,
    "createVendorContact": SALES,
    "listPurchaseOrders": STAFF,
    "createPurchaseOrder": CATALOG,
    "getPurchaseOrder": STAFF,
    "updatePurchaseOrder": CATALOG,
    "orderPurchaseOrder": CATALOG,
    "receivePurchaseOrder": CATALOG,
    "closePurchaseOrder": CATALOG,
    "cancelPurchaseOrder": CATALOG,
    "getPurchasingSuggestions": STAFF,
    "draftFromSuggestions": CATALOG,
    # section 16: product images (the editor: tests/api/test_images.py)
    "listProductImages": PUBLIC_CATALOG,
    "uploadProductImage": CATALOG,
    "getProductImage": PUBLIC_CATALOG,
    "updateProductImage": CATALOG,
    "deleteProductImage": CATALOG,
    "getImageFile": PUBLIC_CATALOG,
    # section 13: events, notifications, the live stream, webhooks
    "listEvents": STAFF,
    "getEvent": STAFF,
    "createStreamTicket": STAFF,
    "streamEvents": STAFF,
    "listNotifications": STAFF,
    "countUnreadNotifications": STAFF,
    "readAllNotifications": STAFF,
    "getNotificationPreferences": STAFF,
    "putNotificationPreferences": STAFF,
    "getNotification": STAFF,
    "readNotification": STAFF,
    "readNotificationPut": STAFF,
    "listWebhooks": ADMIN,
    "createWebhook": ADMIN,
    "getWebhook": ADMIN,
    "updateWebhook": ADMIN,
    "deleteWebhook": ADMIN,
    "rotateWebhookSecret": ADMIN,
    "pingWebhook": ADMIN,
    "listWebhookDeliveries": ADMIN,
    "retryWebhookDelivery": ADMIN,
}

SPEC_OPERATIONS = operations()


def allowed_roles(operation_id, public_catalog=True):
    roles = EXPECTED_ROLES[operation_id]
    if roles == PUBLIC_CATALOG:
        return EVERYONE if public_catalog else STAFF
    if roles == STOREFRONT_KEY:
        return frozenset()
    return roles


def expected_status(operation_id, role, public_catalog=True):
    """None when the role may call it (any answer but 401/403), else 401 or 403."""
    if role in allowed_roles(operation_id, public_catalog):
        return None
    if EXPECTED_ROLES[operation_id] == STOREFRONT_KEY:
        return 401  # no key: a staff token opens nothing here
    return 401 if role == "anonymous" else 403


@pytest.fixture
def records(client, auth, users):
    """One record of every kind an operation's path can name."""
    return one_of_every_kind(client, auth, users)


def concrete_path(path, records):
    """/api/orders/{id}/pay -> /api/orders/<a real order id>/pay."""
    parts = path.strip("/").split("/")
    out = []
    for index, part in enumerate(parts):
        if part.startswith("{"):
            out.append(records[parts[index - 1]])
        else:
            out.append(part)
    return "/" + "/".join(out)


def call(client, op, path, headers):
    kwargs = {"headers": dict(headers)}
    content = op.request_content_types
    if "application/json" in content:
        kwargs["json"] = {}
    elif content:
        kwargs["data"] = b""
        kwargs["content_type"] = sorted(content)[-1]
    return client.open(path, method=op.method, **kwargs)


def role_order(operation_id, public_catalog=True):
    """Refused roles first (they must change nothing), then the allowed ones, most powerful last
    (an admin deactivating the viewer must not turn the viewer's own case into a 401)."""
    allowed = allowed_roles(operation_id, public_catalog)
    return [r for r in ROLES if r not in allowed] + [r for r in ROLES if r in allowed]


def check_every_role(client, auth, records, op, public_catalog=True):
    path = concrete_path(op.path, records)
    for role in role_order(op.operation_id, public_catalog):
        headers = auth[role] if role != "anonymous" else {}
        resp = call(client, op, path, headers)
        want = expected_status(op.operation_id, role, public_catalog)
        where = f"{op.method} {path} as {role}"
        if want is None:
            assert resp.status_code not in (401, 403), f"{where}: {resp.status_code} {resp.get_data(as_text=True)}"
        else:
            assert resp.status_code == want, f"{where}: {resp.status_code} {resp.get_data(as_text=True)}"
            assert resp.mimetype == "application/problem+json", where


@pytest.mark.parametrize("op", SPEC_OPERATIONS, ids=[o.operation_id for o in SPEC_OPERATIONS])
def test_every_operation_answers_every_role_as_the_roles_table_says(client, auth, records, op):
    if op.operation_id not in EXPECTED_ROLES:
        pytest.fail(f"{op.method} {op.path} ({op.operation_id}) is in openapi.yaml but not in "
                    "EXPECTED_ROLES: say who may call it")
    check_every_role(client, auth, records, op)


PUBLIC_OPS = [o for o in SPEC_OPERATIONS if EXPECTED_ROLES.get(o.operation_id) == PUBLIC_CATALOG]


@pytest.mark.parametrize("op", PUBLIC_OPS, ids=[o.operation_id for o in PUBLIC_OPS])
def test_without_a_public_catalog_anonymous_reads_are_refused(make_app, auth, op):
    client = make_app(PUBLIC_CATALOG=False).test_client()
    product = create_product(client, auth["admin"], kind="book", isbn="9780141439518")
    category = client.post("/api/categories", json={"name": "Hidden"}, headers=auth["admin"]).get_json()
    conversation = client.post("/api/assistant/messages", json={"message": "any books?"},
                               headers=auth["admin"]).get_json()
    image = add_image(client, auth["admin"], product)
    records = {"products": product["id"], "books": product["id"], "barcodes": product["sku"],
               "categories": category["id"], "conversations": conversation["conversation_id"],
               "images": image["id"], "{image_id}": "thumb"}
    check_every_role(client, auth, records, op, public_catalog=False)


def test_the_roles_table_names_only_operations_of_the_spec():
    stale = set(EXPECTED_ROLES) - {o.operation_id for o in SPEC_OPERATIONS}
    assert not stale, f"EXPECTED_ROLES names operations openapi.yaml no longer has: {sorted(stale)}"


@pytest.mark.parametrize("op", SPEC_OPERATIONS, ids=[o.operation_id for o in SPEC_OPERATIONS])
def test_the_spec_documents_who_may_call_each_operation(op):
    """What Swagger UI and clients read agrees with the table: anonymous operations are marked
    optional-auth, the others list their 401, and those some staff may not call list 403."""
    if op.operation_id not in EXPECTED_ROLES:
        pytest.fail(f"{op.operation_id} is not in EXPECTED_ROLES")
    anonymous_ok = "anonymous" in allowed_roles(op.operation_id)
    assert op.anonymous_allowed == anonymous_ok, f"{op.operation_id}: security {op.security!r}"
    if not anonymous_ok:
        assert "401" in op.responses, f"{op.operation_id} does not document 401"
    if EXPECTED_ROLES[op.operation_id] == STOREFRONT_KEY:
        assert op.security == (("storefrontKey",),), f"{op.operation_id}: security {op.security!r}"
    elif not STAFF <= allowed_roles(op.operation_id, public_catalog=False):
        assert "403" in op.responses, f"{op.operation_id} does not document 403"


def test_refund_is_for_managers_and_admins(client, auth):
    """Cancelling a paid order returns the money: clerks may cancel unpaid orders only."""
    product = create_product(client, auth["admin"])
    order = place_order(client, auth["clerk"], [(product, 1)],
                        payment={"method": "cash", "amount": product["price"]})
    resp = client.post(f"/api/orders/{order['id']}/cancel", json={}, headers=auth["clerk"])
    assert resp.status_code == 403
    assert client.get(f"/api/orders/{order['id']}", headers=auth["clerk"]).get_json()["status"] == "paid"
    resp = client.post(f"/api/orders/{order['id']}/cancel", json={}, headers=auth["manager"])
    assert resp.status_code == 200 and resp.get_json()["payment_status"] == "refunded"
