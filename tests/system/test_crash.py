"""kill -9 at any moment: no acknowledged write is lost, files always parse, no half transaction.

Twice over: the whole gunicorn server killed under load and restarted, and a single writer process
killed at random moments and at every step of compaction, checked straight from the files.
"""
import random
import signal
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import requests

from app.storage.base import COLLECTIONS, Query, StoreError
from tests.processes import CTX

from .conftest import read_journal, read_json_files, uses_json_store
from .store_agents import add_products, crash_writer, open_store

SNAPSHOT_NAMES = {f"{c}.json" for c in COLLECTIONS}


# ---- what must hold after any crash -------------------------------------------

def check_files(data_dir):
    """Every *.json parses and is a snapshot (temp files never end in .json); the journal's whole
    lines parse.  Returns what the crash left: (torn journal tail, temp files, compaction cut short)."""
    snapshots = read_json_files(data_dir)
    # every collection's file exists from the first start, and a person can read each one
    assert set(snapshots) == SNAPSHOT_NAMES, sorted(set(snapshots) ^ SNAPSHOT_NAMES)
    for name, doc in snapshots.items():
        assert doc["collection"] == name[:-5] and doc["count"] == len(doc["records"])
        text = (Path(data_dir) / name).read_text(encoding="utf-8")
        assert text.startswith('{"collection"') and text.endswith("  ]\n}\n")
        assert not doc["records"] or '\n    {\n      "id": ' in text, f"{name} is not pretty-printed"
    entries, torn = read_journal(data_dir)
    header, transactions = entries[0], entries[1:]
    assert header["journal"] == 1
    numbers = [t["tx"] for t in transactions]
    # consecutive, reaching back at least to the first transaction after the snapshots' base
    # (compaction keeps an overlap of lines before it)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else True
    assert not numbers or numbers[0] <= header["base_tx"] + 1
    temp_files = sorted(p.name for p in Path(data_dir).iterdir() if p.name.endswith(".tmp"))
    mid_compaction = bool(temp_files) or any(doc["tx"] > header["base_tx"] for doc in snapshots.values())
    return torn, temp_files, mid_compaction


def check_orders_and_ledger(orders, movements, products):
    """No half transaction: every order has exactly its sale movements (and its cancel movements when
    cancelled), every such movement has its order, and every product's ledger sums to its stock."""
    by_ref = defaultdict(Counter)
    order_ids = {o["id"] for o in orders}
    for m in movements:
        if m["reason"] in ("sale", "order_cancelled"):
            assert m["ref"] in order_ids, f"a {m['reason']} movement without its order: {m}"
            by_ref[m["ref"]][(m["reason"], m["product_id"], m["delta"])] += 1
    for order in orders:
        expected = Counter({("sale", line["product_id"], -line["quantity"]): 1 for line in order["items"]})
        if order["status"] == "cancelled":
            expected.update({("order_cancelled", line["product_id"], line["quantity"]): 1
                             for line in order["items"]})
        assert by_ref[order["id"]] == expected, f"order {order['number']} and its movements disagree"
    assert len({o["number"] for o in orders}) == len(orders)
    for product in products:
        own = [m for m in movements if m["product_id"] == product["id"]]
        assert sum(m["delta"] for m in own) == product["stock"], product["sku"]
        assert product["stock"] >= 0
        if own:
            assert max(own, key=lambda m: m["id"])["stock_after"] == product["stock"]


# ---- the whole server, killed under load ------------------------------------

CLIENTS = 6
ROUNDS = 3


def buy_in_a_loop(server, token, product_ids, acknowledged, unexpected, stop, seed):
    """Place orders until stopped; remember every order the server answered 201."""
    rng = random.Random(seed)
    session_headers = {"Authorization": f"Bearer {token}"}
    for _ in range(5000):  # bounded: the test stops it long before
        if stop.is_set():
            return
        chosen = rng.sample(product_ids, rng.randint(1, len(product_ids)))
        body = {"items": [{"product_id": pid, "quantity": rng.randint(1, 2)} for pid in chosen],
                "customer": {"name": "Crash Test", "email": "crash@example.com"}}
        try:
            resp = requests.post(server.url("/api/orders"), json=body, headers=session_headers, timeout=10)
            if resp.status_code == 201:
                order = resp.json()
                acknowledged[order["id"]] = order
            elif resp.status_code != 409:
                unexpected.append((resp.status_code, resp.text[:500]))
        except (requests.RequestException, ValueError):
            time.sleep(0.005)  # the server is down (or died mid-answer): nothing was acknowledged


