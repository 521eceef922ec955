"""Delivery routes: create, list, move along the delivery machine."""
from flask import Blueprint, g, url_for

from schemas.deliveries import DeliveryCreateSchema, DeliveryStatusSchema, STATUSES
from ..auth import requires
from ..services import deliveries
from .csv_out import csv_list
from .idempotent import idempotent_create
from .query_params import choice, list_query, text
from .request_body import load, raw_body
from .responses import record_response
from .store import page_of, read, shop_settings, write

bp = Blueprint("delivery", __name__, url_prefix="/api")


@bp.post("/deliveries")
@requires("deliveries.write")
def create_delivery():
    """Create a delivery for an open order."""
    body = raw_body()
    data = load(DeliveryCreateSchema, body=body)
    shop = shop_settings()

    def run(uow):
        delivery = deliveries.create_delivery(uow, data, g.user["id"], shop["delivery_days"],
                                              shop["timezone"])
        return 201, delivery, {"Location": url_for("delivery.get_delivery",
                                                   delivery_id=delivery["id"])}
    return idempotent_create("deliveries.create", body, run)


@bp.get("/deliveries")
@requires("deliveries.read")
def list_deliveries():
    """List deliveries, newest first: filters status, order_id."""
    query = list_query(filters={"status": choice(*STATUSES), "order_id": text},
                       sort_fields=("created_at", "updated_at", "status", "estimated_date", "carrier"),
                       q_fields=("carrier", "tracking_number", "address", "address.name", "address.line1", "address.city", "address.postal_code"), default_sort=(("id", True),),
                       dated=True)
    return csv_list("deliveries", query) or page_of("deliveries", query)


@bp.get("/deliveries/<delivery_id>")
@requires("deliveries.read")
def get_delivery(delivery_id):
    """One delivery with its events."""
    return record_response(read(deliveries.get_delivery, delivery_id))


@bp.post("/deliveries/<delivery_id>/status")
@requires("deliveries.write")
def advance_delivery(delivery_id):
    """Move a delivery to its next status; its order follows."""
    data = load(DeliveryStatusSchema)
    return record_response(write(deliveries.advance_delivery, delivery_id, data["status"],
                                 data.get("note"), g.user["id"]))
