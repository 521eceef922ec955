"""`make bench`: the cost of an order at 100 and 100,000 past orders, then the other benchmarks present."""
import importlib
import sys
import time

# (module, function, what it measures): run when the module is there; each is optional
OPTIONAL = [
    ("scripts.bench_scan", "bench_scan", "scanning a barcode in a phone photo"),
    ("scripts.bench_storage", "bench_backends", "the JSON and PostgreSQL backends side by side"),
    ("scripts.bench_http", "main", "HTTP: Backroom beside the Flask floor, the fsync floor and json-server"),
    ("scripts.bench_images", "main", "product images: GET .../thumb beside a file floor, a 4000 x 3000 upload"),
    ("scripts.bench_audit", "bench_audit", "POST /api/orders with 1,000,000 audit entries beside none"),
    ("scripts.bench_events", "main",
     "section 13: orders with webhooks, the webhook sender's rate, reads with 50 streams open"),
]


def run_optional(module_name, function_name, what, out=sys.stdout):
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # not written yet, or a dependency is missing here
        print(f"\n(skipped {what}: {exc})", file=out, flush=True)
        return
    print(f"\n== {what} ({module_name}.{function_name}) ==", file=out, flush=True)
    getattr(module, function_name)()


def main():
    started = time.perf_counter()
    from scripts import bench_orders
    print("== placing an order as the history grows (scripts.bench_orders) ==", flush=True)
    bench_orders.bench_orders()
    print("\n== completing a 20-line transfer as the ledger grows (scripts.bench_orders) ==", flush=True)
    bench_orders.bench_transfers()
    for module_name, function_name, what in OPTIONAL:
        run_optional(module_name, function_name, what)
    print(f"\nbenchmarks done in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