def test_kill_9_of_the_whole_server_loses_no_answered_order(make_server):
    # a small journal, so the server compacts (rewrites every snapshot) while it is being killed
    server = make_server(SHOP_JOURNAL_COMPACT_BYTES="32768")
    token = server.login()["access_token"]
    product_ids = [server.create_product(token, f"CRASH-{n}", stock=100_000)["id"] for n in range(3)]
    product_ids.append(server.create_product(token, "CRASH-SCARCE", stock=40)["id"])  # runs out: 409s too
    acknowledged, unexpected = {}, []
    rng = random.Random(7)
    for round_number in range(ROUNDS):
        before = len(acknowledged)
        stop = threading.Event()
        clients = [threading.Thread(target=buy_in_a_loop,
                                    args=(server, token, product_ids, acknowledged, unexpected, stop,
                                          round_number * 100 + n))
                   for n in range(CLIENTS)]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 15
        while len(acknowledged) < before + 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))
        server.kill()  # master and every worker, mid-request
        stop.set()
        for client in clients:
            client.join(timeout=30)
        assert len(acknowledged) > before, "no order went through before the kill"
        assert unexpected == []

        if uses_json_store(server):
            check_files(server.data_dir)
        server.start()  # same data dir; the token signed before the crash still works

        for order_id, answered in acknowledged.items():
            resp = server.request("GET", f"/api/orders/{order_id}", token)
            assert resp.status_code == 200, f"order {answered['number']} was answered 201 and is gone"
            stored = resp.json()
            assert (stored["number"], stored["items"], stored["total"]) == \
                (answered["number"], answered["items"], answered["total"])
        orders = server.list_all("/api/orders", token)
        movements = server.list_all("/api/stock-movements", token)
        products = server.list_all("/api/products", token)
        check_orders_and_ledger(orders, movements, products)
        # at most one order per client was committed without its answer getting out
        assert len(acknowledged) <= len(orders) <= len(acknowledged) + CLIENTS
    server.stop()
    if uses_json_store(server):
        torn, temp_files, _ = check_files(server.data_dir)
        assert torn == b""


# ---- one writer process, killed by the storage tests -----------------------

def start_writer(data_dir, acks, seed, die=None):
    proc = CTX.Process(target=crash_writer, args=(str(data_dir), str(acks), 4096, seed, die))
    proc.start()
    return proc


def read_acks(acks):
    """Acknowledged order ids and cancels; a last line without its newline was never acknowledged."""
    try:
        text = Path(acks).read_text()
    except FileNotFoundError:
        return [], set()
    lines = text.split("\n")[:-1]
    placed = [line.split()[1] for line in lines if line.startswith("order ")]
    cancelled = {line.split()[1] for line in lines if line.startswith("cancel ")}
    return placed, cancelled


def check_store_after_kill(data_dir, acks, kills):
    """Files parse; a fresh store has every acknowledged order and cancel and no half transaction."""
    torn, temp_files, mid_compaction = check_files(data_dir)
    placed, cancelled = read_acks(acks)
    store = open_store(data_dir)
    with store.reader() as uow:
        orders, _ = uow.orders.list(Query(limit=1_000_000))
        products, _ = uow.products.list(Query(limit=1_000))
        movements = list(uow.tx.scan("stock_movements"))
        counter = uow.tx.get("counters", "order_number")
    by_id = {o["id"]: o for o in orders}
    missing = [order_id for order_id in placed if order_id not in by_id]
    assert not missing, f"{len(missing)} acknowledged orders are gone"
    assert all(by_id[order_id]["status"] == "cancelled" for order_id in cancelled)
    # a writer killed inside commit may have made one more order durable than it acknowledged
    assert len(placed) <= len(orders) <= len(placed) + kills
    check_orders_and_ledger(orders, movements, products)
    if orders:
        assert counter["value"] == max(o["number"] for o in orders)
    return torn, temp_files, mid_compaction


