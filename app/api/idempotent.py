"""Creates that a repeated Idempotency-Key replays instead of doing twice."""
from flask import g, request

from ..services import idempotency
from .responses import as_sent, json_response
from .store import unit_of_work


def idempotent_create(endpoint, body, run, owner=None):
    """Run `run(uow) -> (status, payload, headers)` in one unit of work; with an Idempotency-Key,
    the same key and body replays the first success, stored in that same unit of work. Keys
    belong to the signed-in user, or to `owner` (a storefront key: section 11)."""
    key = request.headers.get("Idempotency-Key")
    user_id = owner or g.user["id"]
    if key is not None:
        idempotency.check_key(key)
    with unit_of_work() as uow:
        remembered = None
        if key is not None:
            remembered = idempotency.recall(uow, user_id, endpoint, key, body)
        if remembered is not None:  # a replay changes nothing, so nothing is committed
            status, payload, headers = remembered
            headers = {**headers, "Idempotent-Replayed": "true"}
        else:
            status, payload, headers = run(uow)
            if key is not None:
                payload = as_sent(payload)  # stored exactly as sent
                idempotency.remember(uow, user_id, endpoint, key, body, status, payload, headers)
            uow.commit()
    if "version" in payload:
        headers = {**headers, "ETag": f'"{payload["version"]}"'}
    return json_response(payload, status, headers)
