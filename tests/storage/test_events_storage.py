"""Section 13's storage on both backends: what a change records beside its events commits with it
or not at all; the webhook queue's claim; the event and notification filters; followers."""
from datetime import datetime, timedelta, timezone

import pytest

from app.services import events as _events  # noqa: F401 - registers the commit hook
from app.storage.base import Query
from app.storage.jsonfile import JsonFileStore
from app.storage.postgres import PostgresStore
from tests.unit.builders import add_order, add_product, add_user, read, run


@pytest.fixture
def shop(backend, tmp_path, request):
    if backend == "json":
        store = JsonFileStore(str(tmp_path / "data"))
    else:
        pg_shop = request.getfixturevalue("pg_shop")
        pg_shop.wipe()
        store = PostgresStore(pg_shop.url, pg_shop.schema)
    from app.services.locations import ensure_default_location
    run(store, ensure_default_location)  # what the app's start-up does
    yield store
    store.close()


def _hook(shop, events=("*",), active=True):
    from app.services import webhooks
    return run(shop, lambda uow: webhooks.create_webhook(
        uow, {"url": "http://127.0.0.1/h", "events": list(events), "active": active}, allow_private=True))


def test_notifications_and_deliveries_commit_with_their_event_or_not_at_all(shop):
    manager = add_user(shop, "manager")
    hook = _hook(shop, ["stock.low"])
    product = add_product(shop, stock=3, low_stock_threshold=2)

    def fails(uow):
        from app.services import orders
        orders.place_order(uow, {"items": [{"product_id": product["id"], "quantity": 1}]}, "u", "EUR")
        raise RuntimeError("the change is abandoned")
    with pytest.raises(RuntimeError):
        run(shop, fails)
    assert read(shop, lambda uow: (uow.notifications.count(), uow.webhook_deliveries.count(),
                                   uow.webhook_queue.count())) == (0, 0, 0)
    add_order(shop, [(product, 1)])
    low = read(shop, lambda uow: uow.events.list(Query(filters={"type": "stock.low"}, limit=5))[0])
    assert len(low) == 1
    notes = read(shop, lambda uow: uow.notifications.for_event(low[0]["id"]))
    assert [n["user_id"] for n in notes] == [manager["id"]]
    deliveries = read(shop, lambda uow: uow.webhook_deliveries.for_webhook(hook["id"]))
    assert [(d["event_id"], d["status"]) for d in deliveries] == [(low[0]["id"], "pending")]
    assert read(shop, lambda uow: uow.webhook_queue.get(deliveries[0]["id"]))["webhook_id"] == hook["id"]


def test_events_follow_in_commit_order_and_hidden_prefixes_filter(shop):
    user = add_user(shop, "clerk")
    add_product(shop)
    first = shop.events_after(None, 100)
    assert [e["type"] for e in first][-2:] == ["user.created", "product.created"]
    assert shop.events_after(first[-1]["id"], 10) == []
    assert shop.events_after("evt_unknown", 10) is None
    page, total = read(shop, lambda uow: uow.events.list(Query(filters={"hidden_prefixes": ("user",)}, limit=50)))
    assert total == len(page) and all(e["type"] != "user.created" for e in page) and page
    page, _ = read(shop, lambda uow: uow.events.list(Query(filters={"type": ["user.created"]}, limit=50)))
    assert [e["data"]["id"] for e in page] == [user["id"]]


def test_notifications_are_a_log_and_their_read_state_is_kept_apart(shop):
    """Read on its own (the first read_at kept) or by read-all's marker; the inbox counts, the
    unread filter with and without another filter, and a newer notification after read-all."""
    from app.services import notifications

    def add(uow, n, user_id="u1"):
        return uow.notifications.append({
            "id": f"ntf_{n}", "user_id": user_id, "type": "stock.low" if n % 2 else "stock.out",
            "event_id": "evt_x", "title": f"t{n}", "message": "m", "resource_type": "product",
            "resource_id": "p"})

    def made(uow, ids, user_id="u1"):
        for n in ids:
            add(uow, n, user_id)
        box = notifications.inbox(uow, user_id)
        box.update(total=box["total"] + len(ids), unread=box["unread"] + len(ids), newest=f"ntf_{ids[-1]}")
        notifications._save_inbox(uow, box)
    run(shop, lambda uow: made(uow, [1, 2, 3]))
    run(shop, lambda uow: made(uow, [4], "u2"))
    first = run(shop, lambda uow: notifications.mark_read(uow, "u1", "ntf_2"))
    again = run(shop, lambda uow: notifications.mark_read(uow, "u1", "ntf_2"))
    assert first["read_at"] and again["read_at"] == first["read_at"] and again["version"] == 2

    def listed(user_id, **filters):
        items, total = read(shop, lambda uow: notifications.list_notifications(
            uow, user_id, Query(filters=dict(filters), limit=50)))
        return [i["id"] for i in items], total
    assert listed("u1", unread=True) == (["ntf_3", "ntf_1"], 2)
    assert listed("u1", unread=False) == (["ntf_2"], 1)
    assert listed("u1", unread=True, type="stock.low") == (["ntf_3", "ntf_1"], 2)
    assert listed("u1") == (["ntf_3", "ntf_2", "ntf_1"], 3)
    assert run(shop, lambda uow: notifications.read_all(uow, "u1")) == 2
    run(shop, lambda uow: made(uow, [5]))
    assert listed("u1", unread=True) == (["ntf_5"], 1)
    assert listed("u1", unread=False, type="stock.low") == (["ntf_3", "ntf_1"], 2)
    assert read(shop, lambda uow: notifications.unread_count(uow, "u1")) == 1
    assert read(shop, lambda uow: notifications.unread_count(uow, "u2")) == 1
    got = read(shop, lambda uow: notifications.get_notification(uow, "u1", "ntf_2"))
    assert got["read_at"] == first["read_at"]  # read-all kept the first read_at
    assert read(shop, lambda uow: notifications.get_notification(uow, "u1", "ntf_3"))["read_at"]
    assert read(shop, lambda uow: notifications.get_notification(uow, "u1", "ntf_5"))["read_at"] is None
    assert read(shop, lambda uow: uow.notifications.count()) == 5
    if shop.name == "json":  # a log: in its files, not in any process's records
        assert "notifications" not in shop.tables.records


