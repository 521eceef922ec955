"""Webhook routes (contract section 13, admins): endpoints, secrets, pings, the delivery log, retries."""
from flask import Blueprint, current_app, url_for

from ..auth import requires
from ..services import webhooks
from .idempotent import idempotent_create
from .preconditions import if_match
from .query_params import boolean, choice, list_query, text
from .request_body import raw_body
from .responses import json_response, page_response, record_response
from .store import read, reader, write

bp = Blueprint("webhooks", __name__, url_prefix="/api")


def _allow_private():
    return current_app.config["WEBHOOK_ALLOW_PRIVATE"]


def _object(body):
    from ..services.errors import ValidationFailed
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.", errors={"body": ["Must be an object."]})
    return body


@bp.get("/webhooks")
@requires("webhooks.manage")
def list_webhooks():
    """Webhook endpoints: filter active."""
    query = list_query(filters={"active": boolean}, sort_fields=("created_at", "url"),
                       q_fields=("url", "description"), default_sort=(("id", False),))
    with reader() as uow:
        items, total = uow.webhooks.list(query)
    return page_response([webhooks.view(w) for w in items], total, query)


@bp.post("/webhooks")
@requires("webhooks.manage")
def create_webhook():
    """A new endpoint; its secret is in this answer only."""
    body = _object(raw_body())

    def run(uow):
        created = webhooks.create_webhook(uow, body, _allow_private())
        return 201, created, {"Location": url_for("webhooks.get_webhook", webhook_id=created["id"])}
    return idempotent_create("webhooks.create", body, run)


@bp.get("/webhooks/<webhook_id>")
@requires("webhooks.manage")
def get_webhook(webhook_id):
    """One endpoint (never its secret)."""
    return record_response(read(webhooks.get_webhook, webhook_id))


@bp.patch("/webhooks/<webhook_id>")
@requires("webhooks.manage")
def update_webhook(webhook_id):
    """Change url, events, description, active (true again clears disabled_reason)."""
    body = _object(raw_body())
    return record_response(write(webhooks.update_webhook, webhook_id, body, if_match(), _allow_private()))


@bp.delete("/webhooks/<webhook_id>")
@requires("webhooks.manage")
def delete_webhook(webhook_id):
    """Delete it; its pending deliveries are dropped."""
    write(webhooks.delete_webhook, webhook_id, if_match())
    return "", 204


@bp.post("/webhooks/<webhook_id>/rotate-secret")
@requires("webhooks.manage")
def rotate_secret(webhook_id):
    """A new secret; the replaced one signs beside it for old_secret_expires_in seconds."""
    body = raw_body(optional=True) or {}
    body = _object(body)
    return record_response(write(webhooks.rotate_secret, webhook_id, body))


@bp.post("/webhooks/<webhook_id>/ping")
@requires("webhooks.manage")
def ping(webhook_id):
    """A webhook.ping event delivered to this endpoint only."""
    raw_body(optional=True)
    return json_response(write(webhooks.ping, webhook_id), 202)


@bp.get("/webhooks/<webhook_id>/deliveries")
@requires("webhooks.manage")
def list_deliveries(webhook_id):
    """Its deliveries, newest first: filters status, type, event_id."""
    query = list_query(filters={"status": choice("pending", "delivered", "failed"), "type": text,
                                "event_id": text},
                       default_sort=(("id", True),))
    with reader() as uow:
        items, total = webhooks.list_deliveries(uow, webhook_id, query)
    return page_response(items, total, query)


@bp.post("/webhooks/<webhook_id>/deliveries/<delivery_id>/retry")
@requires("webhooks.manage")
def retry(webhook_id, delivery_id):
    """One more attempt within 2 seconds, whatever its status."""
    raw_body(optional=True)
    return json_response(write(webhooks.retry, webhook_id, delivery_id), 202)
