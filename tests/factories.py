"""Small factories: build test data naming only the fields a test is about."""
import itertools

_seq = itertools.count(1)


def product_body(**fields):
    n = next(_seq)
    body = {"sku": f"SKU-{n:05d}", "title": f"Product {n}", "price": "10.00", "stock": 10}
    body.update(fields)
    return body


def book_body(**fields):
    return product_body(kind="book", author="Jane Austen", **fields)


def create_product(client, headers, **fields):
    resp = client.post("/api/products", json=product_body(**fields), headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def picture(size=(64, 48), colour=(200, 30, 30), fmt="JPEG", **save):
    """The bytes of a picture made here: a plain colour with a white corner, so two colours differ."""
    import io
    from PIL import Image
    image = Image.new("RGB" if fmt == "JPEG" else "RGBA", size, colour)
    image.paste((255, 255, 255), (0, 0, max(1, size[0] // 4), max(1, size[1] // 4)))
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


_colours = itertools.count(1)


def add_image(client, headers, product, data=None, expect=201, **fields):
    """Upload a picture (a new colour each time unless `data` is given) as multipart `file`."""
    import io
    if data is None:
        n = next(_colours)
        data = picture(colour=((n * 37) % 256, (n * 91) % 256, (n * 53) % 256))
    form = {"file": (io.BytesIO(data), "picture.jpg"), **{k: str(v) for k, v in fields.items()}}
    resp = client.post(f"/api/products/{product['id']}/images", data=form, headers=headers,
                       content_type="multipart/form-data")
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def place_order(client, headers, lines, expect=201, **fields):
    """lines: [(product, quantity)]"""
    body = {"items": [{"product_id": p["id"], "quantity": q} for p, q in lines]}
    body.update(fields)
    resp = client.post("/api/orders", json=body, headers=headers)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def pay(client, headers, order, expect=200, **fields):
    body = {"method": "cash", "amount": order["total"]}
    body.update(fields)
    resp = client.post(f"/api/orders/{order['id']}/pay", json=body, headers=headers)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def create_delivery(client, headers, order, expect=201, **fields):
    body = {"order_id": order["id"], "address": "1 High Street, Bath"}
    body.update(fields)
    resp = client.post("/api/deliveries", json=body, headers=headers)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def move_delivery(client, headers, delivery, status, expect=200, **fields):
    resp = client.post(f"/api/deliveries/{delivery['id']}/status",
                       json={"status": status, **fields}, headers=headers)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def assert_problem(resp, status, code=None):
    """An RFC 9457 problem with this status (and stable code); returns its body."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body


def one_of_every_kind(client, auth, users):
    """A record of every kind an operation's path can name, by the path word before the id
    ({"orders": <an order id>, ...}): for tests that call every operation of the spec."""
    product = create_product(client, auth["admin"], kind="book", isbn="9780141439518")
    order = place_order(client, auth["admin"], [(product, 1)])
    delivery = create_delivery(client, auth["admin"], order)
    invite = client.post("/api/invites", json={"role": "clerk"}, headers=auth["admin"]).get_json()
    back = client.post("/api/locations", json={"name": "Back room", "code": "BACK"},
                       headers=auth["admin"]).get_json()
    main = client.get("/api/locations?is_default=true", headers=auth["admin"]).get_json()["items"][0]
    transfer = client.post("/api/transfers", headers=auth["admin"], json={
        "from_location_id": main["id"], "to_location_id": back["id"],
        "lines": [{"product_id": product["id"], "quantity": 1}]}).get_json()
    count = client.post(f"/api/locations/{main['id']}/counts", headers=auth["admin"],
                        json={"lines": [{"product_id": product["id"], "counted": 9}]}).get_json()
    category = client.post("/api/categories", json={"name": "Every Kind"}, headers=auth["admin"]).get_json()
    conversation = client.post("/api/assistant/messages", json={"message": "any books?"},
                               headers=auth["admin"]).get_json()
    customer = client.post("/api/customers", json={"name": "Every Kind", "email": "every@example.com"},
                           headers=auth["admin"]).get_json()
    storefront_key = client.post("/api/storefront-keys", json={"name": "Every kind"},
                                 headers=auth["admin"]).get_json()
    vendor = client.post("/api/vendors", json={"name": "Every Kind Books"}, headers=auth["admin"]).get_json()
    client.post(f"/api/vendors/{vendor['id']}/products", json={"product_id": product["id"], "cost": "4.00"},
                headers=auth["admin"])
    purchase_order = client.post("/api/purchase-orders", headers=auth["admin"], json={
        "vendor_id": vendor["id"], "lines": [{"product_id": product["id"], "quantity": 2}]}).get_json()
    image = add_image(client, auth["admin"], product)
    # section 13: an event, an admin's notification (a low-stock crossing), a webhook (an IP
    # literal: nothing to resolve; no sender runs in these tests)
    low = create_product(client, auth["admin"], stock=2, low_stock_threshold=1)
    place_order(client, auth["admin"], [(low, 1)])
    event = client.get("/api/events?limit=1", headers=auth["admin"]).get_json()["items"][0]
    notification = client.get("/api/notifications?limit=1", headers=auth["admin"]).get_json()["items"][0]
    webhook = client.post("/api/webhooks", json={"url": "https://93.184.215.14/hooks", "events": ["*"]},
                          headers=auth["admin"]).get_json()
    return {"images": image["id"], "{image_id}": "thumb",  # /api/images/{image_id}/{variant}
            "users": users["viewer"]["id"], "products": product["id"], "books": product["id"],
            "events": event["id"], "notifications": notification["id"], "webhooks": webhook["id"],
            "orders": order["id"], "deliveries": delivery["id"], "barcodes": product["sku"],
            "invites": invite["id"], "categories": category["id"],
            "conversations": conversation["conversation_id"], "dashboard": "app.js",
            "locations": back["id"], "transfers": transfer["id"], "stock-counts": count["id"],
            "vendors": vendor["id"], "purchase-orders": purchase_order["id"],
            "customers": customer["id"], "storefront-keys": storefront_key["id"], "shop": "app.js",
            "audit-log": _newest_audit_entry(client, auth)}


def _newest_audit_entry(client, auth):
    return client.get("/api/audit-log?limit=1", headers=auth["admin"]).get_json()["items"][0]["id"]
