"""Each worker's memory of answers it sent, good while nothing has been committed since."""
from flask import Response, current_app


def _responses():
    return current_app.extensions.setdefault("backroom.responses", {})


def cached_response(key, state):
    """A response remembered under key while the store is still in `state`, or None.

    state comes from the unit of work (None: this backend cannot tell, so nothing is cached);
    SHOP_ANSWER_CACHE=0 turns it off."""
    if state is None or not current_app.config.get("ANSWER_CACHE", True):
        return None
    hit = _responses().get(key)
    if hit is None or hit[0] != state:
        return None
    _, status, body, headers = hit
    return Response(body, status=status, headers=headers, mimetype="application/json")


def remember_response(key, state, response):
    if state is not None and response.status_code == 200 and current_app.config.get("ANSWER_CACHE", True):
        responses = _responses()
        if len(responses) > 512:
            responses.clear()
        headers = [(k, v) for k, v in response.headers.items()
                   if k.lower() not in ("content-type", "content-length")]
        responses[key] = (state, response.status_code, response.get_data(), headers)
    return response
