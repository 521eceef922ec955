"""Processes that share one JSON store for the system tests: counters, buyers, a ring, an idle reader,
and a writer that gets killed. Each opens its own store, as a gunicorn worker or a script would."""
import os
import random
import signal
import time

from app.services import catalog, orders, stock
from app.services.errors import InsufficientStock
from app.storage import jsonfile
from app.storage.jsonfile import JsonFileStore

NEVER_COMPACT = 1 << 40


def open_store(data_dir, compact_bytes=NEVER_COMPACT, catch_up=False):
    """catch_up: replay others' commits while waiting for the write lock, as make serve's workers do."""
    store = JsonFileStore(str(data_dir), compact_bytes=compact_bytes)
    store.catch_up_while_waiting = catch_up
    return store


def add_products(store, count, stock_each, prefix="P"):
    """`count` products with `stock_each` opening stock, in one unit of work; their ids."""
    with store.unit_of_work() as uow:
        ids = [catalog.create_product(uow, {"sku": f"{prefix}-{n}", "title": f"{prefix} {n}", "price": "2.50",
                                            "stock": stock_each})["id"] for n in range(count)]
        uow.commit()
    return ids


def product_count(store):
    with store.reader() as uow:
        return uow.products.count()


# ---- targets for multiprocessing.Process -----------------------------------------

def increment(results, barrier, data_dir, product_id, times, compact_bytes):
    store = open_store(data_dir, compact_bytes)
    barrier.wait(timeout=60)
    for _ in range(times):
        with store.unit_of_work() as uow:
            stock.change_stock(uow, product_id, 1, "received", note=f"pid {os.getpid()}")
            uow.commit()
    results.put(times)


def increment_catching_up(results, barrier, data_dir, product_id, times, compact_bytes):
    """increment with catch_up on; puts (times, transactions the helper replayed while waiting)."""
    store = open_store(data_dir, compact_bytes, catch_up=True)
    barrier.wait(timeout=60)
    for _ in range(times):
        with store.unit_of_work() as uow:
            stock.change_stock(uow, product_id, 1, "received", note=f"pid {os.getpid()}")
            uow.commit()
    results.put((times, store.caught_up))


def buy_until_sold_out(results, barrier, data_dir, product_id, compact_bytes, catch_up=False):
    store = open_store(data_dir, compact_bytes, catch_up)
    barrier.wait(timeout=60)
    taken = 0
    for _ in range(10_000):  # bounded; the product has far fewer units
        try:
            with store.unit_of_work() as uow:
                stock.change_stock(uow, product_id, -1, "sale", ref=f"pid {os.getpid()}")
                uow.commit()
        except InsufficientStock:
            break
        taken += 1
    results.put(taken)


def ring(results, data_dir, inbox, outbox, last, compact_bytes):
    """Receive n (n products committed so far), read at once and expect n, add one, pass n + 1 on."""
    store = open_store(data_dir, compact_bytes)
    misses, turns = [], 0
    while True:
        n = inbox.get(timeout=60)
        if n is None:
            break
        seen = product_count(store)
        if seen != n:
            misses.append((n, seen))
        turns += 1
        if n >= last:
            break
        add_products(store, 1, 1, prefix=f"R{n}")
        outbox.put(n + 1)
    outbox.put(None)
    results.put((misses, turns))


def idle_reader(conn, data_dir):
    """Keeps a list of stores, each opened at a different moment and left idle until asked."""
    stores, full_loads = [], []
    while True:
        command = conn.recv()
        if command[0] == "open":
            stores.append(open_store(data_dir))
            full_loads.append(0)
            stores[-1]._load = _counting(stores[-1]._load, full_loads, len(stores) - 1)
            conn.send(product_count(stores[-1]))
        elif command[0] == "counts":
            conn.send([product_count(s) for s in stores])
        elif command[0] == "full_loads":  # how often each store re-read every snapshot file since opening
            conn.send(list(full_loads))
        elif command[0] == "add":
            add_products(stores[command[1]], 1, 1, prefix=command[2])
            conn.send(True)
        else:
            conn.send(None)
            return


def slow_compactor(results, data_dir, seconds_per_file):
    """Compact as if every snapshot file were huge (each write takes seconds_per_file)."""
    original = jsonfile.write_file_atomically

    def slow_write(path, data, mode=None):
        time.sleep(seconds_per_file)
        return original(path, data, mode)

    jsonfile.write_file_atomically = slow_write
    store = open_store(data_dir)
    started = time.monotonic()
    store.checkpoint()
    results.put(time.monotonic() - started)


