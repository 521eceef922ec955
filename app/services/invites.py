"""Invites: a single-use code (shown once, kept as a hash) that lets a new member of staff make their own account."""
import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from schemas.users import user_out

from ..storage.base import Query, new_id, timestamp
from . import audit, mail, throttle
from . import users as user_service
from .errors import InvalidInvite, InvalidTransition, NotFound, ValidationFailed

# Crockford's base32 without I, L, O, U: 16 characters are 80 random bits
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
DEFAULT_HOURS, MAX_HOURS = 72, 720
REFUSALS_PER_MINUTE = 10  # invalid_invite / invalid_token answers to one address
WINDOW = 60.0
FIELDS = ("id", "role", "email", "note", "status", "expires_at", "used_at", "used_by", "revoked_at",
          "created_by", "created_at", "updated_at", "version")


def new_code():
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise(code):
    """A code as typed: case, spaces and hyphens do not matter (and Crockford's look-alikes:
    O is 0, I and L are 1)."""
    if not isinstance(code, str):
        return ""
    text = code.upper().replace(" ", "").replace("-", "")
    return text.translate(str.maketrans("OIL", "011"))


def code_hash(code):
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def status_of(invite, now=None):
    """pending, used, revoked, or expired once expires_at has passed."""
    if invite["status"] == "pending" and invite["expires_at"] <= timestamp(now):
        return "expired"
    return invite["status"]


def view(invite, now=None):
    """An invite as answered: its status as of now, never its code or hash."""
    out = {k: invite.get(k) for k in FIELDS}
    out["status"] = status_of(invite, now)
    return out


def _expiry(data, now):
    if "expires_in_hours" in data and "expires_at" in data:
        raise ValidationFailed("Send expires_in_hours or expires_at, not both.",
                               errors={"expires_at": ["Leave out expires_in_hours, or this."]})
    if "expires_at" in data:
        moment = data["expires_at"]
        if moment <= now or moment > now + timedelta(hours=MAX_HOURS):
            raise ValidationFailed("The expiry is not valid.",
                                   errors={"expires_at": [f"Must be in the future, at most {MAX_HOURS} hours ahead."]})
        return moment
    return now + timedelta(hours=data.get("expires_in_hours", DEFAULT_HOURS))


def create_invite(uow, data, user_id, shop_name):
    """A pending invite and its code (answered once); with an email, its message is queued too."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    expires = _expiry(data, now)
    code = new_code()
    invite = {"id": new_id(), "role": data["role"], "email": data.get("email"), "note": data.get("note"),
              "status": "pending", "expires_at": timestamp(expires), "used_at": None, "used_by": None,
              "revoked_at": None, "created_by": user_id, "code_hash": code_hash(code)}
    uow.invites.add(invite)
    if invite["email"]:
        text = (f"You are invited to join {shop_name} as {invite['role']}.\n\n"
                f"Your invitation code (it works once, until {invite['expires_at']}):\n\n"
                f"{code}\n\n"
                "Use it to create your account: POST /api/auth/accept-invite with the code, "
                "a username and a password.\n")
        mail.queue_message(uow, "invite", invite["email"], f"Your invitation to {shop_name}", text)
    uow.events.add("user.invited", view(invite, now))
    return invite, code


def get_invite(uow, invite_id):
    invite = uow.invites.get(invite_id)
    if invite is None:
        raise NotFound("No invite with this id.")
    return invite


def list_invites(uow, query, status=None):
    """Newest first, with the status as of now (a stored `pending` may read `expired`)."""
    now = datetime.now(timezone.utc)
    filters = dict(query.filters)
    email = filters.pop("email", None)
    wanted = Query(filters=filters, q=query.q, q_fields=query.q_fields, sort=query.sort,
                   limit=1_000_000, offset=0)
    records, _ = uow.invites.list(wanted)
    items = [view(i, now) for i in records
             if email is None or (i.get("email") or "").lower() == email.lower()]
    if status:
        items = [i for i in items if i["status"] == status]
    return items[query.offset:query.offset + query.limit], len(items)


def revoke_invite(uow, invite_id):
    invite = get_invite(uow, invite_id)
    current = status_of(invite)
    if current == "used":
        raise InvalidTransition("This invite has been used; it can no longer be revoked.")
    if current == "pending":
        invite["status"], invite["revoked_at"] = "revoked", timestamp()
        uow.invites.update(invite)
    return invite


def check_not_throttled(uow, address):
    throttle.check(uow, "invalid codes", address, REFUSALS_PER_MINUTE, WINDOW,
                   "Too many invalid codes from this address; wait a minute.")


def note_refusal(uow, address):
    throttle.hit(uow, "invalid codes", address, WINDOW)


def screen_code(uow, code, address):
    """Before anything else is judged: 429 while this address is throttled; False (the refusal
    counted, for the caller to commit) when the code names no pending invite."""
    check_not_throttled(uow, address)
    invite = uow.invites.find_by_code_hash(code_hash(code)) if isinstance(code, str) else None
    if invite is not None and status_of(invite) == "pending":
        return True
    note_refusal(uow, address)
    return False


def accept_invite(uow, data, address, refresh_ttl=None):
    """Code first (one identical refusal for any bad one), then the user's fields; in one unit of
    work: the user, the invite used, a session. (session, user). Raises InvalidInvite."""
    invite = uow.invites.find_by_code_hash(code_hash(data["code"]))
    if invite is None or status_of(invite) != "pending":
        raise InvalidInvite("This invitation code is not valid.")
    user = user_service.create_user(uow, {"username": data["username"], "password": data["password"],
                                          "role": invite["role"],
                                          "email": data.get("email") or invite["email"]},
                                     record_event=False)
    invite.update(status="used", used_at=timestamp(), used_by=user["id"])
    uow.invites.update(invite)
    session = user_service.start_session(uow, user, refresh_ttl=refresh_ttl)
    uow.events.add("user.created", user_out(user))
    audit.describe(uow, "invite.accept", "invite", invite["id"], actor=user)
    return session, user, invite
