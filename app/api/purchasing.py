"""Purchasing routes: vendors, their supply links and contacts, purchase orders and receipts,
reorder suggestions and drafts made from them."""
from flask import Blueprint, Response, g, url_for

from schemas.purchasing import (CONTACT_TYPES, ContactSchema, DraftSchema, NoteSchema,
                                PURCHASE_ORDER_STATUSES, PurchaseOrderCreateSchema,
                                PurchaseOrderUpdateSchema, ReceiptSchema, SupplyLinkCreateSchema,
                                SupplyLinkUpdateSchema, VENDOR_STATUSES, VendorSchema, link_out,
                                purchase_order_out)
from ..auth import requires, sees_cost
from ..services import purchasing
from ..services.errors import ValidationFailed
from .idempotent import idempotent_create
from .preconditions import if_match
from .product_views import sort_fields
from .query_params import boolean, choice, list_query, text
from .request_body import load, raw_body
from .responses import json_response, page_response, record_response
from .store import page_of, read, reader, shop_settings, write

bp = Blueprint("purchasing", __name__, url_prefix="/api")


def _link(link):
    return link_out(link, with_cost=sees_cost())


def _purchase_order(purchase_order):
    return purchase_order_out(purchase_order, with_cost=sees_cost())


# ---- vendors

@bp.get("/vendors")
@requires("purchasing.read")
def list_vendors():
    """List vendors: filter status; q over name, contact_name, email, specialty; by name unsorted."""
    query = list_query(filters={"status": choice(*VENDOR_STATUSES)},
                       sort_fields=("name", "status", "created_at"),
                       q_fields=("name", "contact_name", "email", "specialty"),
                       default_sort=(("name", False),))
    return page_of("vendors", query)


@bp.post("/vendors")
@requires("purchasing.write")
def create_vendor():
    """Create a vendor (active; its name unique in any case)."""
    data = load(VendorSchema)
    vendor = write(purchasing.create_vendor, data)
    return record_response(vendor, 201, {"Location": url_for("purchasing.get_vendor", vendor_id=vendor["id"])})


@bp.get("/vendors/<vendor_id>")
@requires("purchasing.read")
def get_vendor(vendor_id):
    """One vendor."""
    return record_response(read(purchasing.get_vendor, vendor_id))


@bp.put("/vendors/<vendor_id>")
@requires("purchasing.write")
def replace_vendor(vendor_id):
    """Replace a vendor's fields (without status, it keeps its status)."""
    data = load(VendorSchema)
    return record_response(write(purchasing.update_vendor, vendor_id, data, if_match(), replace=True))


@bp.patch("/vendors/<vendor_id>")
@requires("purchasing.write")
def update_vendor(vendor_id):
    """Change some of a vendor's fields; `status: active` revives an archived one."""
    data = load(VendorSchema, partial=True)
    return record_response(write(purchasing.update_vendor, vendor_id, data, if_match()))


@bp.delete("/vendors/<vendor_id>")
@requires("purchasing.write")
def archive_vendor(vendor_id):
    """Archive a vendor; its links, contacts and purchase orders stay."""
    return record_response(write(purchasing.archive_vendor, vendor_id, if_match()))


# ---- supply links

@bp.get("/vendors/<vendor_id>/products")
@requires("purchasing.read")
def list_vendor_products(vendor_id):
    """What the vendor sells us: filter is_primary; sort cost, lead_time_days, created_at."""
    query = list_query(filters={"is_primary": boolean},
                       sort_fields=sort_fields(("cost", "lead_time_days", "created_at")))
    with reader() as uow:
        items, total = purchasing.vendor_links(uow, vendor_id, query)
    return page_response([_link(link) for link in items], total, query)


@bp.post("/vendors/<vendor_id>/products")
@requires("purchasing.write")
def create_supply_link(vendor_id):
    """Link an active product to the vendor: its cost, lead time, minimum order and pack size."""
    data = load(SupplyLinkCreateSchema)
    link = write(purchasing.create_link, vendor_id, data)
    where = url_for("purchasing.get_supply_link", vendor_id=link["vendor_id"], product_id=link["product_id"])
    return record_response(_link(link), 201, {"Location": where})


@bp.get("/vendors/<vendor_id>/products/<product_id>")
@requires("purchasing.read")
def get_supply_link(vendor_id, product_id):
    """One supply link."""
    return record_response(_link(read(purchasing.get_link, vendor_id, product_id)))


@bp.patch("/vendors/<vendor_id>/products/<product_id>")
@requires("purchasing.write")
def update_supply_link(vendor_id, product_id):
    """Change a supply link; `is_primary: true` takes the primary from the product's previous one."""
    data = load(SupplyLinkUpdateSchema, partial=True)
    return record_response(_link(write(purchasing.update_link, vendor_id, product_id, data, if_match())))


@bp.delete("/vendors/<vendor_id>/products/<product_id>")
@requires("purchasing.write")
def delete_supply_link(vendor_id, product_id):
    """Unlink the product from the vendor; purchase orders keep their lines."""
    write(purchasing.delete_link, vendor_id, product_id, if_match())
    return Response(status=204)


@bp.get("/products/<product_id>/vendors")
@requires("purchasing.read")
def list_product_vendors(product_id):
    """Who sells us the product: the primary link first, then oldest first."""
    query = list_query()
    with reader() as uow:
        items, total = purchasing.product_links(uow, product_id, query)
    return page_response([_link(link) for link in items], total, query)


# ---- contact history

