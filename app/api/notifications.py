"""Notification routes (contract section 13): the caller's own inbox and preferences."""
from flask import Blueprint, g

from ..auth import requires
from ..services import notifications
from .query_params import boolean, list_query, text
from .request_body import raw_body
from .responses import json_response, page_response, record_response
from .store import read, reader, write

bp = Blueprint("notifications", __name__, url_prefix="/api")


@bp.get("/notifications")
@requires("notifications.own")
def list_notifications():
    """The caller's notifications, newest first: filters unread, type, since, until; q over title, message."""
    query = list_query(filters={"unread": boolean, "type": text}, q_fields=("title", "message"),
                       default_sort=(("id", True),), dated=True)
    with reader() as uow:
        items, total = notifications.list_notifications(uow, g.user["id"], query)
    return page_response(items, total, query)


@bp.get("/notifications/unread-count")
@requires("notifications.own")
def unread_count():
    """How many of the caller's notifications are unread."""
    return json_response({"count": read(notifications.unread_count, g.user["id"])})


@bp.get("/notifications/preferences")
@requires("notifications.own")
def get_preferences():
    """Which types make a notification for the caller, and which also mail them."""
    return json_response(read(notifications.preferences, g.user["id"]))


@bp.put("/notifications/preferences")
@requires("notifications.own")
def put_preferences():
    """Replace the caller's preferences (a type left out: on, without email)."""
    body = raw_body()
    return json_response(write(notifications.set_preferences, g.user["id"], body))


@bp.post("/notifications/read-all")
@requires("notifications.own")
def read_all():
    """Mark every unread notification of the caller read; how many were."""
    raw_body(optional=True)
    return json_response({"count": write(notifications.read_all, g.user["id"])})


@bp.get("/notifications/<notification_id>")
@requires("notifications.own")
def get_notification(notification_id):
    """One of the caller's notifications."""
    return record_response(read(notifications.get_notification, g.user["id"], notification_id))


@bp.route("/notifications/<notification_id>/read", methods=["POST", "PUT"])
@requires("notifications.own")
def mark_read(notification_id):
    """Mark it read (again keeps the first read_at)."""
    raw_body(optional=True)
    return record_response(write(notifications.mark_read, g.user["id"], notification_id))