def test_the_queue_is_claimed_once_per_lease_soonest_first(shop):
    now = datetime.now(timezone.utc)

    def add(uow):
        for n in range(5):
            uow.webhook_queue.add({"id": f"whd_{n}", "webhook_id": "wh", "claimed_by": None, "claimed_until": None,
                                   "due_at": (now - timedelta(seconds=10 - n)).strftime("%Y-%m-%dT%H:%M:%SZ")})
        uow.webhook_queue.add({"id": "whd_later", "webhook_id": "wh", "claimed_by": None, "claimed_until": None,
                               "due_at": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    run(shop, add)
    first = run(shop, lambda uow: uow.webhook_queue.claim("a:1", 30, limit=3, now=now))
    second = run(shop, lambda uow: uow.webhook_queue.claim("b:2", 30, limit=10, now=now))
    assert [e["id"] for e in first] == ["whd_0", "whd_1", "whd_2"]
    assert [e["id"] for e in second] == ["whd_3", "whd_4"]
    assert run(shop, lambda uow: uow.webhook_queue.claim("c:3", 30, now=now)) == []
    expired = run(shop, lambda uow: uow.webhook_queue.claim("c:3", 30, now=now + timedelta(seconds=31)))
    assert [e["id"] for e in expired] == ["whd_0", "whd_1", "whd_2", "whd_3", "whd_4"]
    assert all(e["claimed_by"] == "c:3" for e in expired)


def test_done_deliveries_leave_memory_and_still_read_as_records(shop):
    """Delivered and failed deliveries retire into their log (the JSON store holds only the
    pending ones); get, the list newest first by id (with its total) and for_webhook answer as
    before, with each one's newest version; a retry brings one back, and it retires again."""
    from app.services import webhooks
    hook = _hook(shop, ["stock.low"])
    made = [run(shop, lambda uow: webhooks.ping(uow, hook["id"])) for _ in range(4)]
    ids = [d["id"] for d in made]

    def attempt(delivery_id, ok):
        def go(uow):
            [entry] = [e for e in uow.webhook_queue.claim("s:1", 60, limit=50) if e["id"] == delivery_id] or [None]
            if entry is None:  # claimed in an earlier round and released: claim it again
                raise AssertionError(f"{delivery_id} is not due")
            for other in uow.webhook_queue.list(Query(limit=50))[0]:  # free the rest for later
                if other["id"] != delivery_id and other.get("claimed_by") == "s:1":
                    uow.webhook_queue.update({**other, "claimed_by": None, "claimed_until": None})
            webhooks.record_attempt(uow, delivery_id, "s:1", {"ok": ok, "status": 204 if ok else 500,
                                                             "ms": 3, "error": None if ok else "HTTP 500"},
                                    scale=0.0001 if ok else 1.0)
        run(shop, go)
    attempt(ids[2], True)  # the newer ones retire first
    attempt(ids[1], True)
    attempt(ids[3], True)

    def listed(**filters):
        items, total = read(shop, lambda uow: webhooks.list_deliveries(
            uow, hook["id"], Query(filters=dict(filters), sort=[("id", True)], limit=2)))
        return [(i["id"], i["status"]) for i in items], total
    assert listed() == ([(ids[3], "delivered"), (ids[2], "delivered")], 4)
    assert listed(status="pending") == ([(ids[0], "pending")], 1)
    assert listed(status="delivered") == ([(ids[3], "delivered"), (ids[2], "delivered")], 3)
    got = read(shop, lambda uow: uow.webhook_deliveries.get(ids[1]))
    assert (got["status"], got["attempts"], got["version"], got["response_status"]) == ("delivered", 1, 2, 204)
    if shop.name == "json":  # only the pending one is held
        assert set(shop.tables.records["webhook_deliveries"]) == {ids[0]}

    again = run(shop, lambda uow: webhooks.retry(uow, hook["id"], ids[1]))
    assert (again["status"], again["version"]) == ("pending", 3)
    assert listed(status="pending") == ([(ids[1], "pending"), (ids[0], "pending")], 2)
    assert listed() == ([(ids[3], "delivered"), (ids[2], "delivered")], 4)
    attempt(ids[1], False)  # fails once: still pending, its next attempt later
    got = read(shop, lambda uow: uow.webhook_deliveries.get(ids[1]))
    assert (got["status"], got["attempts"], got["error"], got["version"]) == ("pending", 2, "HTTP 500", 4)
    all_of_it = read(shop, lambda uow: uow.webhook_deliveries.for_webhook(hook["id"]))
    assert [d["id"] for d in all_of_it] == ids
    assert read(shop, lambda uow: uow.webhook_deliveries.count()) == 4
    page, total = read(shop, lambda uow: webhooks.list_deliveries(
        uow, hook["id"], Query(sort=[("id", True)], offset=2, limit=5)))
    assert ([d["id"] for d in page], total) == ([ids[1], ids[0]], 4)