def commit_past_the_threshold(results, data_dir, seconds_per_file):
    """Commit until one commit starts a compaction (made slow), and a few more while it runs;
    report how long that commit and the ones during the compaction took."""
    original = jsonfile.write_file_atomically

    def slow_write(path, data, mode=None):
        time.sleep(seconds_per_file)
        return original(path, data, mode)

    store = open_store(data_dir, compact_bytes=4096)
    jsonfile.write_file_atomically = slow_write
    trigger = None
    during = []
    for n in range(500):
        started = time.monotonic()
        add_products(store, 1, 1, prefix=f"T{n}")
        elapsed = time.monotonic() - started
        if trigger is None and store._compactor is not None:
            trigger = elapsed
        elif trigger is not None:
            if not store._compactor.is_alive():
                break
            during.append(elapsed)
    started = time.monotonic()
    store.close()  # waits for the compaction
    results.put((trigger, during, time.monotonic() - started, n + 1))


def late_compactor(results, data_dir, go):
    """Commit until a background compaction starts, but hold that compaction back until `go` is set
    (meanwhile another process finishes a compaction of its own)."""
    original = JsonFileStore._compact_from

    def held_back(self, state, wait):
        if state is not None:
            go.wait(timeout=60)
        return original(self, state, wait)

    JsonFileStore._compact_from = held_back
    store = open_store(data_dir, compact_bytes=4096)
    for n in range(500):
        add_products(store, 1, 1, prefix=f"L{n}")
        if store.compacting:
            break
    results.put(n + 1)
    store.close()
    results.put("done")


def _counting(load, counts, index):
    def counted(*args, **kwargs):
        counts[index] += 1
        return load(*args, **kwargs)
    return counted


# ---- the writer that gets killed ---------------------------------------------

def die_in_compaction(call_number, before_replace):
    """Make the N-th snapshot or journal write of this process SIGKILL it (before or after os.replace)."""
    original = jsonfile.write_file_atomically
    calls = [0]

    def write(path, data, mode=None):
        calls[0] += 1
        if not isinstance(data, (bytes, bytearray)):  # a snapshot comes as chunks
            data = b"".join(data)
        if calls[0] == call_number:
            if before_replace:  # a half-written temp file, as a crash mid-write leaves it
                with open(f"{path}.{os.getpid()}.tmp", "wb") as fh:
                    fh.write(data[:len(data) // 2])
            else:
                original(path, data, mode)
            os.kill(os.getpid(), signal.SIGKILL)
        return original(path, data, mode)

    jsonfile.write_file_atomically = write


def crash_writer(data_dir, ack_path, compact_bytes, seed, die=None):
    """Place (and now and then cancel) orders for ever; after each commit returns, append its ack line.
    die=(n, "before"|"after"): SIGKILL itself at the n-th file write of its first compaction."""
    if die:
        die_in_compaction(int(die[0]), die[1] == "before")
    store = open_store(data_dir, compact_bytes)
    with store.reader() as uow:
        product_ids = [p["id"] for p in uow.products.list(_all())[0]]
    rng = random.Random(seed)
    ack = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    placed = []
    deadline = time.monotonic() + 60  # bounded even if nobody kills it
    while time.monotonic() < deadline:
        if placed and rng.random() < 0.2:
            order_id = placed.pop(rng.randrange(len(placed)))
            with store.unit_of_work() as uow:
                orders.cancel_order(uow, order_id, "changed their mind", None, may_refund=True)
                uow.commit()
            os.write(ack, f"cancel {order_id}\n".encode())
            continue
        lines = [{"product_id": pid, "quantity": rng.randint(1, 3)}
                 for pid in rng.sample(product_ids, rng.randint(1, len(product_ids)))]
        with store.unit_of_work() as uow:
            order = orders.place_order(uow, {"items": lines, "customer": {"name": "Crash Test"},
                                             "notes": "x" * rng.randint(0, 300)}, None, "EUR")
            uow.commit()
        os.write(ack, f"order {order['id']}\n".encode())
        placed.append(order["id"])


def _all():
    from app.storage.base import Query
    return Query(limit=10_000)

