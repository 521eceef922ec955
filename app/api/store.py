"""The store as a route reaches it: a reader, a unit of work, and one service call in either."""
from flask import current_app, g, has_request_context

from .responses import page_response


def store():
    return current_app.extensions["backroom.store"]


def unit_of_work():
    if has_request_context():
        from .audit import prepare
        prepare()  # what the audit entry says of the request, made before the store's lock is taken
    return store().unit_of_work()


def reader():
    return store().reader()


def write(service, *args, **kwargs):
    """What `service(uow, *args, **kwargs)` returns, committed in one unit of work."""
    with unit_of_work() as uow:
        result = service(uow, *args, **kwargs)
        uow.commit()
    return result


def read(service, *args, **kwargs):
    """What `service(uow, *args, **kwargs)` returns from a reader: nothing is written."""
    with reader() as uow:
        return service(uow, *args, **kwargs)


def page_of(collection, query, dump=None):
    """A page of a stored collection (named as on the unit of work), each item dumped if asked."""
    with reader() as uow:
        items, total = getattr(uow, collection).list(query)
    return page_response(items if dump is None else [dump(item) for item in items], total, query)


def shop_settings(uow=None):
    """The settings in effect for this request (read once per request, fresh from the store, so a
    change made through any worker applies to what follows); from `uow` when the caller has a
    reader open already (one store read for the request instead of two)."""
    cached = g.get("shop_settings")
    if cached is None:
        from ..services import settings
        defaults = current_app.config["SETTINGS_DEFAULTS"]
        cached = g.shop_settings = (settings.effective(uow, defaults) if uow is not None
                                    else read(settings.effective, defaults))
    return cached