def wait_for_acks(proc, acks, more_than, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(read_acks(acks)[0]) + len(read_acks(acks)[1]) > more_than:
            return
        if not proc.is_alive():
            raise AssertionError(f"the writer exited with {proc.exitcode}")
        time.sleep(0.005)
    raise AssertionError("the writer acknowledged nothing in time")


@pytest.fixture
def crash_store(tmp_path):
    data_dir = tmp_path / "data"
    add_products(open_store(data_dir), 3, 10**9)
    return data_dir, tmp_path / "acks.txt"


def test_writer_killed_at_random_moments_loses_nothing_acknowledged(crash_store):
    data_dir, acks = crash_store
    rng = random.Random(11)
    mid_compaction_kills = 0
    for kill in range(1, 11):
        already = sum(map(len, read_acks(acks)))
        proc = start_writer(data_dir, acks, seed=kill)
        wait_for_acks(proc, acks, already)
        time.sleep(rng.uniform(0, 0.2))
        proc.kill()  # SIGKILL
        proc.join(timeout=10)
        _, _, mid_compaction = check_store_after_kill(data_dir, acks, kill)
        mid_compaction_kills += mid_compaction
    # with a 4 KiB journal the writer compacts every few orders and spends most time doing it
    assert mid_compaction_kills >= 1


@pytest.mark.parametrize("when", ["before", "after"])
def test_writer_killed_at_every_step_of_compaction_loses_nothing(crash_store, when):
    """Killed at the N-th file write of its compactions (the snapshot files of the collections
    changed since their file was written, then the journal; N past one compaction's writes lands
    in the next): half a temp file ("before" os.replace) or some snapshots newer than the
    journal ("after"; right after a journal swap the compaction is whole)."""
    data_dir, acks = crash_store
    whole = 0
    for step in range(1, len(COLLECTIONS) + 2):
        proc = start_writer(data_dir, acks, seed=step, die=(step, when))
        proc.join(timeout=30)
        assert proc.exitcode == -signal.SIGKILL, f"the writer ended with {proc.exitcode}"
        torn, temp_files, mid_compaction = check_store_after_kill(data_dir, acks, step)
        whole += not mid_compaction
        assert mid_compaction or when == "after"
        if when == "before":
            assert temp_files
    assert whole < len(COLLECTIONS) // 2  # most kills fell inside a compaction
    placed, _ = read_acks(acks)
    assert placed, "the writer never acknowledged an order"


def test_a_torn_last_journal_line_is_ignored_then_cut_off(crash_store):
    data_dir, acks = crash_store
    store = open_store(data_dir)
    with store.reader() as uow:
        count = uow.products.count()
    journal = data_dir / "journal.jsonl"
    whole = journal.read_bytes()
    torn_line = b'{"tx": 999, "at": "2026-11-21T10:00:00Z", "ops": [["products", "torn", {"id": "to'
    journal.write_bytes(whole + torn_line)  # a crash (or power cut) in the middle of an append

    reopened = open_store(data_dir)
    with reopened.reader() as uow:
        assert uow.products.count() == count
    add_products(reopened, 1, 1, prefix="after-torn")
    entries, torn = read_journal(data_dir)
    assert torn == b"" and b'"torn"' not in journal.read_bytes()
    assert sum(1 for e in entries if "tx" in e) == sum(1 for line in whole.splitlines()[1:]) + 1
    with open_store(data_dir).reader() as uow:
        assert uow.products.count() == count + 1


def test_a_damaged_whole_line_stops_the_store_instead_of_cutting_off_what_follows(crash_store):
    data_dir, _ = crash_store
    reader = open_store(data_dir)
    with reader.reader() as uow:
        count = uow.products.count()
    writer = open_store(data_dir)
    add_products(writer, 1, 1, prefix="damaged")
    add_products(writer, 1, 1, prefix="after-damage")
    journal = data_dir / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    lines[-3] = b"#" + lines[-3][1:]  # a whole line that no longer parses, then a good one
    damaged = b"\n".join(lines)
    journal.write_bytes(damaged)

    with pytest.raises(StoreError):  # a process that has not read those lines yet
        with reader.unit_of_work() as uow:
            uow.commit()
    with pytest.raises(StoreError):  # a process starting afresh
        open_store(data_dir)
    assert journal.read_bytes() == damaged, "nothing may be cut off or appended after damage"
    assert count == 3
