"""Section 13's rules through the in-memory store: which events a change records and in what
order, who may read them, who is notified, what a webhook delivery becomes after each attempt."""
import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest

from app.services import events, notifications, orders, stock, users, webhooks
from app.services.errors import NotFound, ValidationFailed, WebhookUrlNotAllowed
from app.storage.base import Query
from tests.unit.builders import add_order, add_product, add_user, read, run


def types(store, n=None):
    got = read(store, lambda uow: [e["type"] for e in reversed(uow.events.list(Query(limit=200))[0])])
    return got[-n:] if n else got


def test_an_order_paid_at_creation_that_empties_a_product(memory_store):
    product = add_product(memory_store, stock=5, low_stock_threshold=2)
    add_order(memory_store, [(product, 5)], payment={"method": "cash", "amount": "50.00"})
    assert types(memory_store, 4) == ["order.created", "order.paid", "stock.low", "stock.out"]


def test_no_stock_event_for_opening_stock_an_inactive_product_or_a_rise(memory_store):
    product = add_product(memory_store, stock=1, low_stock_threshold=5)
    assert types(memory_store, 1) == ["product.created"]
    run(memory_store, lambda uow: stock.adjust_stock(uow, product["id"], 10, "received"))
    assert "stock.low" not in types(memory_store)
    archived = add_product(memory_store, stock=5, low_stock_threshold=2, status="archived")
    run(memory_store, lambda uow: stock.adjust_stock(uow, archived["id"], -5, "lost"))
    assert types(memory_store, 1) == ["product.created"]


def test_a_cancel_records_order_cancelled_and_a_refill_makes_no_crossing(memory_store):
    product = add_product(memory_store, stock=3, low_stock_threshold=1)
    order = add_order(memory_store, [(product, 3)])
    run(memory_store, lambda uow: orders.cancel_order(uow, order["id"]))
    assert types(memory_store, 1) == ["order.cancelled"]


def test_a_change_that_fails_records_nothing(memory_store):
    product = add_product(memory_store, stock=1)
    before = types(memory_store)
    with pytest.raises(Exception):
        add_order(memory_store, [(product, 2)])
    assert types(memory_store) == before


def test_users_events_and_who_reads_them(memory_store):
    user = add_user(memory_store)
    run(memory_store, lambda uow: users.update_user(uow, user["id"], {"email": "a@b.c"}))
    run(memory_store, lambda uow: users.deactivate_user(uow, user["id"]))
    assert types(memory_store, 3) == ["user.created", "user.updated", "user.deactivated"]
    assert events.may_read("admin", "user.created") and not events.may_read("manager", "user.created")
    assert events.may_read("viewer", "stock.low") and not events.may_read("viewer", "webhook.disabled")
    newest = read(memory_store, lambda uow: uow.events.list(Query(limit=1))[0][0])
    with pytest.raises(NotFound):
        read(memory_store, lambda uow: events.get_event(uow, newest["id"], "manager"))
    page, total = read(memory_store, lambda uow: events.list_events(uow, Query(limit=200), "clerk"))
    assert total == len(page) and all(not e["type"].startswith("user.") for e in page)


def test_an_editor_reads_product_events_without_cost(memory_store):
    add_product(memory_store, cost="4.00")
    page, _ = read(memory_store, lambda uow: events.list_events(uow, Query(limit=1), "editor"))
    assert page[0]["type"] == "product.created" and "cost" not in page[0]["data"]
    page, _ = read(memory_store, lambda uow: events.list_events(uow, Query(limit=1), "admin"))
    assert page[0]["data"]["cost"] == "4.00"


def inbox(store, user):
    return read(store, lambda uow: notifications.list_notifications(uow, user["id"], Query(limit=200))[0])


def test_notifications_go_to_the_roles_of_the_table_who_want_them(memory_store):
    manager, clerk, admin = add_user(memory_store, "manager"), add_user(memory_store, "clerk"), \
        add_user(memory_store, "admin")
    run(memory_store, lambda uow: notifications.set_preferences(uow, admin["id"], {"types": {"stock.low": False}}))
    product = add_product(memory_store, stock=3, low_stock_threshold=2, title="Middlemarch")
    add_order(memory_store, [(product, 1)])
    assert [(n["title"], n["message"]) for n in inbox(memory_store, manager)] == [
        ("Low stock: Middlemarch", "2 left (threshold 2)")]
    assert inbox(memory_store, clerk) == [] and inbox(memory_store, admin) == []


