"""The assistant over HTTP: replies from the shelves, conversations and their owners, the limit,
and the optional model, played by a small OpenAI-compatible server this test starts on 127.0.0.1."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.factories import assert_problem, create_product

ROLES = ("admin", "manager", "clerk", "editor", "viewer")


def _ask(client, message, headers=None, conversation_id=None, expect=200, **environ):
    body = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    resp = client.post("/api/assistant/messages", json=body, headers=headers or {}, **environ)
    assert resp.status_code == expect, resp.get_data(as_text=True)
    return resp.get_json()


@pytest.fixture
def shelves(client, auth):
    h = auth["manager"]
    crime = client.post("/api/categories", json={"name": "Crime fiction"}, headers=h).get_json()
    return {
        "quiet": create_product(client, h, title="The Quiet Shore", author="Ann Lee", kind="book",
                                price="8.50", cost="3.10", stock=2, category_id=crime["id"]),
        "loud": create_product(client, h, title="Loud Harbour", author="Ann Lee", kind="book",
                               price="12.00", cost="5.00", stock=0),
        "draft": create_product(client, h, title="Ann Lee's Secret", author="Ann Lee", kind="book",
                                price="1.00", status="draft"),
    }


# ---- the built-in engine -------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES + ("anonymous",))
def test_everyone_may_ask_and_the_reply_names_the_public_products(client, auth, shelves, role):
    body = _ask(client, "Any books by Ann Lee under 10 euros?", auth.get(role))
    assert body["reply"] == "By Ann Lee we have The Quiet Shore (8.50 EUR, in stock)."
    assert body["engine"] == "builtin" and body["conversation_id"] and body["created_at"]
    assert [p["id"] for p in body["products"]] == [shelves["quiet"]["id"]]
    assert "cost" not in body["products"][0] and "review" not in body["products"][0]


def test_out_of_stock_drafts_and_nothing_found(client, shelves):
    body = _ask(client, "Any books by Ann Lee?")
    assert body["reply"] == ("By Ann Lee we have Loud Harbour (12.00 EUR, out of stock) and "
                             "The Quiet Shore (8.50 EUR, in stock).")
    assert "Secret" not in json.dumps(body)
    nothing = _ask(client, "Do you have Moby Dick?")
    assert nothing["products"] == [] and nothing["reply"] == "I couldn't find anything like that."


def test_a_message_is_1_to_500_characters_after_trimming(client):
    for message in ("   ", "x" * 501):
        assert "message" in assert_problem(client.post("/api/assistant/messages", json={"message": message}),
                                           400, "validation_error")["errors"]


def test_anonymous_callers_ask_only_while_the_catalog_is_public(make_app):
    closed = make_app(PUBLIC_CATALOG=False).test_client()
    assert_problem(closed.post("/api/assistant/messages", json={"message": "hi"}), 401)


# ---- conversations and their owners ----------------------------------------------------------------

def test_a_conversation_keeps_both_sides_and_its_owner_continues_it(client, auth, users, shelves):
    first = _ask(client, "Do you have Loud Harbour?", auth["clerk"])
    second = _ask(client, "And The Quiet Shore?", auth["clerk"], first["conversation_id"])
    assert second["conversation_id"] == first["conversation_id"]
    resp = client.get(f"/api/assistant/conversations/{first['conversation_id']}", headers=auth["clerk"])
    conversation = resp.get_json()
    assert resp.headers["ETag"] == f'"{conversation["version"]}"'
    assert conversation["user_id"] == users["clerk"]["id"]
    assert [(m["role"], m["content"]) for m in conversation["messages"]] == [
        ("user", "Do you have Loud Harbour?"), ("assistant", first["reply"]),
        ("user", "And The Quiet Shore?"), ("assistant", second["reply"])]
    assert conversation["messages"][0]["products"] == []
    assert conversation["messages"][1]["products"] == first["products"]


def test_only_the_owner_continues_and_only_admins_read_others(client, auth, shelves):
    mine = _ask(client, "books", auth["clerk"])["conversation_id"]
    url = f"/api/assistant/conversations/{mine}"
    for outsider in ("manager", "viewer", "editor"):
        assert_problem(client.get(url, headers=auth[outsider]), 404)
        assert_problem(client.post("/api/assistant/messages", json={"message": "x", "conversation_id": mine},
                                   headers=auth[outsider]), 404)
    assert_problem(client.get(url), 404)
    assert client.get(url, headers=auth["admin"]).status_code == 200
    assert_problem(client.post("/api/assistant/messages", json={"message": "x", "conversation_id": mine},
                               headers=auth["admin"]), 404)  # reading is not continuing
    assert_problem(client.get("/api/assistant/conversations/nope", headers=auth["admin"]), 404)


def test_an_anonymous_conversation_is_any_anonymous_callers_with_its_id(client, auth, shelves):
    started = _ask(client, "books")
    assert started["conversation_id"]
    again = _ask(client, "cheapest", conversation_id=started["conversation_id"])
    assert again["conversation_id"] == started["conversation_id"]
    url = f"/api/assistant/conversations/{started['conversation_id']}"
    assert client.get(url).get_json()["user_id"] is None
    assert_problem(client.get(url, headers=auth["clerk"]), 404)


def test_lists_are_newest_first_admins_see_all_others_their_own(client, auth, users, shelves):
    clerk_one = _ask(client, "Loud Harbour", auth["clerk"])["conversation_id"]
    viewer_one = _ask(client, "Quiet", auth["viewer"])["conversation_id"]
    clerk_two = _ask(client, "cheapest", auth["clerk"])["conversation_id"]
    anonymous = _ask(client, "books")["conversation_id"]
    ids = lambda role, **q: [c["id"] for c in client.get("/api/assistant/conversations", query_string=q,
                                                         headers=auth[role]).get_json()["items"]]
    assert ids("admin") == [anonymous, clerk_two, viewer_one, clerk_one]
    assert ids("admin", user_id=users["clerk"]["id"]) == [clerk_two, clerk_one]
    assert ids("clerk") == [clerk_two, clerk_one]
    assert ids("clerk", user_id=users["viewer"]["id"]) == []
    assert ids("admin", q="loud harbour") == [anonymous, clerk_one]  # "books" listed it too
    assert ids("viewer", since="2000-01-01", until="2999-12-31") == [viewer_one]
    assert_problem(client.get("/api/assistant/conversations"), 401)


# ---- the per-minute limit ---------------------------------------------------------------------------

def test_the_limit_is_per_user_and_per_address_and_the_next_is_429_storing_nothing(make_app, auth):
    client = make_app(ASSISTANT_PER_MINUTE=2).test_client()
    for _ in range(2):
        _ask(client, "books", auth["clerk"])
    refused = client.post("/api/assistant/messages", json={"message": "books"}, headers=auth["clerk"])
    assert_problem(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    listed = client.get("/api/assistant/conversations", headers=auth["clerk"]).get_json()
    assert listed["total"] == 2
    _ask(client, "books", auth["viewer"])  # another user has a minute of its own
    here = {"environ_base": {"REMOTE_ADDR": "10.0.0.7"}}
    _ask(client, "books", **here)
    _ask(client, "   ", expect=400, **here)  # answered with 400, and counted
    assert_problem(client.post("/api/assistant/messages", json={"message": "books"}, **here), 429)
    _ask(client, "books", environ_base={"REMOTE_ADDR": "10.0.0.8"})


# ---- the language model -------------------------------------------------------------------------------

class FakeModel:
    """An OpenAI-compatible /chat/completions on 127.0.0.1 that remembers what it was sent."""

    def __init__(self):
        self.received, self.mode, self.reply = [], "ok", "  The Quiet Shore is in, at 8.50 EUR.  "
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                fake.received.append({"path": self.path, "headers": dict(self.headers),
                                      "body": json.loads(self.rfile.read(length))})
                if fake.mode == "stall":
                    time.sleep(1.5)
                status, answer = {
                    "ok": (200, {"choices": [{"message": {"role": "assistant", "content": fake.reply}}]}),
                    "stall": (200, {"choices": [{"message": {"content": "too late"}}]}),
                    "error": (500, {"error": "boom"}),
                    "empty": (200, {"choices": []}),
                    "blank": (200, {"choices": [{"message": {"content": "   "}}]}),
                }.get(fake.mode, (200, None))
                data = b"not json" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def model():
    fake = FakeModel()
    yield fake
    fake.close()


@pytest.fixture
def with_model(make_app, model):
    return make_app(ASSISTANT_LLM_URL=model.url, ASSISTANT_LLM_MODEL="tiny-shop", ASSISTANT_LLM_KEY="sk-secret",
                    ASSISTANT_LLM_TIMEOUT=0.5).test_client()


def test_the_model_words_the_reply_from_the_retrieved_active_products_only(with_model, model, shelves, auth):
    first = _ask(with_model, "Any books by Ann Lee?", auth["clerk"])
    assert first["engine"] == "llm" and first["reply"] == "The Quiet Shore is in, at 8.50 EUR."
    assert [p["id"] for p in first["products"]] == [shelves["loud"]["id"], shelves["quiet"]["id"]]
    sent = model.received[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == "Bearer sk-secret"
    body = sent["body"]
    assert body["model"] == "tiny-shop" and body["stream"] is False
    assert body["messages"][0]["role"] == "system" and body["messages"][-1] == {
        "role": "user", "content": "Any books by Ann Lee?"}
    system = body["messages"][0]["content"]
    listed = json.loads(system[system.index("["):])
    assert listed == first["products"]
    assert "cost" not in system and "3.10" not in system and "Secret" not in json.dumps(body)
    second = _ask(with_model, "And the cheapest?", auth["clerk"], first["conversation_id"])
    history = model.received[-1]["body"]["messages"][1:-1]
    assert history == [{"role": "user", "content": "Any books by Ann Lee?"},
                       {"role": "assistant", "content": first["reply"]}]
    assert second["engine"] == "llm"
    assert "sk-secret" not in json.dumps(second)


@pytest.mark.parametrize("mode", ["stall", "error", "empty", "blank", "garbage"])
def test_any_failure_of_the_model_gives_the_built_in_reply_with_200(with_model, model, shelves, mode):
    model.mode = mode
    started = time.monotonic()
    body = _ask(with_model, "Any books by Ann Lee under 10 euros?")
    assert body["engine"] == "builtin"
    assert body["reply"] == "By Ann Lee we have The Quiet Shore (8.50 EUR, in stock)."
    assert time.monotonic() - started < 1.4  # the timeout (0.5 s) cut the stall short


def test_a_model_that_cannot_be_reached_gives_the_built_in_reply(make_app, shelves):
    client = make_app(ASSISTANT_LLM_URL="http://127.0.0.1:9/v1", ASSISTANT_LLM_TIMEOUT=0.5).test_client()
    assert _ask(client, "Loud Harbour")["engine"] == "builtin"


def test_a_long_model_reply_is_cut_to_4000_characters(with_model, model, shelves):
    model.reply = "x" * 5000
    assert len(_ask(with_model, "books")["reply"]) == 4000


def test_the_limit_is_shared_by_workers_on_one_store(make_app, auth):
    """Two apps on one store are two workers: the minute is counted once for both."""
    first = make_app(ASSISTANT_PER_MINUTE=3).test_client()
    second = make_app(ASSISTANT_PER_MINUTE=3).test_client()
    for client in (first, second, first):
        _ask(client, "books", auth["viewer"])
    assert_problem(second.post("/api/assistant/messages", json={"message": "books"}, headers=auth["viewer"]),
                   429, "rate_limited")


def test_a_limit_of_0_is_no_limit(make_app, auth):
    client = make_app(ASSISTANT_PER_MINUTE=0).test_client()
    for _ in range(25):
        _ask(client, "books")
