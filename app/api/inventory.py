"""Catalog and stock routes: products, books, review, categories, adjustments, the ledger, low stock, receiving by scan."""
from flask import Blueprint, Response, g, request, url_for

from schemas.products import (AdjustmentSchema, CategoryInSchema, ProductCreateSchema, ProductInSchema,
                              ReceiveSchema, RejectSchema, ReviewSchema)
from ..auth import catalog_reader, optional_user, requires, sees_cost
from ..services import catalog, categories, stock
from .csv_out import csv_list
from .idempotent import idempotent_create
from .preconditions import if_match
from .product_views import product_answer, product_answers, sort_fields, writer
from .query_params import boolean, choice, list_query, text
from .request_body import load, raw_body
from .response_cache import cached_response, remember_response
from .responses import json_response, page_response, record_response
from .store import page_of, read, reader, shop_settings, write

bp = Blueprint("inventory", __name__, url_prefix="/api")

PRODUCT_SORT = ("title", "sku", "price", "cost", "stock", "created_at", "updated_at", "author",
                "category", "kind", "status", "low_stock_threshold")
# anonymous callers never see cost, so they may not sort by it either (the order would tell it)
PRODUCT_SEARCH = ("title", "author", "isbn", "sku", "barcode")
MOVEMENT_REASONS = stock.MOVEMENT_REASONS
CATEGORY_SORT = ("name", "slug", "created_at", "updated_at")


def _in_category(uow, query):
    """category_id (or section 4's category name) as the ids of that category and its descendants."""
    wanted_id = query.filters.pop("category_id", None)
    wanted_name = query.filters.pop("category", None)
    if wanted_id is None and wanted_name is None:
        return
    ids = None
    if wanted_id is not None:
        ids = set(categories.descendants_of(uow, wanted_id)) if uow.categories.get(wanted_id) else set()
    if wanted_name is not None:
        named = categories.category_named(uow, wanted_name)
        by_name = set(categories.descendants_of(uow, named["id"])) if named else set()
        ids = by_name if ids is None else ids & by_name
    query.filters["category_id"] = sorted(ids)


def _list_products(kind=None):
    staff = catalog_reader()
    query = list_query(
        filters={"kind": choice("book", "general"), "category": text, "category_id": text,
                 "status": choice(*catalog.STATUSES), "low_stock": boolean},
        sort_fields=sort_fields(PRODUCT_SORT), q_fields=PRODUCT_SEARCH, default_sort=(("id", True),))
    if kind:
        query.filters["kind"] = kind
    if not staff:
        wanted = query.filters.get("status", "active")
        query.filters["status"] = "active" if wanted == "active" else "\x00hidden"
    if (export := csv_list("books" if kind else "products", query,
                              hide=() if staff else ("cost", "on_order", "reorder_quantity"))):
        return export
    with reader() as uow:
        # the catalog is read far more than it changes: serve the page as sent last time
        # while nothing was committed since (any commit, by any worker, moves the state)
        key = ("products", kind, staff, sees_cost(), request.host_url, request.query_string)
        state = uow.state()
        cached = cached_response(key, state)
        if cached is not None:
            return cached
        _in_category(uow, query)
        items, total = uow.products.list(query)
    return remember_response(key, state,
                             page_response(product_answers(items), total, query))


def _one_product(product_id, kind=None):
    with reader() as uow:  # the setting that may hide the catalog and the product: one read
        staff = catalog_reader(uow)
        product = catalog.get_product(uow, product_id, include_archived=staff, kind=kind)
    return record_response(product_answer(product))


def _product_response(product, status=200, headers=None):
    return record_response(product_answer(product), status, headers)


@bp.get("/products")
@optional_user
def list_products():
    """List products: filters kind, category, category_id, status, low_stock; q over title, author, isbn, sku, barcode."""
    return _list_products()


@bp.post("/products")
@requires("catalog.write")
def create_product():
    """Create a product with its opening stock (a draft when an editor writes it while approval is on) at `location_id`, else the default location."""
    data = load(ProductCreateSchema)
    product = write(catalog.create_product, data, g.user["id"], writer(),
                    shop_settings()["default_low_stock_threshold"])
    return _product_response(product, 201,
                             {"Location": url_for("inventory.get_product", product_id=product["id"])})


@bp.get("/products/<product_id>")
@optional_user
def get_product(product_id):
    """One product (only an active one is found by anonymous callers)."""
    return _one_product(product_id)


