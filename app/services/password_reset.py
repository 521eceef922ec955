"""Password reset by mail: asked for without a trace in the answer, done by the background process, confirmed with a single-use token."""
import base64
import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from ..storage.base import Query, new_id, timestamp
from . import audit, invites, mail, throttle
from . import users as user_service
from .errors import InvalidToken

ANSWER = {"detail": "If the account exists and has an email address, a message is on its way."}
REQUESTS_PER_HOUR = 5  # acted upon per account; the rest send nothing
INVALID_TOKEN = "This reset token is not valid; ask for a new one."


def new_token():
    """43 URL-safe characters: 32 random bytes, base64url without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def token_hash(token):
    return hashlib.sha256(str(token).encode()).hexdigest()


def ask(uow, data, request=None):
    """The request itself only queues the work: the answer and its time are the same whatever
    the account (the background process looks the account up). request: what the audit entry
    of a request acted upon says of it (method, path, status, ip, request_id)."""
    payload = {k: data[k] for k in ("email", "username") if k in data}
    if request is not None:
        payload["request"] = request
    uow.jobs.enqueue("password_reset.request", payload)
    return ANSWER


def _accounts(uow, payload):
    if "username" in payload:
        user = uow.users.find_by_username(payload["username"])
        return [user] if user else []
    wanted = payload["email"].strip().lower()
    found, _ = uow.users.list(Query(filters={"active": True}, limit=1_000_000))
    return [u for u in found if (u.get("email") or "").lower() == wanted]


def act_on_request(uow, payload, shop_name, ttl_seconds):
    """For each active account matched that has an email (at most 5 requests an hour each): a new
    token (voiding the older ones) and its message. How many messages were queued."""
    queued = 0
    for user in _accounts(uow, payload):
        if not user["active"] or not user.get("email"):
            continue
        if throttle.hit(uow, "password reset", user["id"], 3600.0) > REQUESTS_PER_HOUR:
            continue
        user_service.void_reset_tokens(uow, user["id"])
        token = new_token()
        expires = datetime.now(timezone.utc) + timedelta(seconds=ttl_seconds)
        uow.reset_tokens.add({"id": new_id(), "user_id": user["id"], "token_hash": token_hash(token),
                              "expires_at": timestamp(expires), "used_at": None, "voided": False})
        minutes = max(1, ttl_seconds // 60)
        text = (f"Someone asked to reset the password of {user['username']} at {shop_name}.\n\n"
                f"Your reset token (it works once, for {minutes} minutes):\n\n{token}\n\n"
                "Send it with your new password to POST /api/auth/password-reset/confirm. "
                "If you did not ask, ignore this message: your password stays as it is.\n")
        mail.queue_message(uow, "password_reset", user["email"], f"Reset your password at {shop_name}", text)
        # acted upon: the audit entry of the request, written now, in this unit of work
        uow.audit.append(audit.entry("auth.password_reset_request", "user", user["id"],
                                     request=payload.get("request")))
        queued += 1
    return queued


def _usable(uow, token):
    record = uow.reset_tokens.find_by_token_hash(token_hash(token)) if isinstance(token, str) else None
    user = uow.users.get(record["user_id"]) if record else None
    if (record is None or record["voided"] or record["used_at"] is not None
            or record["expires_at"] <= timestamp() or user is None or not user["active"]):
        return None, None
    return record, user


def screen_token(uow, token, address):
    """Like invites.screen_code: 429 while throttled; False (the refusal counted) for a bad token."""
    invites.check_not_throttled(uow, address)
    if _usable(uow, token)[0] is not None:
        return True
    invites.note_refusal(uow, address)
    return False


def confirm(uow, token, new_password):
    """The password set and every session revoked, the token used; InvalidToken for any bad token
    (judged first); a short password leaves the token usable."""
    record, user = _usable(uow, token)
    if record is None:
        raise InvalidToken(INVALID_TOKEN)
    user_service.check_password_rules(new_password, "new_password")
    user["password_hash"] = user_service.hash_password(new_password)
    uow.users.update(user)
    user_service.revoke_sessions(uow, user["id"])
    record["used_at"] = timestamp()
    uow.reset_tokens.update(record)
    user_service.void_reset_tokens(uow, user["id"])
    audit.describe(uow, "auth.password_reset", "user", user["id"], actor=user)
    return user