@bp.get("/vendors/<vendor_id>/contacts")
@requires("purchasing.read")
def list_vendor_contacts(vendor_id):
    """The vendor's contact history, newest first: filters contact_type, product_id, since, until; q over message."""
    query = list_query(filters={"contact_type": choice(*CONTACT_TYPES), "product_id": text},
                       sort_fields=("created_at",), q_fields=("message",), default_sort=(("id", True),),
                       dated=True)
    with reader() as uow:
        items, total = purchasing.list_contacts(uow, vendor_id, query)
    return page_response(items, total, query)


@bp.post("/vendors/<vendor_id>/contacts")
@requires("vendors.contact")
def create_vendor_contact(vendor_id):
    """Record a contact with the vendor (never edited afterwards)."""
    data = load(ContactSchema)
    return json_response(write(purchasing.record_contact, vendor_id, data, g.user["id"]), 201)


# ---- purchase orders

@bp.get("/purchase-orders")
@requires("purchasing.read")
def list_purchase_orders():
    """Purchase orders, newest first: filters status, vendor_id, product_id, since, until; q over notes and lines."""
    query = list_query(filters={"status": choice(*PURCHASE_ORDER_STATUSES), "vendor_id": text, "product_id": text},
                       sort_fields=tuple(f for f in ("number", "status", "expected_date", "subtotal", "created_at")
                                         if f != "subtotal" or sees_cost()),
                       q_fields=("notes",), default_sort=(("id", True),), dated=True)
    if query.q:  # the notes and the lines' sku and title: one predicate over the order and its lines
        query.filters["text"], query.q = query.q, None
    return page_of("purchase_orders", query, _purchase_order)


@bp.post("/purchase-orders")
@requires("purchasing.write")
def create_purchase_order():
    """Create a draft purchase order for an active vendor; lines by product_id or barcode."""
    body = raw_body()
    data = load(PurchaseOrderCreateSchema, body=body)

    def run(uow):
        purchase_order = purchasing.create_purchase_order(uow, data, g.user["id"], shop_settings()["currency"])
        where = url_for("purchasing.get_purchase_order", purchase_order_id=purchase_order["id"])
        return 201, purchase_order, {"Location": where}
    return idempotent_create("purchase_orders.create", body, run)


@bp.get("/purchase-orders/<purchase_order_id>")
@requires("purchasing.read")
def get_purchase_order(purchase_order_id):
    """One purchase order."""
    return record_response(_purchase_order(read(purchasing.get_purchase_order, purchase_order_id)))


@bp.patch("/purchase-orders/<purchase_order_id>")
@requires("purchasing.write")
def update_purchase_order(purchase_order_id):
    """Change lines (while draft), expected_date and notes (until received, closed or cancelled)."""
    data = load(PurchaseOrderUpdateSchema, partial=True)
    return record_response(write(purchasing.update_purchase_order, purchase_order_id, data, if_match()))


@bp.post("/purchase-orders/<purchase_order_id>/order")
@requires("purchasing.write")
def order_purchase_order(purchase_order_id):
    """Send a draft to the vendor: now ordered, its quantities on order."""
    note = load(NoteSchema, optional=True)["note"]
    return record_response(write(purchasing.order_purchase_order, purchase_order_id, note, g.user["id"],
                                 shop_settings()["timezone"]))


@bp.post("/purchase-orders/<purchase_order_id>/receive")
@requires("purchasing.write")
def receive_purchase_order(purchase_order_id):
    """Goods in against the purchase order: a received movement per line, cost averaged; all or nothing."""
    body = raw_body()
    try:
        data, invalid = load(ReceiptSchema, body=body), None
    except ValidationFailed as exc:  # judged after the status, as section 10 orders it
        data, invalid = {}, exc

    def run(uow):
        purchase_order = purchasing.receive_purchase_order(uow, purchase_order_id, data, g.user["id"], invalid)
        return 200, purchase_order, {}
    return idempotent_create(f"purchase_orders.receive:{purchase_order_id}", body, run)


@bp.post("/purchase-orders/<purchase_order_id>/close")
@requires("purchasing.write")
def close_purchase_order(purchase_order_id):
    """Close a partially received purchase order: the rest will not come."""
    note = load(NoteSchema, optional=True)["note"]
    return record_response(write(purchasing.close_purchase_order, purchase_order_id, note, g.user["id"]))


@bp.post("/purchase-orders/<purchase_order_id>/cancel")
@requires("purchasing.write")
def cancel_purchase_order(purchase_order_id):
    """Cancel a draft or ordered purchase order."""
    note = load(NoteSchema, optional=True)["note"]
    return record_response(write(purchasing.cancel_purchase_order, purchase_order_id, note, g.user["id"]))


# ---- reorder suggestions

@bp.get("/purchasing/suggestions")
@requires("purchasing.read")
def list_suggestions():
    """What to reorder, one group per primary vendor (the one without last): filter vendor_id."""
    query = list_query(filters={"vendor_id": text})
    with reader() as uow:
        groups = purchasing.suggestions(uow, query.filters.get("vendor_id"))
    return page_response(groups[query.offset:query.offset + query.limit], len(groups), query)


@bp.post("/purchasing/suggestions/draft")
@requires("purchasing.write")
def draft_from_suggestions():
    """One draft purchase order per vendor group of the suggestions (only vendor_ids when sent)."""
    body = raw_body(optional=True)
    data = load(DraftSchema, body=body)

    def run(uow):
        made, skipped = purchasing.draft_from_suggestions(uow, data["vendor_ids"], g.user["id"],
                                                          shop_settings()["currency"])
        return (201 if made else 200), {"purchase_orders": made, "skipped": skipped}, {}
    return idempotent_create("purchasing.suggestions.draft", body, run)
