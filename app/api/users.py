"""Staff management routes (admins only)."""
from flask import Blueprint, url_for

from schemas.users import ROLES, UserCreateSchema, UserUpdateSchema, user_out
from ..auth import requires
from ..services import users
from .common import (boolean, choice, if_match, list_query, load, page_response, reader,
                     record_response, unit_of_work)

bp = Blueprint("users", __name__, url_prefix="/api/users")


@bp.get("")
@requires("users.manage")
def list_users():
    """List staff accounts: filters role, active; q over username and email."""
    query = list_query(filters={"role": choice(*ROLES), "active": boolean},
                       sort_fields=("username", "role", "created_at", "updated_at"),
                       q_fields=("username", "email"), default_sort=(("id", True),))
    with reader() as uow:
        items, total = uow.users.list(query)
    return page_response([user_out(u) for u in items], total, query)


@bp.post("")
@requires("users.manage")
def create_user():
    """Create a staff account."""
    data = load(UserCreateSchema)
    with unit_of_work() as uow:
        user = users.create_user(uow, data)
        uow.commit()
    return record_response(user_out(user), 201,
                           {"Location": url_for("users.get_user", user_id=user["id"])})


@bp.get("/<user_id>")
@requires("users.manage")
def get_user(user_id):
    """One staff account."""
    with reader() as uow:
        user = users.get_user(uow, user_id)
    return record_response(user_out(user))


@bp.patch("/<user_id>")
@requires("users.manage")
def update_user(user_id):
    """Change a username, email, role or active flag."""
    data = load(UserUpdateSchema)
    with unit_of_work() as uow:
        user = users.update_user(uow, user_id, data, if_match())
        uow.commit()
    return record_response(user_out(user))


@bp.delete("/<user_id>")
@requires("users.manage")
def deactivate_user(user_id):
    """Deactivate a staff account: its tokens stop working, its history keeps its author."""
    with unit_of_work() as uow:
        user = users.deactivate_user(uow, user_id, if_match())
        uow.commit()
    return record_response(user_out(user))
