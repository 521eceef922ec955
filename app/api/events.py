"""Event routes (contract section 13): the events a role may read, tickets, and the live stream."""
import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response, current_app, g, request

from .. import stream
from ..auth import load_user, requires
from ..request_ids import current_request_id
from ..services import events
from ..services.errors import Forbidden, Unauthorized
from ..storage.base import timestamp
from .query_params import list_query
from .request_body import raw_body
from .responses import json_response, page_response
from .store import read, reader, store, unit_of_work

bp = Blueprint("events", __name__, url_prefix="/api")
TICKET_SECONDS = 60


def _types(raw):
    wanted = [t.strip() for t in raw.split(",") if t.strip()]
    if not wanted:
        raise ValueError("Name one or more event types, comma-separated.")
    return wanted


@bp.get("/events")
@requires("events.read")
def list_events():
    """The events the caller may read, newest first: filters type (comma-separated), since, until."""
    query = list_query(filters={"type": _types}, default_sort=(("id", True),), dated=True)
    with reader() as uow:
        items, total = events.list_events(uow, query, g.user["role"])
    return page_response(items, total, query)


@bp.get("/events/<event_id>")
@requires("events.read")
def get_event(event_id):
    """One event, if the caller may read it."""
    return json_response(read(events.get_event, event_id, g.user["role"]))


def _ticket_id(ticket):
    return "tkt:" + hashlib.sha256(ticket.encode()).hexdigest()


@bp.post("/events/tickets")
@requires("events.read")
def create_ticket():
    """A one-time ticket that opens one stream as the caller within 60 seconds (for EventSource)."""
    raw_body(optional=True)
    ticket = "stk_" + secrets.token_urlsafe(32)
    expires = datetime.now(timezone.utc) + timedelta(seconds=TICKET_SECONDS)
    with unit_of_work() as uow:
        uow.stream_tickets.save({"id": _ticket_id(ticket), "user_id": g.user["id"],
                                 "expires_at": timestamp(expires), "used": False,
                                 "created_at": timestamp(), "updated_at": timestamp(), "version": 1})
        uow.commit()
    return json_response({"ticket": ticket, "expires_in": TICKET_SECONDS}, 201)


def _user_from_ticket(ticket):
    """The ticket's user, the ticket used up; a used, expired or unknown one is 401."""
    if not isinstance(ticket, str) or not ticket.startswith("stk_") or len(ticket) > 200:
        raise Unauthorized("This stream ticket is not valid.")
    with unit_of_work() as uow:
        found = uow.stream_tickets.get(_ticket_id(ticket))
        if found is None or found["used"] or found["expires_at"] < timestamp():
            raise Unauthorized("This stream ticket is not valid, used or expired.")
        found["used"] = True
        uow.stream_tickets.save(found)
        user = uow.users.get(found["user_id"])
        uow.commit()
    if user is None or not user.get("active"):
        raise Unauthorized("This stream ticket is not valid.")
    return user


@bp.get("/events/stream")
def open_stream():
    """The live stream (text/event-stream): Bearer or ?ticket=; Last-Event-ID or ?last_event_id=."""
    ticket = request.args.get("ticket")
    if ticket is not None and not request.headers.get("Authorization"):
        user = _user_from_ticket(ticket)
    else:
        user = load_user(required=True)
    if user["role"] not in events.STAFF:
        raise Forbidden(f"The {user['role']} role may not do this.")
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    after, reset = stream.start_point(store(), (last or "").strip() or None)
    info = {"user_id": user["id"], "role": user["role"], "after": after, "reset": reset,
            "request_id": current_request_id()}
    client = request.environ.get("gunicorn.socket")
    if client is not None and stream.ADDRESS:
        handed, other = stream.hand_over(client, info)
        if handed:
            resp = Response(b"", status=200, mimetype="text/event-stream")
            resp.call_on_close(other.close)
            return resp
    app = current_app._get_current_object()
    body = stream.inline_stream(app, info, app.config["STREAM_INLINE_SECONDS"])
    resp = Response(body, status=200, mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"
    return resp
