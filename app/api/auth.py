"""Sign-in routes: login, refresh, logout, me, password."""
from flask import Blueprint, Response, current_app, g, request

from schemas.common import EmptySchema
from schemas.users import LoginSchema, PasswordChangeSchema, RefreshSchema, user_out
from ..auth import requires, tokens
from ..services import users
from ..services.errors import Unauthorized
from .request_body import load
from .responses import json_response
from .store import reader, write

bp = Blueprint("auth", __name__, url_prefix="/api/auth")


def _token_body(session, user):
    return {**tokens().issue(session, user), "user": user_out(user)}


@bp.post("/login")
def login():
    """Exchange a username and password for an access and a refresh token."""
    data = load(LoginSchema)
    address = request.remote_addr or "unknown"
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    with reader() as uow:
        users.check_login_allowed(uow, data["username"], address, limit)
        user = uow.users.find_by_username(data["username"])
    # the password hash is checked outside the store lock: it is slow on purpose
    if not users.verify_credentials(user, data["password"]):
        write(users.record_failed_login, data["username"], address)
        raise Unauthorized("The username or password is wrong.")
    session = write(users.start_session, user, data["username"], address,
                    refresh_ttl=current_app.config["REFRESH_TOKEN_TTL"])
    return json_response(_token_body(session, user))


@bp.post("/refresh")
def refresh():
    """A new access token and a rotated refresh token; a used one is refused and ends its session."""
    data = load(RefreshSchema)
    claims = tokens().read_refresh(data["refresh_token"])
    session, user = write(users.rotate_refresh, claims["sid"], claims.get("rid"), claims.get("uid"))
    if session is None:
        raise Unauthorized("This refresh token was already used, so its session has been signed "
                           "out everywhere; sign in again.")
    return json_response(_token_body(session, user))


@bp.post("/logout")
@requires("signed_in")
def logout():
    """Revoke this access token and its refresh token."""
    load(EmptySchema, optional=True)
    write(users.end_session, g.session["id"])
    return Response(status=204)


@bp.get("/me")
@requires("signed_in")
def me():
    """The signed-in user."""
    return json_response(user_out(g.user))


@bp.post("/password")
@requires("signed_in")
def change_password():
    """Change your password; your other sessions are signed out."""
    data = load(PasswordChangeSchema)
    write(users.change_password, g.user["id"], g.session["id"], data["current_password"],
          data["new_password"])
    return Response(status=204)