@bp.put("/products/<product_id>")
@requires("catalog.write")
def replace_product(product_id):
    """Replace a product's writable fields (without status, it keeps its status)."""
    data = load(ProductInSchema)
    return _product_response(write(catalog.update_product, product_id, data, if_match(), replace=True,
                                   writer=writer()))


@bp.patch("/products/<product_id>")
@requires("catalog.write")
def update_product(product_id):
    """Change some of a product's fields."""
    data = load(ProductInSchema, partial=True)
    return _product_response(write(catalog.update_product, product_id, data, if_match(),
                                   writer=writer()))


@bp.delete("/products/<product_id>")
@requires("catalog.write")
def archive_product(product_id):
    """Archive a product; its history stays."""
    return _product_response(write(catalog.archive_product, product_id, if_match(), writer=writer()))


@bp.post("/products/<product_id>/submit")
@requires("catalog.submit")
def submit_product(product_id):
    """Send a draft for review: now pending_review."""
    data = load(ReviewSchema, optional=True)
    return _product_response(write(catalog.review_product, product_id, "submitted", data["comment"],
                                   g.user["id"]))


@bp.post("/products/<product_id>/approve")
@requires("catalog.review")
def approve_product(product_id):
    """Publish a product in review: now active."""
    data = load(ReviewSchema, optional=True)
    return _product_response(write(catalog.review_product, product_id, "approved", data["comment"],
                                   g.user["id"]))


@bp.post("/products/<product_id>/reject")
@requires("catalog.review")
def reject_product(product_id):
    """Send a product in review back to draft, with the reason."""
    data = load(RejectSchema)
    return _product_response(write(catalog.review_product, product_id, "rejected", data["comment"],
                                   g.user["id"]))


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


# ---- categories ---------------------------------------------------------------------------------

def _category_reader():
    """Staff read categories; anonymous callers too when the catalog is public."""
    catalog_reader()


@bp.get("/categories")
@optional_user
def list_categories():
    """List categories: filters parent_id (an id, or null), slug; q over name, slug, description."""
    _category_reader()
    return category_page()


def category_page():
    """A page of the category tree with its filters (parent_id: an id, or null; slug) and q; the
    storefront's list of categories answers the same."""
    query = list_query(filters={"parent_id": lambda raw: None if raw == "null" else raw, "slug": text},
                       sort_fields=CATEGORY_SORT, q_fields=("name", "slug", "description"),
                       default_sort=(("name", False),))
    with reader() as uow:
        items, total = uow.categories.list(query)
        items = categories.categories_out(uow, items)
    return page_response(items, total, query)


@bp.post("/categories")
@requires("categories.write")
def create_category():
    """Create a category (its slug made from the name when left out)."""
    data = load(CategoryInSchema)
    with_count = write(lambda uow: categories.category_out(uow, categories.create_category(uow, data)))
    return record_response(with_count, 201, {"Location": url_for("inventory.get_category",
                                                                 category_id=with_count["id"])})


@bp.get("/categories/<category_id>")
@optional_user
def get_category(category_id):
    """One category, with the active products in it and its descendants."""
    _category_reader()
    return record_response(read(lambda uow: categories.category_out(
        uow, categories.get_category(uow, category_id))))


@bp.patch("/categories/<category_id>")
@requires("categories.write")
def update_category(category_id):
    """Rename, re-slug, move or describe a category."""
    data = load(CategoryInSchema, partial=True)
    precondition = if_match()
    return record_response(write(lambda uow: categories.category_out(
        uow, categories.update_category(uow, category_id, data, precondition))))


@bp.delete("/categories/<category_id>")
@requires("categories.write")
def delete_category(category_id):
    """Delete a category no product and no category names."""
    write(categories.delete_category, category_id, if_match())
    return Response(status=204)


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
    """The stock ledger: filters product_id, location_id, reason, ref, since, until; newest first."""
    query = list_query(filters={"product_id": text, "location_id": text, "ref": text,
                                "reason": choice(*MOVEMENT_REASONS)},
                       sort_fields=("created_at", "delta", "stock_after", "reason"),
                       q_fields=("note", "ref"), default_sort=(("id", True),), dated=True)
    return csv_list("stock-movements", query) or page_of("movements", query)


@bp.get("/inventory/low-stock")
@requires("catalog.read_all")
def low_stock():
    """Active products at or below their low-stock threshold."""
    query = list_query(filters={"kind": choice("book", "general"), "category": text},
                       sort_fields=sort_fields(PRODUCT_SORT), q_fields=PRODUCT_SEARCH,
                       default_sort=(("stock", False), ("title", False)))
    query.filters.update(status="active", low_stock=True)
    return page_of("products", query, product_answer)


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
