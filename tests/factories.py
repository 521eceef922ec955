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


def place_order(client, headers, lines, expect=201, **fields):
    """lines: [(product, quantity)]"""
    body = {"items": [{"product_id": p["id"], "quantity": q} for p, q in lines]}
    body.update(fields)
    resp = client.post("/api/orders", json=body, headers=headers)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()
