"""Benchmark: what placing one order costs on the JSON store with 100 and with 100,000 past orders,
and what completing a 20-line transfer costs with 100 and with 100,000 past movements.

Each sample is what a request pays in the service layer: one unit of work that checks and takes the
stock, writes the movements and the order, and commits (one journal line, fsynced). The two stores
are measured in turns, so disk and CPU noise falls on both alike; the medians and their ratio are
printed (the target is a ratio of about 1). Run it with `make bench` or `python -m scripts.bench_orders`.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

from app.services import catalog, locations, orders
from app.storage.base import COLLECTIONS, new_id
from app.storage.jsonfile import JsonFileStore, encode_snapshot, write_file_atomically
from app.storage.memory import MemoryStore

PRODUCTS = 12
OPENING_STOCK = 10**9
USER_ID = "bench-user"


def build_store(folder, past_orders):
    """Write snapshot files holding `past_orders` orders and their ledger directly (fast), no journal."""
    template_store = MemoryStore()
    with template_store.unit_of_work() as uow:
        shop = locations.ensure_default_location(uow)
        back = locations.create_location(uow, {"name": "Back room", "code": "BACK", "kind": "stockroom"})
        products = [catalog.create_product(uow, {
            "sku": f"BENCH-{n:02d}", "title": f"Benchmark product {n}", "price": f"{5 + n}.50",
            "cost": "2.00", "stock": OPENING_STOCK, "category": "bench"}, USER_ID) for n in range(PRODUCTS)]
        movements = [dict(m) for m in uow.tx.scan("stock_movements")]
        levels = [dict(level) for level in uow.tx.scan("stock_levels")]
        template = orders.place_order(uow, order_body(products, 0), USER_ID, "EUR")
    stock = {p["id"]: OPENING_STOCK for p in products}
    order_records = []
    for index in range(past_orders):
        line_products = [products[index % PRODUCTS], products[(index * 7 + 3) % PRODUCTS]]
        order_id = new_id()
        items = []
        for product, quantity in zip(line_products, (1, 2)):
            stock[product["id"]] -= quantity
            items.append({**template["items"][0], "product_id": product["id"], "sku": product["sku"],
                          "title": product["title"], "quantity": quantity})
            movements.append({"id": new_id(), "product_id": product["id"], "location_id": shop["id"],
                              "delta": -quantity, "stock_after": stock[product["id"]],
                              "location_stock_after": stock[product["id"]], "reason": "sale",
                              "ref": order_id, "note": None, "user_id": USER_ID,
                              "created_at": template["created_at"]})
        order_records.append({**template, "id": order_id, "number": 1001 + index, "items": items})
    for product in products:
        product["stock"] = stock[product["id"]]
    for level in levels:
        level["quantity"] = stock[level["product_id"]]
    collections = {name: [] for name in COLLECTIONS}
    collections.update({
        "products": products, "stock_movements": movements, "orders": order_records,
        "counters": [{"id": "order_number", "value": 1000 + past_orders}],
        "locations": [shop, back], "stock_levels": levels,
    })
    os.makedirs(folder, exist_ok=True)
    for name, records in collections.items():
        write_file_atomically(os.path.join(folder, f"{name}.json"), encode_snapshot(name, 1, records))
    return [p["id"] for p in products]


def order_body(products, index):
    ids = [p["id"] if isinstance(p, dict) else p for p in products]
    return {"items": [{"product_id": ids[index % len(ids)], "quantity": 1},
                      {"product_id": ids[(index + 5) % len(ids)], "quantity": 2}],
            "customer": {"name": "Bench Customer", "email": "bench@example.com"},
            "notes": "placed by scripts/bench_orders.py"}


def place_one(store, product_ids, index):
    start = time.perf_counter()
    with store.unit_of_work() as uow:
        orders.place_order(uow, order_body(product_ids, index), USER_ID, "EUR")
        uow.commit()
    return time.perf_counter() - start


def bench_orders(sizes=(100, 100_000), samples=300, warmup=20, out=sys.stdout, compaction=True):
    """Median cost of placing one order at each size; returns {size: seconds} and prints a table."""
    with tempfile.TemporaryDirectory(prefix="backroom-bench-") as root:
        stores = {}
        for size in sizes:
            folder = os.path.join(root, f"orders-{size}")
            started = time.perf_counter()
            product_ids = build_store(folder, size)
            built = time.perf_counter() - started
            started = time.perf_counter()
            store = JsonFileStore(folder)
            opened = time.perf_counter() - started
            stores[size] = (store, product_ids)
            print(f"  built a store with {size:>9,} past orders in {built:5.1f} s; opening it took "
                  f"{opened:5.2f} s", file=out, flush=True)
        timings = {size: [] for size in sizes}
        for index in range(warmup + samples):
            order = list(sizes) if index % 2 == 0 else list(reversed(sizes))  # take turns going first
            for size in order:
                store, product_ids = stores[size]
                elapsed = place_one(store, product_ids, index)
                if index >= warmup:
                    timings[size].append(elapsed)
        medians = {size: statistics.median(values) for size, values in timings.items()}
        print(f"\nplacing one order (service layer, JSON journal store, fsync included), "
              f"median of {samples}:", file=out)
        for size in sizes:
            values = sorted(timings[size])
            p90 = values[int(len(values) * 0.9) - 1]
            print(f"  {size:>9,} past orders: {medians[size] * 1000:7.2f} ms   (p90 {p90 * 1000:.2f} ms)",
                  file=out)
        small, large = min(sizes), max(sizes)
        ratio = medians[large] / medians[small]
        print(f"  ratio {large:,} / {small:,}: {ratio:.2f}   (target: about 1)", file=out, flush=True)
        if compaction:
            report_compaction(*stores[large], large, out)
        return medians


def report_compaction(store, product_ids, size, out, limit=300):
    """What the occasional compaction costs at this size, and what orders cost while it runs.

    The committing process compacts in a background thread (the store's own behaviour once the
    journal passes compact_bytes); orders keep being placed meanwhile and are timed."""
    journal_bytes = os.path.getsize(store.journal_path)
    committed = store.tables.tx - 1  # the snapshot files were written at tx 1
    every = store.compact_bytes * committed / journal_bytes
    threshold, store.compact_bytes = store.compact_bytes, 1  # the next commit starts a compaction
    started = time.perf_counter()
    place_one(store, product_ids, 0)
    during = []
    while store.compacting and len(during) < limit:
        during.append(place_one(store, product_ids, len(during)))
    store.close()  # waits for the compaction to finish
    elapsed = time.perf_counter() - started
    store.compact_bytes = threshold
    median = f"{statistics.median(during) * 1000:.2f} ms" if during else "n/a"
    print(f"  compaction at {size:,} orders (every snapshot file rewritten, in the background): "
          f"{elapsed:.1f} s;\n    meanwhile {len(during)} more orders were placed, median {median}; "
          f"by default it runs when the journal passes {threshold / 2**20:.0f} MiB, about every "
          f"{every:,.0f} orders", file=out, flush=True)


TRANSFER_LINES = 20


def build_transfer_store(folder, past_movements):
    """Snapshot files of a shop with TRANSFER_LINES products at its default location, a back room,
    and `past_movements` movements in the ledger (goods received at the default location)."""
    template_store = MemoryStore()
    with template_store.unit_of_work() as uow:
        shop = locations.ensure_default_location(uow)
        back = locations.create_location(uow, {"name": "Back room", "code": "BACK", "kind": "stockroom"})
        products = [catalog.create_product(uow, {
            "sku": f"MOVE-{n:02d}", "title": f"Moved product {n}", "price": "4.50", "stock": OPENING_STOCK},
            USER_ID) for n in range(TRANSFER_LINES)]
        movements = [dict(m) for m in uow.tx.scan("stock_movements")]
        levels = {level["product_id"]: dict(level) for level in uow.tx.scan("stock_levels")}
    stock = {p["id"]: OPENING_STOCK for p in products}
    for index in range(past_movements):
        product = products[index % TRANSFER_LINES]
        stock[product["id"]] += 1
        movements.append({**movements[0], "id": new_id(), "product_id": product["id"], "delta": 1,
                          "stock_after": stock[product["id"]], "location_stock_after": stock[product["id"]],
                          "reason": "received"})
    for product in products:
        product["stock"] = levels[product["id"]]["quantity"] = stock[product["id"]]
    collections = {name: [] for name in COLLECTIONS}
    collections.update({"products": products, "stock_movements": movements, "locations": [shop, back],
                        "stock_levels": list(levels.values())})
    os.makedirs(folder, exist_ok=True)
    for name, records in collections.items():
        write_file_atomically(os.path.join(folder, f"{name}.json"), encode_snapshot(name, 1, records))
    return [p["id"] for p in products], shop["id"], back["id"]


def complete_one(store, product_ids, source, destination):
    """Plan a transfer of every product (not timed), then complete it: what completing costs."""
    body = {"from_location_id": source, "to_location_id": destination, "note": "bench",
            "lines": [{"product_id": pid, "quantity": 1} for pid in product_ids]}
    with store.unit_of_work() as uow:
        planned = locations.create_transfer(uow, body, USER_ID)
        uow.commit()
    start = time.perf_counter()
    with store.unit_of_work() as uow:
        locations.complete_transfer(uow, planned["id"], USER_ID)
        uow.commit()
    return time.perf_counter() - start


def bench_transfers(sizes=(100, 100_000), samples=200, warmup=10, out=sys.stdout):
    """Median cost of completing one 20-line transfer at each size of the ledger; {size: seconds}."""
    with tempfile.TemporaryDirectory(prefix="backroom-bench-") as root:
        stores = {}
        for size in sizes:
            folder = os.path.join(root, f"movements-{size}")
            started = time.perf_counter()
            built = build_transfer_store(folder, size)
            store = JsonFileStore(folder)
            stores[size] = (store, *built)
            print(f"  built a store with {size:>9,} past movements in {time.perf_counter() - started:5.1f} s",
                  file=out, flush=True)
        timings = {size: [] for size in sizes}
        for index in range(warmup + samples):
            for size in (list(sizes) if index % 2 == 0 else list(reversed(sizes))):
                store, product_ids, shop, back = stores[size]
                # there and back again, so neither location runs dry
                source, destination = (shop, back) if index % 2 == 0 else (back, shop)
                elapsed = complete_one(store, product_ids, source, destination)
                if index >= warmup:
                    timings[size].append(elapsed)
        medians = {size: statistics.median(values) for size, values in timings.items()}
        print(f"\ncompleting a {TRANSFER_LINES}-line transfer (service level, JSON journal store, fsync "
              f"included), median of {samples}:", file=out)
        for size in sizes:
            values = sorted(timings[size])
            p90 = values[int(len(values) * 0.9) - 1]
            print(f"  {size:>9,} past movements: {medians[size] * 1000:7.2f} ms   (p90 {p90 * 1000:.2f} ms)",
                  file=out)
        small, large = min(sizes), max(sizes)
        print(f"  ratio {large:,} / {small:,}: {medians[large] / medians[small]:.2f}   (target: about 1)",
              file=out, flush=True)
        for store, *_ in stores.values():
            store.close()
        return medians


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300, help="orders measured per store size")
    parser.add_argument("--past-orders", type=int, nargs=2, default=(100, 100_000), metavar=("SMALL", "LARGE"))
    parser.add_argument("--transfers-only", action="store_true",
                        help="only the figure for completing a 20-line transfer")
    args = parser.parse_args(argv)
    if not args.transfers_only:
        print("Benchmark: the cost of placing an order as the order history grows", flush=True)
        bench_orders(tuple(args.past_orders), samples=args.samples)
    print("\nBenchmark: the cost of completing a transfer as the ledger grows", flush=True)
    bench_transfers()


if __name__ == "__main__":
    main()
