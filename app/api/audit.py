"""The audit log: every request's commit writes its entry in that same commit; every 403 one of its own; admins read it newest first, or as CSV."""
import logging
import re

from flask import Blueprint, current_app, g, has_request_context, request

from ..auth import requires
from ..request_ids import current_request_id
from ..services import audit
from ..storage.base import StoreError
from .csv_out import csv_response, wants_csv
from .query_params import list_query, text
from .responses import json_response, page_response
from .store import reader, unit_of_work

bp = Blueprint("audit", __name__, url_prefix="/api/audit-log")
log = logging.getLogger("backroom.audit")

CSV_COLUMNS = ("id", "at", "actor_user_id", "actor_username", "actor_role", "actor_storefront_key_id",
               "action", "resource_type", "resource_id", "method", "path", "status", "ip", "request_id",
               "changes", "details")
CSV_PLAIN = frozenset(("at", "status"))


def _actions(raw):
    return [part.strip() for part in raw.split(",") if part.strip()]


def _query():
    query = list_query(filters={"actor_id": text, "action": _actions, "resource_type": text,
                                "resource_id": text, "request_id": text},
                       sort_fields=("at",), default_sort=(("at", True),), dated=True)
    # entries are kept in the order they were written: by `at` is by id
    query.sort = [("id", desc) for _, desc in query.sort[:1]]
    if query.filters.get("action") == []:
        query.filters.pop("action")
    return query


@bp.get("")
@requires("audit.read")
def list_entries():
    """The audit log, newest first (sort=at: oldest first): filters actor_id, action (comma-separated), resource_type, resource_id, request_id, since, until; format=csv."""
    query = _query()
    if wants_csv():
        return csv_response("audit-log", CSV_COLUMNS,
                            lambda uow: (audit.csv_row(e) for e in uow.audit.iterate(query)), CSV_PLAIN)
    with reader() as uow:
        items, total = audit.list_entries(uow, query)
    return page_response([audit.view(e) for e in items], total, query)


@bp.get("/<entry_id>")
@requires("audit.read")
def get_entry(entry_id):
    """One audit entry (entries never change)."""
    with reader() as uow:
        found = audit.get_entry(uow, entry_id)
    return json_response(audit.view(found))


# ---- writing: the request's side --------------------------------------------------------------

def describe(action, resource_type=None, resource_id=None, changes=audit.AUTO, details=None,
             actor=audit.AUTO, status=None, record_id=None):
    """A route says what its request's entry is (see services.audit.describe); it goes with the
    request's next commit."""
    if isinstance(actor, dict) and "username" in actor and "user_id" not in actor:
        actor = audit.actor_of(actor)
    g.setdefault("audit_notes", []).append(
        {"action": action, "resource_type": resource_type, "resource_id": resource_id,
         "changes": changes, "details": details, "actor": actor, "status": status,
         "record_id": record_id if record_id is not None else resource_id})


def current_actor():
    """The signed-in user as they are now, else the storefront key (section 11), else None."""
    return audit.actor_of(g.get("user"), g.get("storefront_key_id"))


def request_facts(status=None):
    """What an entry says of this request: method, path, status, ip, request_id (and, for
    deriving its name, the route and its arguments, and the actor as it is now)."""
    facts = {**prepare(), "actor": current_actor()}
    if status:
        facts["status"] = status
    return facts


def prepare():
    """The facts of this request that never change while it runs (all but the actor), made once:
    a unit of work asks for them before it takes the store's lock (see api.store.unit_of_work),
    so the entry written under the lock does not have to."""
    found = g.get("audit_request")
    if found is None:
        rule = request.url_rule.rule if request.url_rule is not None else None
        found = g.audit_request = {
            "method": request.method, "path": request.path, "rule": rule, "view_args": request.view_args,
            "status": success_status(request.method, rule), "ip": request.remote_addr,
            "request_id": current_request_id()}
    return found


def success_status(method, rule):
    """The one success status openapi.yaml gives this operation (each has one), else 201 for a
    POST on a collection and 200 otherwise."""
    known = current_app.extensions.get("backroom.audit.statuses")
    if known is None:
        known = current_app.extensions["backroom.audit.statuses"] = {"spec": _spec_statuses()}
    found = known.get((method, rule))
    if found is None:
        found = known["spec"].get((method, re.sub(r"<[^>]+>", "{}", rule or "")))
        if found is None:
            found = 201 if method == "POST" and rule and "<" not in rule else 200
        known[(method, rule)] = found
    return found


def _spec_statuses():
    spec = current_app.extensions.get("backroom.spec") or {}
    out = {}
    for path, item in (spec.get("paths") or {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            codes = sorted(int(c) for c in (operation.get("responses") or {}) if str(c)[:1] == "2"
                           and str(c).isdigit())
            if codes:
                out[(method.upper(), re.sub(r"\{[^}]+\}", "{}", path))] = codes[0]
    return out


def _on_commit(uow):
    """The store calls this just before a writing unit of work commits: a request's entries
    are appended to that same commit (one record more in the same journal line or
    transaction: no extra fsync, nothing read from the log)."""
    if not has_request_context():
        return
    notes = uow.audit_notes
    pending = g.pop("audit_notes", None)
    if pending:
        notes = pending + notes
    if not notes and request.method not in audit.WRITES:
        return
    uow.audit_notes = []
    try:
        entries = audit.request_entries(request_facts(), uow.changed_records(), notes)
    except Exception:  # noqa: BLE001 - a record the rules cannot read must not undo the change itself
        log.exception("could not derive the audit entry of %s %s", request.method, request.path)
        return
    if entries:
        log_of = uow.audit
        for found in entries:
            log_of.append(found)


def _record_refusal(response):
    """Every 403 writes auth.forbidden (no resource; method and path say what was refused)."""
    if response.status_code != 403:
        return response
    g.pop("audit_notes", None)
    facts = request_facts(403)
    found = audit.entry("auth.forbidden", actor=facts["actor"], request=facts)
    try:
        with unit_of_work() as uow:
            uow.audit.append(found)
            uow.commit()
    except StoreError:  # the refusal stands; only its record is lost
        log.warning("could not record a refusal in the audit log", exc_info=True)
    return response


def init_app(app):
    app.extensions["backroom.store"].on_commit = _on_commit
    app.after_request(_record_refusal)
