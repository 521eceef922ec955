"""Invite routes (admins): invite staff by a single-use code, list and revoke invites."""
from flask import Blueprint, current_app, g, request, url_for

from schemas.invites import InviteCreateSchema
from schemas.users import ROLES
from ..auth import requires
from ..services import invites
from ..services.errors import ValidationFailed
from .query_params import choice, list_query, text
from .request_body import load
from .responses import page_response, record_response
from .store import read, write

bp = Blueprint("invites", __name__, url_prefix="/api/invites")
STATUSES = ("pending", "used", "revoked", "expired")


@bp.post("")
@requires("invites.manage")
def create_invite():
    """Invite someone: the answer carries the code, this once."""
    data = load(InviteCreateSchema)
    invite, code = write(invites.create_invite, data, g.user["id"], current_app.config["NAME"])
    return record_response({**invites.view(invite), "code": code}, 201,
                           {"Location": url_for("invites.get_invite", invite_id=invite["id"])})


@bp.get("")
@requires("invites.manage")
def list_invites():
    """List invites, newest first: filters status, role, email; q over email and note."""
    query = list_query(filters={"role": choice(*ROLES), "email": text},
                       sort_fields=("created_at", "expires_at", "role"), q_fields=("email", "note"),
                       default_sort=(("id", True),))
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ValidationFailed("The query is not valid.",
                               errors={"status": [f"Must be one of: {', '.join(STATUSES)}."]})
    items, total = read(invites.list_invites, query, status)
    return page_response(items, total, query)


@bp.get("/<invite_id>")
@requires("invites.manage")
def get_invite(invite_id):
    """One invite (never its code)."""
    return record_response(invites.view(read(invites.get_invite, invite_id)))


@bp.delete("/<invite_id>")
@requires("invites.manage")
def revoke_invite(invite_id):
    """Revoke a pending invite; a revoked or expired one stays as it is."""
    return record_response(invites.view(write(invites.revoke_invite, invite_id)))
