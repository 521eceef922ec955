"""Catalog and stock routes: products, books, adjustments, the ledger, low stock, receiving by scan."""
from flask import Blueprint, g, request, url_for

from schemas.products import (AdjustmentSchema, ProductCreateSchema, ProductInSchema, ReceiveSchema,
                             product_out)
from ..auth import catalog_reader, optional_user, requires
from ..services import catalog, stock
from .idempotent import idempotent_create
from .preconditions import if_match
from .query_params import boolean, choice, list_query, text
from .request_body import load, raw_body
from .response_cache import cached_response, remember_response
from .responses import json_response, page_response, record_response
from .store import page_of, read, reader, write

bp = Blueprint("inventory", __name__, url_prefix="/api")

PRODUCT_SORT = ("title", "sku", "price", "cost", "stock", "created_at", "updated_at", "author",
                "category", "kind", "status", "low_stock_threshold")
# anonymous callers never see cost, so they may not sort by it either (the order would tell it)
PUBLIC_PRODUCT_SORT = tuple(f for f in PRODUCT_SORT if f != "cost")
PRODUCT_SEARCH = ("title", "author", "isbn", "sku", "barcode")
MOVEMENT_REASONS = stock.MOVEMENT_REASONS


def _list_products(kind=None):
    staff = catalog_reader()
    query = list_query(
        filters={"kind": choice("book", "general"), "category": text,
                 "status": choice("active", "archived"), "low_stock": boolean},
        sort_fields=PRODUCT_SORT if staff else PUBLIC_PRODUCT_SORT, q_fields=PRODUCT_SEARCH,
        default_sort=(("id", True),))
    if kind:
        query.filters["kind"] = kind
    if not staff:
        wanted = query.filters.get("status", "active")
        query.filters["status"] = "active" if wanted == "active" else "\x00hidden"
    with reader() as uow:
        # the catalog is read far more than it changes: serve the page as sent last time
        # while nothing was committed since (any commit, by any worker, moves the state)
        key = ("products", kind, staff, request.host_url, request.query_string)
        state = uow.state()
        cached = cached_response(key, state)
        if cached is not None:
            return cached
        items, total = uow.products.list(query)
    return remember_response(key, state,
                             page_response([product_out(p, staff) for p in items], total, query))


def _one_product(product_id, kind=None):
    staff = catalog_reader()
    product = read(catalog.get_product, product_id, include_archived=staff, kind=kind)
    return record_response(product_out(product, staff))


@bp.get("/products")
@optional_user
def list_products():
    """List products: filters kind, category, status, low_stock; q over title, author, isbn, sku, barcode."""
    return _list_products()


@bp.post("/products")
@requires("catalog.write")
def create_product():
    """Create a product with its opening stock (at `location_id`, else the default location)."""
    data = load(ProductCreateSchema)
    product = write(catalog.create_product, data, g.user["id"])
    return record_response(product, 201,
                           {"Location": url_for("inventory.get_product", product_id=product["id"])})


@bp.get("/products/<product_id>")
@optional_user
def get_product(product_id):
    """One product (an archived one is 404 to anonymous callers)."""
    return _one_product(product_id)


@bp.put("/products/<product_id>")
@requires("catalog.write")
def replace_product(product_id):
    """Replace a product's writable fields."""
    data = load(ProductInSchema)
    return record_response(write(catalog.update_product, product_id, data, if_match(), replace=True))


@bp.patch("/products/<product_id>")
@requires("catalog.write")
def update_product(product_id):
    """Change some of a product's fields."""
    data = load(ProductInSchema, partial=True)
    return record_response(write(catalog.update_product, product_id, data, if_match()))


@bp.delete("/products/<product_id>")
@requires("catalog.write")
def archive_product(product_id):
    """Archive a product; its history stays."""
    return record_response(write(catalog.archive_product, product_id, if_match()))


@bp.get("/books")
@optional_user
def list_books():
    """List products whose kind is book."""
    return _list_products(kind="book")


@bp.get("/books/<product_id>")
@optional_user
def get_book(product_id):
    """One book (a product of another kind is 404 here)."""
    return _one_product(product_id, kind="book")


@bp.post("/products/<product_id>/adjustments")
@requires("stock.write")
def adjust_stock(product_id):
    """Correct stock by a signed delta with a reason; writes one movement."""
    data = load(AdjustmentSchema)
    movement = write(stock.adjust_stock, product_id, data["delta"], data["reason"],
                     data.get("note"), data.get("ref"), g.user["id"], data.get("location_id"))
    return json_response(movement, 201)


@bp.get("/stock-movements")
@requires("catalog.read_all")
def list_movements():
    """The stock ledger: filters product_id, location_id, reason, since, until; newest first."""
    query = list_query(filters={"product_id": text, "location_id": text,
                                "reason": choice(*MOVEMENT_REASONS)},
                       sort_fields=("created_at", "delta", "stock_after", "reason"),
                       q_fields=("note", "ref"), default_sort=(("id", True),), dated=True)
    return page_of("movements", query)


@bp.get("/inventory/low-stock")
@requires("catalog.read_all")
def low_stock():
    """Active products at or below their low-stock threshold."""
    query = list_query(filters={"kind": choice("book", "general"), "category": text},
                       sort_fields=PRODUCT_SORT, q_fields=PRODUCT_SEARCH,
                       default_sort=(("stock", False), ("title", False)))
    query.filters.update(status="active", low_stock=True)
    return page_of("products", query)


@bp.post("/inventory/receive")
@requires("stock.write")
def receive_stock():
    """Goods in by scanning: a `received` movement on the product a barcode, ISBN or SKU names."""
    body = raw_body()
    data = load(ReceiveSchema, body=body)

    def run(uow):
        movement = stock.receive_stock(uow, data["code"], data["quantity"], data.get("note"),
                                       g.user["id"], data.get("location_id"))
        return 201, movement, {}
    return idempotent_create("inventory.receive", body, run)
