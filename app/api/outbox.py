"""The mail queue (admins): what was sent, what waits, what failed; never a message's text."""
from flask import Blueprint

from ..auth import requires
from ..services import mail
from .query_params import choice, list_query
from .store import page_of

bp = Blueprint("outbox", __name__, url_prefix="/api/outbox")


@bp.get("")
@requires("outbox.read")
def list_outbox():
    """Queued, sent and failed mail, newest first: filters status, kind, since, until; q over to, subject."""
    query = list_query(filters={"status": choice("queued", "sent", "failed"), "kind": choice(*mail.KINDS)},
                       sort_fields=("created_at", "sent_at", "status"), q_fields=("to", "subject"),
                       default_sort=(("id", True),), dated=True)
    return page_of("outbox", query, mail.outbox_view)
