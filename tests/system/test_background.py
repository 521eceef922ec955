"""The background process beside a real gunicorn: started with it, restarted when killed, stopped with it; the JSON files it keeps fresh."""
import json
import os
import signal
import time

import pytest

from .conftest import live_children, live_group_members, uses_json_store


def supervisor_of(server):
    """The supervisor the master forked (its pid is in the server's log) and its one child."""
    for line in server.log_text().splitlines():
        if "Background process supervisor:" in line:
            supervisor = int(line.rsplit(":", 1)[1])
            return supervisor
    raise AssertionError(f"no background process was started:\n{server.log_tail()}")


def wait_for(predicate, timeout=10.0, what="it"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def test_the_background_process_comes_back_after_kill_9_and_stops_with_the_server(make_server):
    server = make_server(workers=2)
    supervisor = supervisor_of(server)
    assert supervisor in live_children(server.proc.pid)
    first = wait_for(lambda: live_children(supervisor), what="the background process starting")[0]
    os.kill(first, signal.SIGKILL)
    second = wait_for(lambda: [p for p in live_children(supervisor) if p != first], what="a restart")[0]
    assert second != first and "ended (signal 9); starting another" in server.log_text()
    assert server.request("GET", "/healthz").status_code == 200
    master = server.proc.pid
    os.kill(master, signal.SIGTERM)
    server.proc.wait(timeout=20)
    wait_for(lambda: second not in live_children(supervisor) and not live_group_members(master),
             what="the background process stopping with the server")
    server.proc = None


def _group_gone(server):
    return not live_group_members(server.proc.pid)


def test_snapshot_files_follow_the_journal_within_seconds(make_server):
    server = make_server(workers=2, SHOP_SNAPSHOT_SETTLE_SECONDS="0.5", SHOP_SNAPSHOT_MAX_LAG_SECONDS="3")
    if not uses_json_store(server):
        pytest.skip("the JSON files of the JSON store")
    token = server.login()["access_token"]
    products = server.data_dir / "products.json"
    assert json.loads(products.read_text())["records"] == []  # there from the first start
    created = server.create_product(token, "FRESH-1", stock=3)

    def written():  # the files of one refresh are replaced one after another: wait for both
        doc = json.loads(products.read_text())
        moves = json.loads((server.data_dir / "stock_movements.json").read_text())["records"]
        mine = [m["delta"] for m in moves if m["product_id"] == created["id"]]
        return [r for r in doc["records"] if r["sku"] == "FRESH-1"] if mine == [3] else []
    [record] = wait_for(written, timeout=10, what="products.json and stock_movements.json showing it")
    # the file holds the record as stored: the answer's gallery (images) is the answer's
    assert record == {k: v for k, v in created.items() if k != "images"} and created["images"] == []
    # under steady writes the files still follow, at most the lag behind
    started = time.monotonic()
    seen = None
    while time.monotonic() - started < 8 and seen is None:
        server.create_product(token, f"STEADY-{int((time.monotonic() - started) * 100)}", stock=1)
        doc = json.loads(products.read_text())
        if any(r["sku"].startswith("STEADY-") for r in doc["records"]):
            seen = time.monotonic() - started
        time.sleep(0.1)
    assert seen is not None, "products.json never caught up under steady writes"


def test_a_clean_stop_writes_the_snapshot_files_out(make_server):
    server = make_server(workers=2, SHOP_SNAPSHOT_SETTLE_SECONDS="600", SHOP_SNAPSHOT_MAX_LAG_SECONDS="600")
    if not uses_json_store(server):
        pytest.skip("the JSON files of the JSON store")
    token = server.login()["access_token"]
    server.create_product(token, "AT-STOP", stock=1)
    time.sleep(2.5)  # several turns of the task: not written, the writes have not settled for 600 s
    assert "AT-STOP" not in (server.data_dir / "products.json").read_text()
    os.kill(server.proc.pid, signal.SIGTERM)  # a clean stop of the master, which stops the rest
    server.proc.wait(timeout=30)
    wait_for(lambda: _group_gone(server), timeout=30,
             what="every process of the server stopping")
    server.proc = None
    assert "AT-STOP" in (server.data_dir / "products.json").read_text()


def test_the_background_process_compacts_the_journal_so_the_workers_need_not(make_server):
    compact = 32768
    server = make_server(workers=2, SHOP_JOURNAL_COMPACT_BYTES=str(compact))
    if not uses_json_store(server):
        pytest.skip("the JSON store's journal")
    token = server.login()["access_token"]
    journal = server.data_dir / "journal.jsonl"

    def base_tx():
        return json.loads(journal.read_bytes().split(b"\n", 1)[0])["base_tx"]
    first = base_tx()
    n = 0
    while journal.stat().st_size <= compact:
        server.create_product(token, f"GROW-{n}", stock=1)
        n += 1
    assert journal.stat().st_size < 4 * compact and base_tx() == first
    # no request commits from here on, and workers compact only when they commit: the
    # compaction that follows is the background process's
    wait_for(lambda: base_tx() != first, what="the background process compacting the journal")
    assert journal.stat().st_size < compact
    assert server.request("GET", f"/api/products?q=GROW-{n - 1}", token).json()["total"] == 1
