"""Sign-in routes: login, refresh, logout, me, password; accepting an invite; password reset by mail."""
from flask import Blueprint, Response, current_app, g, request

from schemas.common import EmptySchema
from schemas.invites import AcceptInviteSchema, PasswordResetConfirmSchema, PasswordResetRequestSchema
from schemas.users import LoginSchema, PasswordChangeSchema, RefreshSchema, user_out
from ..auth import requires, tokens
from ..services import invites, password_reset, users
from ..services.errors import InvalidInvite, InvalidToken, Unauthorized
from .audit import describe, request_facts
from .request_body import load, raw_body
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
        describe("auth.login_failed", "user", user["id"] if user else None, changes=None,
                 details={"username": data["username"]}, actor=None, status=401)
        write(users.record_failed_login, data["username"], address)
        raise Unauthorized("The username or password is wrong.")
    describe("auth.login", "user", user["id"], changes=None, actor=user)
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
    describe("auth.logout", "user", g.user["id"], changes=None)
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
    describe("auth.password_change", "user", g.user["id"])
    write(users.change_password, g.user["id"], g.session["id"], data["current_password"],
          data["new_password"])
    return Response(status=204)


def _field(body, name):
    return body.get(name) if isinstance(body, dict) else None


@bp.post("/accept-invite")
def accept_invite():
    """Join with an invite's code: a new user of its role, signed in (201)."""
    body = raw_body()
    address = request.remote_addr or "unknown"
    if not write(invites.screen_code, _field(body, "code"), address):  # judged before the rest
        raise InvalidInvite("This invitation code is not valid.")
    data = load(AcceptInviteSchema, body=body)
    session, user, _ = write(invites.accept_invite, data, address,
                             refresh_ttl=current_app.config["REFRESH_TOKEN_TTL"])
    return json_response(_token_body(session, user), 201)


@bp.post("/password-reset")
def ask_for_password_reset():
    """Ask for a reset token by mail: the same 202 whatever the account."""
    data = load(PasswordResetRequestSchema)
    facts = {k: v for k, v in request_facts(202).items() if k in ("method", "path", "status", "ip", "request_id")}
    return json_response(write(password_reset.ask, data, facts), 202)


@bp.post("/password-reset/confirm")
def confirm_password_reset():
    """Set a new password with a reset token; every session of the user is signed out."""
    body = raw_body()
    address = request.remote_addr or "unknown"
    if not write(password_reset.screen_token, _field(body, "token"), address):
        raise InvalidToken(password_reset.INVALID_TOKEN)
    data = load(PasswordResetConfirmSchema, body=body)
    write(password_reset.confirm, data["token"], data["new_password"])
    return Response(status=204)
