"""The audit log's rules: what entry a change, a sign-in or a refusal writes, its changes with secrets redacted, and reading it back.

An entry is derived from the request (its method, its route, the status its success answers)
and from the records its unit of work wrote, so an area gets entries without audit code of its
own. The route names the resource and the verb:

  POST /api/orders                        order.create     (the order made; changes [null, value])
  PUT|PATCH /api/products/{id}            product.update   (changes [old, new])
  DELETE /api/products/{id}               product.archive  (archive, revoke, erase, deactivate or
                                                            delete: by what the DELETE did)
  PATCH /api/settings                     settings.update  (a record without an id in the path:
                                                            resource_id null)
  POST /api/orders/{id}/pay               order.pay        (an action on the record)
  POST /api/products/{id}/images  (201)   product.image_add     resource: the product,
  PATCH|DELETE .../images/{image_id}      product.image_update / product.image_remove,
                                          details {"image_id"}, changes those of the image
  PATCH /api/vendors/{id}/products/{product_id}
                                          vendor.product_update, details {"product_id"} (a link
                                          named by what it links: changes those of the link)
  POST /api/storefront/orders     (201)   order.create     (a create under a prefix)
  POST /api/notifications/read-all        notification.read_all

A service or route says otherwise with describe() (product.adjust_stock, invite.accept,
auth.*): then its notes are the entries. Collections that only keep the house in order
(sessions, throttles, idempotency keys, queued jobs and mail) are no change of their own."""
import json
import time

from ..storage.base import UNKNOWN, Query, new_id
from .errors import NotFound

REDACTED = "[redacted]"
AUTO = object()  # describe(): work it out from the request and the records written

# writes that are the house keeping its books, not a change anyone asked for: a commit writing
# only these (a token refresh, a refused code counted, a queued job) writes no entry
BOOKKEEPING = frozenset(("sessions", "login_attempts", "idempotency", "counters", "throttles",
                         "rate_limits", "jobs", "outbox",
                         # section 13's: a live stream's one-use ticket (a credential, as a token
                         # refresh is), the webhook sender's own queue
                         "stream_tickets", "webhook_queue"))
# what DELETE is called where section 12 (or the resource's own section) names it
REMOVAL_VERBS = {"product": "archive", "user": "deactivate", "invite": "revoke",
                 "storefront_key": "revoke", "customer": "erase"}
# the stored parts of one change the log never repeats
NEVER = frozenset(("updated_at", "version"))
# a field whose name holds one of these words (as a whole word of its snake_case name) is a secret
SECRET_WORDS = frozenset(("password", "token", "code", "key", "secret", "hash", "passwords", "tokens",
                          "codes", "keys", "secrets"))
WRITES = frozenset(("POST", "PUT", "PATCH", "DELETE"))
# a POST on /<resource>/<id>/<word> that is section 12's "update", not an action of its own
UPDATE_WORDS = frozenset(("barcode", "status"))

_secret_names = {}


def shown_name(field):
    """The name a stored field has in `changes`: password_hash is the password."""
    return field[:-5] if field.endswith("_hash") else field


def is_secret(field):
    """True for a password, token, code, key or secret (password_hash, code_hash, api_key, ...);
    ids never are (storefront_key_id)."""
    known = _secret_names.get(field)
    if known is None:
        words = field.lower().split("_")
        known = words[-1] != "id" and any(w in SECRET_WORDS for w in words)
        _secret_names[field] = known
    return known