def test_a_storefront_order_and_a_failed_delivery_notify_clerks_a_staff_order_does_not(memory_store):
    clerk = add_user(memory_store, "clerk")
    events_in = [{"id": "evt_1", "type": "order.created", "data": {"id": "o1", "channel": "staff"}},
                 {"id": "evt_2", "type": "order.created", "data": {"id": "o2", "channel": "storefront",
                                                                   "number": 7, "total": "9.00"}},
                 {"id": "evt_3", "type": "delivery.updated", "data": {"id": "d1", "status": "in_transit"}},
                 {"id": "evt_4", "type": "delivery.updated", "data": {"id": "d2", "status": "failed"}}]
    run(memory_store, lambda uow: notifications.fan_out(uow, events_in))
    assert sorted(n["resource_id"] for n in inbox(memory_store, clerk)) == ["d2", "o2"]


def test_email_true_queues_a_mail(memory_store):
    manager = add_user(memory_store, "manager", email="m@example.com")
    run(memory_store, lambda uow: notifications.set_preferences(uow, manager["id"], {"email": {"stock.out": True}}))
    product = add_product(memory_store, stock=1, low_stock_threshold=0)
    add_order(memory_store, [(product, 1)])
    mail = read(memory_store, lambda uow: uow.outbox.list(Query(limit=10))[0])
    assert [(m["to"], m["subject"]) for m in mail] == [("m@example.com", "Out of stock: A product")]


def test_preferences_refuse_unknown_types_and_non_booleans(memory_store):
    with pytest.raises(ValidationFailed) as caught:
        run(memory_store, lambda uow: notifications.set_preferences(uow, "u", {"types": {"x.y": True, "stock.low": 1}}))
    assert set(caught.value.errors) == {"types.x.y", "types.stock.low"}


def test_read_all_counts_what_was_unread(memory_store):
    manager = add_user(memory_store, "manager")
    product = add_product(memory_store, stock=2, low_stock_threshold=1)
    add_order(memory_store, [(product, 2)])  # low and out at once
    first = inbox(memory_store, manager)[0]
    run(memory_store, lambda uow: notifications.mark_read(uow, manager["id"], first["id"]))
    assert run(memory_store, lambda uow: notifications.read_all(uow, manager["id"])) == 1
    assert read(memory_store, lambda uow: notifications.unread_count(uow, manager["id"])) == 0
    with pytest.raises(NotFound):
        run(memory_store, lambda uow: notifications.mark_read(uow, "someone-else", first["id"]))


# ---- webhooks -------------------------------------------------------------------------------------

def test_a_signature_is_standard_webhooks_hmac():
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    expected = base64.b64encode(hmac.new(b"k" * 32, b"evt_1.1700000000.{}", hashlib.sha256).digest()).decode()
    assert webhooks.sign([secret], "evt_1", "1700000000", b"{}") == "v1," + expected


@pytest.mark.parametrize("address,allowed", [("93.184.215.14", True), ("127.0.0.1", False), ("10.0.0.1", False),
                                             ("169.254.169.254", False), ("::1", False), ("224.0.0.1", False),
                                             ("::ffff:10.0.0.1", False), ("2606:4700::1111", True)])
def test_the_guard_knows_global_unicast(address, allowed):
    assert webhooks.address_allowed(address) is allowed


def test_url_rules():
    with pytest.raises(WebhookUrlNotAllowed):
        webhooks.check_url("http://127.0.0.1/x", allow_private=False)
    assert webhooks.check_url("http://127.0.0.1/x", allow_private=True) == "http://127.0.0.1/x"
    for bad in ("ftp://93.184.215.14/", "http://a:b@93.184.215.14/", "nope", None):
        with pytest.raises(ValidationFailed):
            webhooks.check_url(bad, allow_private=True)


def hook(store, events_=("*",)):
    return run(store, lambda uow: webhooks.create_webhook(uow, {"url": "http://127.0.0.1/h", "events": list(events_)},
                                                          allow_private=True))


def deliveries(store, webhook):
    return read(store, lambda uow: webhooks.list_deliveries(uow, webhook["id"], Query(limit=200))[0])


def claim(store):
    return run(store, lambda uow: uow.webhook_queue.claim("w:1", 60))


def attempt(store, delivery_id, outcome, now=None, scale=1.0):
    return run(store, lambda uow: webhooks.record_attempt(uow, delivery_id, "w:1", outcome, scale, now))


