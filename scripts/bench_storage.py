"""`python -m scripts.bench_storage`: placing orders and reading products through the services, JSON vs PostgreSQL.

Each backend gets a scratch store (a temp folder; a temp schema in SHOP_DATABASE_URL's database,
or SHOP_TEST_DATABASE_URL's, dropped afterwards), a few products, then one-line orders placed
one unit of work at a time (orders.place_order, as POST /api/orders does) and products read
by id in read-only units of work; then (issue 18) a catalog of --list-products more products
listed as a client pages through it: a page of 50 active products at a random offset, sorted by
price at a random offset, and kind=book&low_stock=true. One process, no HTTP: this measures the
storage layer.

    python -m scripts.bench_storage [--orders 300] [--reads 3000] [--list-products 2000] [--lists 300]
"""
import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

from app.services import catalog, orders
from app.storage.base import Query, new_id
from app.storage.jsonfile import JsonFileStore
from app.storage.postgres import PostgresStore, connect, where

from .migrate import shop_settings

PRODUCTS = 20


def _timed(action, times):
    samples = []
    for n in range(times):
        start = time.perf_counter()
        action(n)
        samples.append(time.perf_counter() - start)
    return samples


def _stats(samples):
    ordered = sorted(samples)
    return {"median_ms": statistics.median(ordered) * 1000,
            "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000,
            "per_second": len(ordered) / sum(ordered) if sum(ordered) else float("inf")}


def bench_store(store, n_orders, n_reads, n_list_products=0, n_lists=0):
    """{"place order": stats, "read product": stats} for one store."""
    with store.unit_of_work() as uow:
        ids = [catalog.create_product(uow, {"sku": f"BENCH-{i}", "title": f"Bench product {i}",
                                            "price": "9.99", "stock": 1_000_000})["id"] for i in range(PRODUCTS)]
        uow.commit()

    def place(n):
        with store.unit_of_work() as uow:
            orders.place_order(uow, {"items": [{"product_id": ids[n % PRODUCTS], "quantity": 1}]}, None, "EUR")
            uow.commit()

    def read(n):
        with store.reader() as uow:
            uow.products.get(ids[n % PRODUCTS])

    place(0)  # warm caches and connections
    read(0)
    results = {"place order": _stats(_timed(place, n_orders)), "read product": _stats(_timed(read, n_reads))}
    if n_list_products and n_lists:
        results.update(bench_lists(store, n_list_products, n_lists))
    return results


LIST_QUERIES = {
    "list page": lambda offset: Query(filters={"status": "active"}, sort=[("id", True)], offset=offset),
    "list by price": lambda offset: Query(filters={"status": "active"}, sort=[("price", False)], offset=offset),
    "list low books": lambda offset: Query(filters={"status": "active", "kind": "book", "low_stock": True},
                                           sort=[("id", True)], offset=offset % 200),
}


def bench_lists(store, count, times):
    """{figure: stats} of pages of 50 at random offsets over `count` more products."""
    rng = random.Random(18)
    with store.unit_of_work() as uow:
        for n in range(count):
            book = n % 2 == 0
            uow.products.add({"id": new_id(), "sku": f"LIST-{n}", "title": f"Listed product {rng.randrange(10 ** 6)}",
                              "kind": "book" if book else "general", "author": None, "isbn": None,
                              "barcode": None, "description": None, "category": None,
                              "price": f"{rng.randint(100, 9999) / 100:.2f}", "cost": None,
                              "stock": rng.randint(0, 40), "low_stock_threshold": 5, "status": "active"})
        uow.commit()
    offsets = [rng.randrange(0, max(count - 50, 1)) for _ in range(times)]
    results = {}
    for name, make in LIST_QUERIES.items():
        def page(n, make=make):
            with store.reader() as uow:
                uow.products.list(make(offsets[n]))
        page(0)
        results[name] = _stats(_timed(page, times))
    return results


def bench_backends(n_orders=300, n_reads=3000, database_url=None, out=None, n_list_products=2000, n_lists=300):
    """Run both backends and print a side-by-side table; {backend: results or a reason it was skipped}."""
    out = out if out is not None else sys.stdout
    settings = shop_settings()
    url = database_url or settings.get("DATABASE_URL") or settings.get("TEST_DATABASE_URL")
    results = {}

    folder = tempfile.mkdtemp(prefix="backroom-bench-")
    try:
        store = JsonFileStore(os.path.join(folder, "data"))
        results["json"] = bench_store(store, n_orders, n_reads, n_list_products, n_lists)
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    if not url:
        results["postgres"] = "skipped: set SHOP_DATABASE_URL (or SHOP_TEST_DATABASE_URL)"
    else:
        schema = f"backroom_bench_{os.getpid()}"
        store = None
        try:
            store = PostgresStore(url, schema)
            results["postgres"] = bench_store(store, n_orders, n_reads, n_list_products, n_lists)
        except Exception as exc:  # noqa: BLE001 - the table says why
            results["postgres"] = f"failed at {where(url)}: {exc}"
        finally:
            if store is not None:
                store.close()
            try:
                conn = connect(url, autocommit=True)
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                conn.close()
            except Exception:  # noqa: BLE001 - nothing to clean when the server is away
                pass

    print_table(results, n_orders, n_reads, out)
    return results


def print_table(results, n_orders, n_reads, out):
    names = list(results)
    print(f"Storage benchmark: {n_orders} one-line orders, {n_reads} product reads, one process", file=out)
    print(f"{'':40}" + "".join(f"{name:>14}" for name in names), file=out)
    rows = [("place order, median ms", "place order", "median_ms", "{:.2f}"),
            ("place order, p95 ms", "place order", "p95_ms", "{:.2f}"),
            ("orders per second", "place order", "per_second", "{:.0f}"),
            ("read product, median ms", "read product", "median_ms", "{:.3f}"),
            ("read product, p95 ms", "read product", "p95_ms", "{:.3f}"),
            ("reads per second", "read product", "per_second", "{:.0f}"),
            *((f"{name}, median ms", name, "median_ms", "{:.3f}") for name in LIST_QUERIES),
            *((f"{name}, p95 ms", name, "p95_ms", "{:.3f}") for name in LIST_QUERIES)]
    for label, op, key, fmt in rows:
        cells = []
        for name in names:
            result = results[name]
            cells.append(fmt.format(result[op][key]) if isinstance(result, dict) and op in result else "-")
        print(f"{label:40}" + "".join(f"{c:>14}" for c in cells), file=out)
    for name in names:
        if not isinstance(results[name], dict):
            print(f"{name}: {results[name]}", file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_storage", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--list-products", type=int, default=2000)
    parser.add_argument("--lists", type=int, default=300)
    args = parser.parse_args(argv)
    bench_backends(args.orders, args.reads, n_list_products=args.list_products, n_lists=args.lists)
    return 0


if __name__ == "__main__":
    sys.exit(main())
