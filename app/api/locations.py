"""Location routes: locations, stock per location and per product, transfers, stock counts."""
from flask import Blueprint, g, url_for

from schemas.common import EmptySchema
from schemas.locations import (CountCreateSchema, KINDS, LocationSchema, STATUSES, TRANSFER_STATUSES,
                               TransferCreateSchema)
from ..auth import requires
from ..services import locations
from .idempotent import idempotent_create
from .preconditions import if_match
from .query_params import boolean, choice, list_query, text
from .request_body import load, raw_body
from .responses import json_response, page_response, record_response
from .store import page_of, read, reader, write

bp = Blueprint("locations", __name__, url_prefix="/api")


# ---- locations

@bp.get("/locations")
@requires("locations.read")
def list_locations():
    """List locations: filters status, kind, is_default; q over name, code, address."""
    query = list_query(filters={"status": choice(*STATUSES), "kind": choice(*KINDS), "is_default": boolean},
                       sort_fields=("name", "code", "kind", "status", "is_default", "created_at"),
                       q_fields=("name", "code", "address"),
                       default_sort=(("is_default", True), ("name", False)))
    return page_of("locations", query)


@bp.post("/locations")
@requires("locations.write")
def create_location():
    """Create a location (`is_default: true` makes it the default)."""
    data = load(LocationSchema)
    location = write(locations.create_location, data)
    return record_response(location, 201,
                           {"Location": url_for("locations.get_location", location_id=location["id"])})


@bp.get("/locations/<location_id>")
@requires("locations.read")
def get_location(location_id):
    """One location."""
    return record_response(read(locations.get_location, location_id))


@bp.patch("/locations/<location_id>")
@requires("locations.write")
def update_location(location_id):
    """Change a location: name, code, kind, address, is_default, status (archive or revive)."""
    data = load(LocationSchema, partial=True)
    return record_response(write(locations.update_location, location_id, data, if_match()))


@bp.delete("/locations/<location_id>")
@requires("locations.write")
def archive_location(location_id):
    """Archive a location: refused for the default, one holding stock, one a pending transfer names."""
    return record_response(write(locations.archive_location, location_id, if_match()))


@bp.get("/locations/<location_id>/stock")
@requires("locations.read")
def location_stock(location_id):
    """The products with a quantity there other than 0: q over sku, title; sort sku, title, quantity."""
    query = list_query(sort_fields=("sku", "title", "quantity"), q_fields=("sku", "title"),
                       default_sort=(("sku", False),))
    with reader() as uow:
        items, total = locations.location_stock(uow, location_id, query)
    return page_response(items, total, query)


@bp.get("/products/<product_id>/stock")
@requires("locations.read")
def product_stock(product_id):
    """A product's quantity at every active location, and its total."""
    return json_response(read(locations.product_stock, product_id))


# ---- stock counts

@bp.post("/locations/<location_id>/counts")
@requires("locations.write")
def create_count(location_id):
    """Count products at a location: each quantity that differs is corrected with a `count` movement."""
    body = raw_body()
    data = load(CountCreateSchema, body=body)

    def run(uow):
        count = locations.create_count(uow, location_id, data, g.user["id"])
        return 201, count, {"Location": url_for("locations.get_count", count_id=count["id"])}
    return idempotent_create(f"locations.counts:{location_id}", body, run)


@bp.get("/stock-counts")
@requires("locations.read")
def list_counts():
    """Stock counts, newest first: filters location_id, product_id, since, until; q over note."""
    query = list_query(filters={"location_id": text, "product_id": text}, sort_fields=("created_at",),
                       q_fields=("note",), default_sort=(("id", True),), dated=True)
    return page_of("stock_counts", query)


@bp.get("/stock-counts/<count_id>")
@requires("locations.read")
def get_count(count_id):
    """One stock count."""
    return json_response(read(locations.get_count, count_id))


# ---- transfers

@bp.post("/transfers")
@requires("transfers.write")
def create_transfer():
    """Plan a transfer between two locations (pending), or move it at once with `complete: true`."""
    body = raw_body()
    data = load(TransferCreateSchema, body=body)

    def run(uow):
        transfer = locations.create_transfer(uow, data, g.user["id"])
        return 201, transfer, {"Location": url_for("locations.get_transfer", transfer_id=transfer["id"])}
    return idempotent_create("transfers.create", body, run)


@bp.get("/transfers")
@requires("locations.read")
def list_transfers():
    """Transfers, newest first: filters status, from_location_id, to_location_id, product_id, since, until."""
    query = list_query(filters={"status": choice(*TRANSFER_STATUSES), "from_location_id": text,
                                "to_location_id": text, "product_id": text},
                       sort_fields=("number", "status", "created_at", "completed_at"),
                       q_fields=("note",), default_sort=(("id", True),), dated=True)
    return page_of("transfers", query)


@bp.get("/transfers/<transfer_id>")
@requires("locations.read")
def get_transfer(transfer_id):
    """One transfer."""
    return record_response(read(locations.get_transfer, transfer_id))


@bp.post("/transfers/<transfer_id>/complete")
@requires("transfers.write")
def complete_transfer(transfer_id):
    """Move the transfer's stock: every line out of the source and into the destination, or none."""
    load(EmptySchema, optional=True)
    return record_response(write(locations.complete_transfer, transfer_id, g.user["id"]))


@bp.post("/transfers/<transfer_id>/cancel")
@requires("transfers.write")
def cancel_transfer(transfer_id):
    """Cancel a pending transfer; nothing moves."""
    load(EmptySchema, optional=True)
    return record_response(write(locations.cancel_transfer, transfer_id))
