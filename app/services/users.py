"""Staff accounts and their sign-in sessions: passwords, roles, the last-admin rule, login throttling."""
import functools
import hashlib
import time
from datetime import datetime, timedelta, timezone

from werkzeug.security import check_password_hash, generate_password_hash

from ..storage.base import Query, UniqueViolation, new_id, timestamp, utcnow
from .errors import (DuplicateValue, LastAdmin, NotFound, PreconditionFailed, RateLimited,
                     Unauthorized, ValidationFailed)

ROLES = ("admin", "manager", "clerk", "editor", "viewer")
MIN_PASSWORD = 8
LOGIN_WINDOW = 60.0


@functools.cache
def _dummy():
    """A hash to check against when the user is unknown, so both cases cost the same; made lazily."""
    return generate_password_hash("not-a-real-password-at-all")


def hash_password(password):
    return generate_password_hash(password)


def check_password_rules(password, field="password"):
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationFailed("The password is too short.",
                               errors={field: [f"Must be at least {MIN_PASSWORD} characters."]})


def check_version(record, if_match):
    """if_match: None (no condition), a version, or a set of versions any of which may match."""
    if if_match is None:
        return
    wanted = if_match if isinstance(if_match, (set, frozenset)) else {if_match}
    if record["version"] not in wanted:
        named = ", ".join(str(v) for v in sorted(wanted)) or "no usable version"
        raise PreconditionFailed(
            f"The record is at version {record['version']}, not {named}; fetch it again.")


def get_user(uow, user_id):
    user = uow.users.get(user_id)
    if user is None:
        raise NotFound("No user with this id.")
    return user


def _user_view(user):
    from schemas.users import user_out
    return user_out(user)


def create_user(uow, data, record_event=True):
    """A new staff member; the username is unique case-insensitively."""
    check_password_rules(data["password"])
    user = {
        "id": new_id(),
        "username": data["username"].strip(),
        "email": data.get("email"),
        "role": data.get("role", "clerk"),
        "active": data.get("active", True),
        "password_hash": hash_password(data["password"]),
    }
    try:
        uow.users.add(user)
    except UniqueViolation as exc:
        raise DuplicateValue(exc.field, "A user with this username already exists.") from None
    if record_event:
        uow.events.add("user.created", _user_view(user))
    return user


def _would_lose_last_admin(uow, user, role, active):
    was_admin = user["role"] == "admin" and user["active"]
    stays_admin = role == "admin" and active
    return was_admin and not stays_admin and uow.users.count_active_admins() <= 1


def update_user(uow, user_id, changes, if_match=None):
    """Change username, email, role or active; demoting or deactivating the last admin is refused."""
    user = get_user(uow, user_id)
    check_version(user, if_match)
    role = changes.get("role", user["role"])
    active = changes.get("active", user["active"])
    was_active = user["active"]
    if _would_lose_last_admin(uow, user, role, active):
        raise LastAdmin("This is the last active admin; make another admin first.")
    for key in ("username", "email", "role", "active"):
        if key in changes:
            user[key] = changes[key].strip() if key == "username" else changes[key]
    try:
        uow.users.update(user)
    except UniqueViolation as exc:
        raise DuplicateValue(exc.field, "A user with this username already exists.") from None
    if not user["active"]:
        revoke_sessions(uow, user["id"])
    deactivated = was_active and not user["active"]
    uow.events.add("user.deactivated" if deactivated else "user.updated", _user_view(user))
    return user


def deactivate_user(uow, user_id, if_match=None):
    return update_user(uow, user_id, {"active": False}, if_match)


def ensure_admin(uow, username, password):
    """Create the configured admin unless that username exists; True when created."""
    if uow.users.find_by_username(username) is not None:
        return False
    create_user(uow, {"username": username, "password": password, "role": "admin"})
    return True


# ---- sessions and login -------------------------------------------------

def _attempt_id(username, address):
    return hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()[:32]


def check_login_allowed(uow, username, address, max_failures, now=None):
    now = now or time.time()
    rec = uow.login_attempts.get(_attempt_id(username, address))
    if rec is None:
        return
    recent = [t for t in rec["failures"] if now - t < LOGIN_WINDOW]
    if len(recent) >= max_failures:
        raise RateLimited(LOGIN_WINDOW - (now - min(recent)) + 0.999,
                          "Too many failed logins for this username; wait a minute.")


def verify_credentials(user, password):
    """Compare in constant-ish time whether or not the user exists."""
    if user is None or not user.get("active"):
        check_password_hash(_dummy(), password or "")
        return False
    return check_password_hash(user["password_hash"], password or "")


