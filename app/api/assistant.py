"""The assistant blueprint: ask about the catalog in plain English; read conversations."""
from flask import Blueprint, current_app, g, request

from schemas.assistant import MessageSchema, conversation_out
from schemas.products import product_out
from ..auth import can, catalog_reader, optional_user, requires
from ..services import assistant, rate_limits
from ..services.errors import Unauthorized
from .product_views import product_images
from .query_params import list_query, text
from .request_body import load
from .responses import json_response, record_response
from .store import page_of, read, reader, shop_settings, write

bp = Blueprint("assistant", __name__, url_prefix="/api/assistant")


def _rate_key():
    """Signed-in callers are counted per user; anonymous ones per client address."""
    if g.user is not None:
        return f"user:{g.user['id']}"
    return f"ip:{request.remote_addr or 'unknown'}"


@bp.post("/messages")
@optional_user
def post_message():
    """Ask the assistant; the reply names the active products it found, with price and availability."""
    catalog_reader()  # anonymous callers only while the catalog is public
    cfg = current_app.config
    if cfg["ASSISTANT_PER_MINUTE"] > 0:  # 0 turns the limit off (benchmarks, a private shop)
        write(rate_limits.hit, "assistant", _rate_key(), cfg["ASSISTANT_PER_MINUTE"])
    data = load(MessageSchema)
    message = data["message"].strip()
    with reader() as uow:
        history = []
        if data["conversation_id"] is not None:
            history = assistant.get_conversation(uow, data["conversation_id"], g.user,
                                                 continuing=True)["messages"]
        question, found, reply = assistant.answer(uow, message, cfg["CURRENCY"])
    public = [{**product_out(p, staff=False, with_cost=False), "images": product_images(p)} for p in found]
    engine = "builtin"
    if cfg["ASSISTANT_LLM_URL"]:  # outside any unit of work: the model may take seconds
        worded = assistant.ask_model(cfg["ASSISTANT_LLM_URL"], cfg["ASSISTANT_LLM_MODEL"],
                                     cfg["ASSISTANT_LLM_KEY"], cfg["ASSISTANT_LLM_TIMEOUT"],
                                     history, message, public)
        if worded is not None:
            reply, engine = worded, "llm"
    conversation = write(assistant.record_exchange, data["conversation_id"], g.user, message,
                         reply, public)
    return json_response({"conversation_id": conversation["id"], "reply": reply, "products": public,
                          "engine": engine, "created_at": conversation["messages"][-1]["at"]})


@bp.get("/conversations")
@requires("signed_in")
def list_conversations():
    """Conversations, newest first: an admin's every one, others their own; filters user_id, since, until; q over the messages."""
    query = list_query(filters={"user_id": text}, sort_fields=("created_at", "updated_at"),
                       q_fields=("messages",), default_sort=(("id", True),), dated=True)
    if not can("assistant.read_all"):
        wanted = query.filters.get("user_id", g.user["id"])
        query.filters["user_id"] = g.user["id"] if wanted == g.user["id"] else "\x00nobody"
    return page_of("conversations", query, conversation_out)


@bp.get("/conversations/<conversation_id>")
@optional_user
def get_conversation(conversation_id):
    """One conversation: its owner's, an anonymous one by its id, or any to an admin."""
    if g.user is None and not shop_settings()["public_catalog"]:
        raise Unauthorized("Sign in to read conversations.")
    conversation = read(assistant.get_conversation, conversation_id, g.user,
                        read_all=can("assistant.read_all"))
    return record_response(conversation_out(conversation))
