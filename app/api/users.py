"""Staff management routes (admins only)."""
from flask import Blueprint, url_for

from schemas.users import ROLES, UserCreateSchema, UserUpdateSchema, user_out
from ..auth import requires
from ..services import users
from .preconditions import if_match
from .query_params import boolean, choice, list_query
from .request_body import load
from .responses import record_response
from .store import page_of, read, write

bp = Blueprint("users", __name__, url_prefix="/api/users")


@bp.get("")
@requires("users.manage")
def list_users():
    """List staff accounts: filters role, active; q over username and email."""
    query = list_query(filters={"role": choice(*ROLES), "active": boolean},
                       sort_fields=("username", "role", "created_at", "updated_at"),
                       q_fields=("username", "email"), default_sort=(("id", True),))
    return page_of("users", query, user_out)


@bp.post("")
@requires("users.manage")
def create_user():
    """Create a staff account."""
    data = load(UserCreateSchema)
    user = write(users.create_user, data)
    return record_response(user_out(user), 201,
                           {"Location": url_for("users.get_user", user_id=user["id"])})


@bp.get("/<user_id>")
@requires("users.manage")
def get_user(user_id):
    """One staff account."""
    return record_response(user_out(read(users.get_user, user_id)))


@bp.patch("/<user_id>")
@requires("users.manage")
def update_user(user_id):
    """Change a username, email, role or active flag."""
    data = load(UserUpdateSchema)
    return record_response(user_out(write(users.update_user, user_id, data, if_match())))


@bp.delete("/<user_id>")
@requires("users.manage")
def deactivate_user(user_id):
    """Deactivate a staff account: its tokens stop working, its history keeps its author."""
    return record_response(user_out(write(users.deactivate_user, user_id, if_match())))