def record_failed_login(uow, username, address, now=None):
    now = now or time.time()
    attempt_id = _attempt_id(username, address)
    rec = uow.login_attempts.get(attempt_id) or {"id": attempt_id, "failures": []}
    rec["failures"] = [t for t in rec["failures"] if now - t < LOGIN_WINDOW] + [now]
    rec["updated_at"] = timestamp(datetime.fromtimestamp(now, timezone.utc))
    # records whose last failure left the window count for nothing: without this, guesses at
    # many usernames would leave one record each behind for ever
    uow.login_attempts.purge_before(
        timestamp(datetime.fromtimestamp(now - LOGIN_WINDOW - 1, timezone.utc)))
    uow.login_attempts.save(rec)


def start_session(uow, user, username=None, address=None, refresh_ttl=None):
    """A sign-in: one session that its access and refresh tokens both name.

    With refresh_ttl (seconds), the user's sessions that can no longer be used are forgotten on
    the way: revoked ones, and those whose last refresh token has expired (a session's
    updated_at moves with every refresh). Sessions do not pile up one per sign-in."""
    if username is not None:
        attempt = uow.login_attempts.get(_attempt_id(username, address))
        if attempt is not None:
            uow.login_attempts.delete(attempt["id"])
    if refresh_ttl is not None:
        expired = timestamp(utcnow() - timedelta(seconds=refresh_ttl))
        for old in uow.sessions.for_user(user["id"]):
            if old["revoked"] or old["updated_at"] < expired:
                uow.sessions.delete(old["id"])
    session = {"id": new_id(), "user_id": user["id"], "refresh_id": new_id(), "revoked": False}
    uow.sessions.add(session)
    return session


def forget_dead_sessions(uow, refresh_ttl, limit=500):
    """Forget up to `limit` sessions that can no longer be used: revoked ones, and those whose last
    refresh token has expired (a session's updated_at moves with every refresh); how many."""
    expired = timestamp(utcnow() - timedelta(seconds=refresh_ttl))
    dead, _ = uow.sessions.list(Query(filters={"revoked": True}, limit=limit))
    stale, _ = uow.sessions.list(Query(until=expired, limit=limit, sort=[("updated_at", False)]))
    gone = {s["id"] for s in dead} | {s["id"] for s in stale if s["updated_at"] < expired}
    for session_id in gone:
        uow.sessions.delete(session_id)
    return len(gone)


def active_session(uow, session_id, user_id):
    """The session and user behind a token, or Unauthorized when revoked or inactive."""
    session = uow.sessions.get(session_id)
    if session is None or session["revoked"] or session["user_id"] != user_id:
        raise Unauthorized("This token has been revoked; sign in again.")
    user = uow.users.get(user_id)
    if user is None or not user["active"]:
        raise Unauthorized("This account is not active.")
    return session, user


def rotate_refresh(uow, session_id, refresh_id, user_id):
    """(session, user) with a new refresh id; (None, None) when this refresh token was already
    used: then someone holds a copy of it, so its session is revoked in this unit of work (RFC
    9700, 4.14.2) and the caller commits that and refuses the request."""
    session, user = active_session(uow, session_id, user_id)
    if session["refresh_id"] != refresh_id:
        session["revoked"] = True
        uow.sessions.update(session)
        return None, None
    session["refresh_id"] = new_id()
    uow.sessions.update(session)
    return session, user


def end_session(uow, session_id):
    session = uow.sessions.get(session_id)
    if session is not None and not session["revoked"]:
        session["revoked"] = True
        uow.sessions.update(session)


def revoke_sessions(uow, user_id, keep=None):
    for session in uow.sessions.for_user(user_id):
        if session["id"] != keep and not session["revoked"]:
            session["revoked"] = True
            uow.sessions.update(session)


def change_password(uow, user_id, session_id, current_password, new_password):
    """New password; every other session of this user stops working, this one stays."""
    user = get_user(uow, user_id)
    if not check_password_hash(user["password_hash"], current_password or ""):
        raise ValidationFailed("The current password is wrong.",
                               errors={"current_password": ["Does not match."]})
    check_password_rules(new_password, "new_password")
    user["password_hash"] = hash_password(new_password)
    uow.users.update(user)
    revoke_sessions(uow, user_id, keep=session_id)
    void_reset_tokens(uow, user_id)
    return user


def void_reset_tokens(uow, user_id):
    """Every open password reset token of the user stops working (a newer one, a password change)."""
    for record in uow.reset_tokens.for_user(user_id):
        if not record["voided"] and record["used_at"] is None:
            record["voided"] = True
            uow.reset_tokens.update(record)