def test_each_subscribed_event_makes_one_delivery_in_its_transaction(memory_store):
    every, paid = hook(memory_store), hook(memory_store, ["order.paid"])
    run(memory_store, lambda uow: webhooks.update_webhook(uow, hook(memory_store)["id"], {"active": False}))
    product = add_product(memory_store)
    add_order(memory_store, [(product, 1)])
    assert [d["type"] for d in deliveries(memory_store, every)] == ["product.created", "order.created"]
    assert deliveries(memory_store, paid) == []


def test_the_schedule_then_failed(memory_store):
    webhook = hook(memory_store)
    run(memory_store, lambda uow: webhooks.ping(uow, webhook["id"]))
    now = datetime.now(timezone.utc)
    delays = []
    for n in range(8):
        taken = run(memory_store, lambda uow: uow.webhook_queue.claim("w:1", 60, now=now + timedelta(days=n)))
        assert len(taken) == 1
        attempt(memory_store, taken[0]["id"], {"ok": False, "status": 500, "ms": 3, "error": "HTTP 500"},
                now=now)  # every attempt "at" one moment: the 24 hours never pass here
        delivery = deliveries(memory_store, webhook)[0]
        delays.append(delivery["next_attempt_at"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 8 and delays[-1] is None
    assert read(memory_store, lambda uow: uow.webhook_queue.count()) == 0


def test_delays_follow_the_table():
    assert webhooks.RETRY_DELAYS == (5, 300, 1800, 7200, 18000, 36000, 36000)


def test_a_410_disables_and_notifies_admins(memory_store):
    admin = add_user(memory_store, "admin")
    webhook = hook(memory_store)
    run(memory_store, lambda uow: webhooks.ping(uow, webhook["id"]))
    run(memory_store, lambda uow: webhooks.ping(uow, webhook["id"]))
    first = claim(memory_store)[0]
    attempt(memory_store, first["id"], {"ok": False, "status": 410, "ms": 1, "error": "HTTP 410", "gone": True})
    now = read(memory_store, lambda uow: uow.webhooks.get(webhook["id"]))
    assert now["active"] is False and "410" in now["disabled_reason"]
    assert {d["status"] for d in deliveries(memory_store, webhook)} == {"failed"}
    assert [n["type"] for n in inbox(memory_store, admin)] == ["webhook.disabled"]
    assert types(memory_store, 1) == ["webhook.disabled"]


def test_24_hours_of_failures_disable(memory_store):
    webhook = hook(memory_store)
    for _ in range(2):
        run(memory_store, lambda uow: webhooks.ping(uow, webhook["id"]))
    start = datetime.now(timezone.utc)
    taken = run(memory_store, lambda uow: uow.webhook_queue.claim("w:1", 60, now=start + timedelta(days=9)))
    attempt(memory_store, taken[0]["id"], {"ok": False, "error": "timeout"}, now=start)
    assert read(memory_store, lambda uow: uow.webhooks.get(webhook["id"]))["active"] is True
    attempt(memory_store, taken[1]["id"], {"ok": False, "error": "timeout"}, now=start + timedelta(hours=24))
    assert read(memory_store, lambda uow: uow.webhooks.get(webhook["id"]))["active"] is False


def test_a_success_clears_the_failing_clock(memory_store):
    webhook = hook(memory_store)
    run(memory_store, lambda uow: webhooks.ping(uow, webhook["id"]))
    run(memory_store, lambda uow: webhooks.ping(uow, webhook["id"]))
    taken = claim(memory_store)
    attempt(memory_store, taken[0]["id"], {"ok": False, "error": "timeout"})
    attempt(memory_store, taken[1]["id"], {"ok": True, "status": 200, "ms": 2})
    assert read(memory_store, lambda uow: uow.webhooks.get(webhook["id"]))["failing_since"] is None


def test_a_claimed_entry_is_not_claimed_twice_until_its_lease_ends(memory_store):
    webhook = hook(memory_store)
    run(memory_store, lambda uow: webhooks.ping(uow, webhook["id"]))
    assert len(claim(memory_store)) == 1
    assert claim(memory_store) == []
    later = datetime.now(timezone.utc) + timedelta(seconds=61)
    assert len(run(memory_store, lambda uow: uow.webhook_queue.claim("w:2", 60, now=later))) == 1