def redact(value):
    """value with every secret field of its objects (at any depth) as "[redacted]"."""
    if isinstance(value, dict):
        return {k: (REDACTED if v is not None and is_secret(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _shown(field, value):
    if value is None:
        return None
    return REDACTED if is_secret(field) else redact(value)


def changes_between(before, after):
    """{field: [old, new]}: on a create each non-null field as [null, value], on a removal each
    non-null field as [value, null], else each field that changed; never updated_at or version,
    secrets "[redacted]". None when how it was is not known."""
    if before is UNKNOWN:
        return None
    if before is None and after is None:
        return None
    out = {}
    if before is None or after is None:
        record, made = (after, True) if before is None else (before, False)
        for field, value in record.items():
            if value is None or field in NEVER:
                continue
            shown = _shown(field, value)
            out[shown_name(field)] = [None, shown] if made else [shown, None]
        return out
    for field in (*after, *(f for f in before if f not in after)):
        if field in NEVER:
            continue
        old, new = before.get(field), after.get(field)
        if old != new:
            out[shown_name(field)] = [_shown(field, old), _shown(field, new)]
    return out


def actor_of(user=None, storefront_key_id=None):
    """An entry's actor: the user as it is now, or a storefront key, or None."""
    if user is not None:
        return {"user_id": user["id"], "username": user["username"], "role": user["role"]}
    if storefront_key_id is not None:
        return {"storefront_key_id": storefront_key_id}
    return None


_second = [None, ""]  # (Unix second, its text): most entries share their second with the last


def now_ms():
    """Now, ISO 8601 UTC to the millisecond: "2026-11-21T10:15:00.123Z"."""
    now = time.time()
    second = int(now)
    if _second[0] != second:
        _second[:] = second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
    return f"{_second[1]}{int((now - second) * 1000):03d}Z"


def entry(action, resource_type=None, resource_id=None, changes=None, details=None, actor=None,
          request=None):
    """One entry; `request`: {method, path, status, ip, request_id} of the request it records
    (None outside one)."""
    request = request or {}
    actor_id = None
    if actor:
        actor_id = actor.get("user_id") or actor.get("storefront_key_id")
    return {"id": new_id(), "at": now_ms(), "actor": actor, "actor_id": actor_id, "action": action,
            "resource_type": resource_type, "resource_id": resource_id, "changes": changes,
            "details": redact(details) if details else details,
            "method": request.get("method"), "path": request.get("path"), "status": request.get("status"),
            "ip": request.get("ip"), "request_id": request.get("request_id")}


def describe(uow, action, resource_type=None, resource_id=None, changes=AUTO, details=None,
             actor=AUTO, status=None, record_id=None):
    """Say what this unit of work's audit entry is (call it again for more than one entry).

    changes: AUTO derives them from the record written under record_id (default resource_id);
    actor: AUTO is the request's, or a user record (the one who just signed in), or None;
    status: the answer's, when it is not the route's success status (a failed sign-in's 401)."""
    if isinstance(actor, dict) and "username" in actor and "user_id" not in actor:
        actor = actor_of(actor)
    notes = getattr(uow, "audit_notes", None)
    if notes is None:  # a unit of work without an audit log (a test's stand-in)
        return
    notes.append({"action": action, "resource_type": resource_type, "resource_id": resource_id,
                  "changes": changes, "details": details, "actor": actor, "status": status,
                  "record_id": record_id if record_id is not None else resource_id})


# ---- deriving the entry of a request --------------------------------------------------------------

def singular(word):
    """The resource's singular name from its path word: orders -> order, stock-counts -> stock_count."""
    word = word.replace("-", "_")
    if word in ("settings", "status", "address", "access"):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "shes", "ches")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _verb(word):
    return word.replace("-", "_")


_shapes = {}  # rule -> [(word, the name of the variable after it, or None)]


def _segments(rule, view_args):
    """[(word, id or None)]: each path word after /api and the value of the variable after it."""
    shape = _shapes.get(rule)
    if shape is None:
        shape = []
        for part in rule.strip("/").split("/"):
            if part.startswith("<") and part.endswith(">"):
                name = part[1:-1].split(":")[-1]
                if shape and shape[-1][1] is None:
                    shape[-1] = (shape[-1][0], name)
                else:
                    shape.append((None, name))
            else:
                shape.append((part, None))
        if shape and shape[0] == ("api", None):
            shape = shape[1:]
        _shapes[rule] = shape
    args = view_args or {}
    return [(word, None if name is None else args.get(name)) for word, name in shape]


def _removal(before, after):
    """What a DELETE did to its record: archive, revoke, erase, deactivate or delete."""
    if after is None:
        return "delete"
    before = before if isinstance(before, dict) else {}
    if after.get("status") == "archived" and before.get("status") != "archived":
        return "archive"
    if (after.get("status") == "revoked" and before.get("status") != "revoked") or (
            after.get("revoked_at") and not before.get("revoked_at")):
        return "revoke"
    if (after.get("erased") and not before.get("erased")) or (
            after.get("erased_at") and not before.get("erased_at")):
        return "erase"
    if after.get("active") is False and before.get("active") is not False:
        return "deactivate"
    if after.get("status") == "cancelled" and before.get("status") != "cancelled":
        return "cancel"
    return "delete"


def _matches(collection, word):
    if word is None:
        return False
    word = word.replace("-", "_")
    return collection == word or collection.endswith("_" + word) or singular(collection) == singular(word)


def _made(changed, word):
    """The record a create made: the first new one of the collection its path word names, else
    the first new one at all."""
    made = [c for c in changed if c[2] is None and c[3] is not None]
    for change in made:
        if _matches(change[0], word):
            return change
    return made[0] if made else None


def _of(changed, record_id):
    if record_id is None:
        return None
    for change in changed:
        if change[1] == record_id:
            return change
    return None


def _about(changed, record_id, word, parent_id):
    """The change of the record a path names under its parent: by its id, else (a link named by
    the id of what it links, /vendors/{id}/products/{product_id}) the first of its collection
    or, failing that, the first that is not the parent."""
    found = _of(changed, record_id)
    if found is not None:
        return found
    for change in changed:
        if change[1] != parent_id and _matches(change[0], word):
            return change
    return next((c for c in changed if c[1] != parent_id), None)


def _first_of(changed, word):
    for change in changed:
        if _matches(change[0], word):
            return change
    return changed[0] if changed else None


def name_request(method, rule, view_args, status, changed):
    """(action, resource_type, resource_id, details, the change it is about or None)."""
    changed = [c for c in changed if c[0] not in BOOKKEEPING]
    return _name(method, _segments(rule, view_args), status, changed)


def _name(method, segments, status, changed):
    if not segments:
        return "request." + method.lower(), None, None, None, None
    if segments[0][0] is None:
        segments[0] = ("resource", segments[0][1])
    created = status == 201
    (word, rid), rest = segments[0], segments[1:]
    kind = singular(word)
    if not rest:
        if method == "POST" and rid is None:
            change = _made(changed, word)
            return f"{kind}.create", kind, change[1] if change else None, None, change
        change = _of(changed, rid) if rid is not None else _first_of(changed, word)
        if method == "DELETE":
            verb = REMOVAL_VERBS.get(kind) or (_removal(change[2], change[3]) if change else "delete")
        else:
            verb = "update"
        return f"{kind}.{verb}", kind, rid, None, change
    sub, sub_id = rest[0]
    if rid is None:  # a prefix (/api/storefront/orders) or a word on a collection (/api/notifications/read-all)
        last = next((w for w, _ in reversed(rest) if w is not None), sub)
        if created and last is not None and all(v is None for _, v in rest):
            change = _made(changed, last)
            made_kind = singular(change[0]) if change and not _matches(change[0], last) else singular(last)
            return f"{made_kind}.create", made_kind, change[1] if change else None, None, change
        if sub_id is not None:  # a prefix before a record: name it as the record
            return _name(method, rest, status, changed)
        return f"{kind}.{_verb(sub or 'request')}", kind, None, None, None
    if sub is None:
        return f"{kind}.update", kind, rid, None, _of(changed, rid)
    sub_kind = singular(sub)
    if len(rest) == 1 and sub_id is None:  # /<resource>/<id>/<word>
        if method in ("POST", "PUT") and created:  # something made under the record
            change = _made(changed, sub)
            details = None
            if change:  # the id its path names it by: a link's {product_id}, an image's own id
                named = change[3].get(f"{sub_kind}_id") if isinstance(change[3], dict) else None
                details = {f"{sub_kind}_id": named or change[1]}
            return f"{kind}.{sub_kind}_add", kind, rid, details, change
        if method == "DELETE":
            return f"{kind}.{sub_kind}_remove", kind, rid, None, _of(changed, rid)
        if method == "PATCH":
            return f"{kind}.{sub_kind}_update", kind, rid, None, _of(changed, rid)
        verb = "update" if sub in UPDATE_WORDS else _verb(sub)
        return f"{kind}.{verb}", kind, rid, None, _of(changed, rid)
    details = {f"{sub_kind}_id": sub_id} if sub_id is not None else None
    change = _about(changed, sub_id, sub, rid)
    if len(rest) == 1:  # /<resource>/<id>/<things>/<thing_id>
        verb = "remove" if method == "DELETE" else "update"
        return f"{kind}.{sub_kind}_{verb}", kind, rid, details, change
    last = rest[-1][0] or "update"
    return f"{kind}.{sub_kind}_{_verb(last)}", kind, rid, details, change


def request_entries(request, changed, notes):
    """The entries one commit of a request writes: its notes', else the one its route and its
    changes make (none when it changed nothing but the house's books).

    request: {method, path, rule, view_args, status, ip, request_id, actor}."""
    changed = [c for c in changed if c[0] not in BOOKKEEPING]
    facts = {k: request.get(k) for k in ("method", "path", "status", "ip", "request_id")}
    out = []
    for note in notes:
        changes = note["changes"]
        if changes is AUTO:
            change = _of(changed, note["record_id"])
            changes = changes_between(change[2], change[3]) if change else None
        actor = request.get("actor") if note["actor"] is AUTO else note["actor"]
        own = facts if note["status"] is None else {**facts, "status": note["status"]}
        out.append(entry(note["action"], note["resource_type"], note["resource_id"], changes,
                         note["details"], actor, own))
    if out or not changed or request.get("method") not in WRITES or request.get("rule") is None:
        return out
    action, kind, rid, details, change = name_request(request["method"], request["rule"],
                                                      request.get("view_args"), request.get("status"),
                                                      changed)
    changes = changes_between(change[2], change[3]) if change else None
    if changes and action.endswith(".erase"):  # the right to be forgotten: the log never repeats them
        changes = {field: [REDACTED if old is not None and new in (None, [], "") else old, new]
                   for field, (old, new) in changes.items()}
    return [entry(action, kind, rid, changes, details, request.get("actor"), facts)]


# ---- reading ----------------------------------------------------------------------------------

def view(record):
    """An entry as the API shows it (actor_id is the store's, for its filter)."""
    shown = {k: v for k, v in record.items() if k != "actor_id"}
    return shown


def get_entry(uow, entry_id):
    found = uow.audit.get(entry_id)
    if found is None:
        raise NotFound("No audit entry with this id.")
    return found


def list_entries(uow, query: Query):
    return uow.audit.list(query)


def csv_row(record):
    """An entry as a row of the CSV export (section 12's columns)."""
    actor = record.get("actor") or {}
    return {**record, "actor_user_id": actor.get("user_id"), "actor_username": actor.get("username"),
            "actor_role": actor.get("role"), "actor_storefront_key_id": actor.get("storefront_key_id"),
            "changes": None if record.get("changes") is None else json.dumps(record["changes"], ensure_ascii=False),
            "details": None if record.get("details") is None else json.dumps(record["details"], ensure_ascii=False)}
