"""The benchmark's floors: the least a Flask app under Backroom's gunicorn settings can do per request.

Two apps, served by `python -m scripts.bench_http` with the same gunicorn command line as
`make serve` (sync workers, same worker count, access log on):

  framework_app()  loads the products of the big store (BENCH_PRODUCTS_FILE, a `products.json`
                   snapshot) into memory at start and serves GET /products/<id> (one product's
                   JSON) and GET /products?limit=50 (a page of 50, in Backroom's list envelope;
                   &offset=N and sort=price / sort=-title give a page anywhere, in that order).
                   No auth, no validation, no storage: Flask, JSON and gunicorn alone.
  durable_app()    POST /write appends a 1 KiB line to BENCH_WRITE_FILE and fsyncs it: the cost of
                   one acknowledged durable write, with nothing else around it.

gunicorn loads them as `scripts.bench_floor:framework_app()` and `scripts.bench_floor:durable_app()`.
"""
import json
import os
from decimal import Decimal

from flask import Flask, Response, abort, request

LINE_BYTES = 1024


def framework_app():
    """GET /products/<id> and GET /products?limit=N over products held in memory."""
    with open(os.environ["BENCH_PRODUCTS_FILE"], "rb") as fh:
        products = json.load(fh)["records"]
    by_id = {p["id"]: p for p in products}
    app = Flask(__name__)
    app.json.sort_keys = False  # as Backroom: fields in stored order

    @app.get("/products/<product_id>")
    def one_product(product_id):
        product = by_id.get(product_id)
        if product is None:
            abort(404)
        return product

    # issue 18: a page at any offset, in creation order or sorted by price or by title (each order
    # made once at start, as a floor would): the same number of stored records per page as Backroom
    orders = {None: products,
              "price": sorted(products, key=lambda p: (p.get("price") is None, Decimal(p.get("price") or 0))),
              "-title": sorted(products, key=lambda p: p.get("title") or "", reverse=True)}

    @app.get("/products")
    def list_products():
        limit = min(int(request.args.get("limit", 50)), 200)
        offset = int(request.args.get("offset", 0))
        ordered = orders.get(request.args.get("sort"), products)
        return {"items": ordered[offset:offset + limit], "total": len(ordered), "limit": limit,
                "offset": offset}

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


def durable_app():
    """POST /write: one 1 KiB line appended and fsynced per request, from any number of workers."""
    path = os.environ["BENCH_WRITE_FILE"]
    app = Flask(__name__)
    state = {}

    def journal():
        # opened after the fork, once per worker; O_APPEND keeps each worker's lines whole
        if state.get("pid") != os.getpid():
            state["fd"] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            state["pid"] = os.getpid()
        return state["fd"]

    @app.post("/write")
    def write():
        body = request.get_data()[:LINE_BYTES - 1]
        line = body.ljust(LINE_BYTES - 1, b" ") + b"\n"
        fd = journal()
        os.write(fd, line)
        os.fsync(fd)
        return Response('{"written":1024}', status=201, mimetype="application/json")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
