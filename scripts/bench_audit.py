"""Benchmark (issue 13): POST /api/orders with 1,000,000 audit entries beside the same shop without them.

`python -m scripts.bench_audit` (run by `make bench`; `--quick`, or smaller `--orders` and
`--entries`, while developing):

1. takes the big shop of scripts/bench_shop.py (5,000 products, 100,000 orders; built once under
   .bench/ and shared with scripts/bench_http.py) and makes two working copies: one as it is
   (its audit log empty) and one whose audit log holds `--entries` entries (1,000,000), written
   straight into the JSON store's append-only segment files (logs/audit/*.jsonl) with the log's
   committed position in the counters snapshot, as the store itself would have left them;
2. serves both with the command line of `make serve` (scripts.serve: gunicorn, the workers of
   SHOP_WORKERS or 2 x cores + 1, the background process), measures the memory of every process
   of each once settled (PSS from /proc/<pid>/smaps_rollup, scripts/proc_memory.py);
3. loads POST /api/orders with wrk (16 connections) on each, in turns (without, with, with,
   without, ...) so the machine's drift falls on both; the audit log is on in both (each order writes its
   entry), the difference is only the million entries already there;
4. measures the memory again after the orders and prints the medians and the issue's targets:
   orders per second with the entries at least 0.9 x without, memory at most 1.1 x, each PASS or
   FAIL; the figures go to .bench/audit-latest.json.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time

from app.storage import codec
from app.storage.jsonfile import encode_snapshot
from app.storage.logfiles import SEGMENT_BYTES, position_id
from scripts import bench_http, bench_shop, proc_memory
from scripts.bench_http import BENCH, ORDER_BODY, clean_env, http, lua_file, say, wrk

ACTIONS = [("product.update", "product", "PATCH", "/api/products/{id}", 200),
           ("order.create", "order", "POST", "/api/orders", 201),
           ("order.pay", "order", "POST", "/api/orders/{id}/pay", 200),
           ("auth.login", "user", "POST", "/api/auth/login", 200),
           ("product.adjust_stock", "product", "POST", "/api/products/{id}/adjustments", 201),
           ("delivery.update", "delivery", "POST", "/api/deliveries/{id}/status", 200)]
RATIO_TARGET, MEMORY_TARGET = 0.9, 1.1


def write_log(data_dir, log, records, segment_bytes=SEGMENT_BYTES):
    """records (in commit order) as the committed entries of a log in data_dir's segment files,
    written as the store writes them; (segment, size, count): the log's committed position."""
    folder = os.path.join(data_dir, "logs", log)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    segment, size, count = 1, 0, 0
    handle = open(os.path.join(folder, f"{segment:06d}.jsonl"), "wb")
    try:
        for record in records:
            line = codec.dumps_line(record) + b"\n"
            if size and size + len(line) > segment_bytes:
                handle.close()
                segment, size = segment + 1, 0
                handle = open(os.path.join(folder, f"{segment:06d}.jsonl"), "wb")
            handle.write(line)
            size += len(line)
            count += 1
    finally:
        handle.close()
    return segment, size, count


def write_snapshot_records(data_dir, collection, records):
    """Put records (replacing those with their ids) into a collection's snapshot file."""
    path = os.path.join(data_dir, f"{collection}.json")
    try:
        with open(path, "rb") as fh:
            doc = codec.loads(fh.read())
    except FileNotFoundError:
        doc = {"tx": 0, "records": []}
    ids = {r["id"] for r in records}
    kept = [r for r in doc["records"] if r["id"] not in ids] + list(records)
    with open(path + ".bench.tmp", "wb") as fh:
        fh.write(encode_snapshot(collection, doc.get("tx", 0), sorted(kept, key=lambda r: r["id"])))
    os.replace(path + ".bench.tmp", path)


def commit_log_position(data_dir, log, position):
    """The log's committed position (segment, size, count) in the counters snapshot, so the store
    reads the entries as committed."""
    segment, size, count = position
    write_snapshot_records(data_dir, "counters", [
        {"id": position_id(log), "value": count, "segment": segment, "size": size}])


def write_audit_log(data_dir, entries, seed=13, segment_bytes=SEGMENT_BYTES):
    """`entries` audit entries of a year of shop life in data_dir's audit segments, and the log's
    position in its counters snapshot (so the store reads them as committed)."""
    rng = random.Random(seed)
    start_ms = int((time.time() - 365 * 86400) * 1000)
    step = max(1, 365 * 86400 * 1000 // max(entries, 1))
    actors = [{"user_id": bench_shop.ulid(start_ms, rng.getrandbits(80)), "username": name, "role": role}
              for name, role in (("manager", "manager"), ("maria", "clerk"), ("admin", "admin"))]

    def made():
        for n in range(entries):
            millis = start_ms + n * step
            action, kind, method, path, status = ACTIONS[n % len(ACTIONS)]
            resource_id = bench_shop.ulid(millis - 5000, rng.getrandbits(80))
            actor = actors[n % len(actors)]
            moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis / 1000)) + f".{millis % 1000:03d}Z"
            yield {"id": bench_shop.ulid(millis, rng.getrandbits(80)), "at": moment, "actor": actor,
                   "actor_id": actor["user_id"], "action": action, "resource_type": kind,
                   "resource_id": resource_id,
                   "changes": {"price": ["10.00", "12.50"]} if kind == "product" else {"status": ["pending", "paid"]},
                   "details": None, "method": method, "path": path.replace("{id}", resource_id),
                   "status": status, "ip": "203.0.113.7", "request_id": f"req_{n:024d}"}
    position = write_log(data_dir, "audit", made(), segment_bytes)
    commit_log_position(data_dir, "audit", position)
    return position[0]


def prepare(args):
    """(info, the shop without entries, the shop with them): fresh working copies for this run."""
    name = "shop-big" if (args.products, args.orders) == (5000, 100_000) else (
        f"shop-{args.products}p-{args.orders}o")
    source = os.path.join(BENCH, name)
    info = bench_shop.ensure_shop(source, args.products, args.orders, args.seed)
    run = os.path.join(BENCH, "run-audit")
    shutil.rmtree(run, ignore_errors=True)
    os.makedirs(run)
    without, with_entries = os.path.join(run, "without"), os.path.join(run, "with")
    shutil.copytree(source, without)
    shutil.copytree(source, with_entries)
    say(f"writing {args.entries:,} audit entries into {os.path.relpath(with_entries, bench_http.ROOT)}")
    started = time.monotonic()
    segments = write_audit_log(with_entries, args.entries)
    say(f"  {segments} segments in {time.monotonic() - started:.0f} s")
    os.sync()
    return info, without, with_entries


def memory(server):
    return proc_memory.summarise(server.processes_memory())


def main(argv=None):
    parser = argparse.ArgumentParser(description="POST /api/orders with and without a million audit entries.")
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s after a 1 s warm-up")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 3, 1
    if not bench_http.ensure_wrk():
        return 2
    os.makedirs(os.path.join(BENCH, "logs"), exist_ok=True)
    info, without, with_entries = prepare(args)
    with open(os.path.join(without, "products.json"), "rb") as fh:
        ids = [p["id"] for p in json.load(fh)["records"] if p["status"] == "active"]
    servers, scripts, results = {}, {}, {"rps": {"without": [], "with": []}, "memory": {}}
    try:
        for label, folder in (("without", without), ("with", with_entries)):
            env = clean_env(SHOP_DATA_DIR=folder, SHOP_BIND="127.0.0.1:{port}", SHOP_DEMO_DATA="0",
                            SHOP_ASSISTANT_PER_MINUTE="0")
            say(f"starting Backroom on the shop {label} the audit entries")
            server, ready, settled = bench_http._start_backroom(f"backroom-audit-{label}", env)
            servers[label] = server
            say(f"  ready after {ready:.1f} s, every worker loaded after {settled or 0:.1f} s")
            results["memory"][label] = {"settled": memory(server)}
            manager = info["manager"]
            status, body = http("POST", server.base + "/api/auth/login",
                                {"username": manager["username"], "password": manager["password"]})
            if status != 200:
                raise RuntimeError(f"login failed on the shop {label} the entries: {status} {body}")
            scripts[label] = lua_file(f"audit_post_{label}", ids, None, "POST", ORDER_BODY,
                                      {"Content-Type": "application/json",
                                       "Authorization": f"Bearer {body['access_token']}"})
            if args.warmup:
                wrk(server.base + "/api/orders", scripts[label], args.warmup, args.connections, args.threads)
        for round_number in range(args.rounds):
            # ABBA: each shop goes first in every other round, so neither always follows the other
            for label in (("without", "with") if round_number % 2 == 0 else ("with", "without")):
                server = servers[label]
                http("GET", server.base + "/healthz", timeout=120)
                run = wrk(server.base + "/api/orders", scripts[label], args.duration, args.connections,
                          args.threads)
                results["rps"][label].append(run["rps"])
                say(f"  POST /api/orders {label} the entries: {run['rps']:.1f} req/s "
                    f"(p99 {run['p99_us'] / 1000:.1f} ms, errors {run['errors']})")
        for label, server in servers.items():
            http("GET", server.base + "/healthz", timeout=120)
            results["memory"][label]["after_orders"] = memory(server)
    finally:
        for server in servers.values():
            server.stop()
    return report(args, results)


def report(args, results):
    rps = {label: statistics.median(runs) for label, runs in results["rps"].items()}
    ratio = rps["with"] / rps["without"] if rps["without"] else 0.0
    lines = [f"POST /api/orders at {args.orders:,} past orders, audit log on:",
             f"  without audit entries  {rps['without']:8.1f} req/s  rounds {results['rps']['without']}",
             f"  with {args.entries:,} entries  {rps['with']:8.1f} req/s  rounds {results['rps']['with']}",
             f"  ratio {ratio:.2f} x (target at least {RATIO_TARGET} x): "
             f"{'PASS' if ratio >= RATIO_TARGET else 'FAIL'}"]
    checks = {"orders_ratio": {"value": round(ratio, 3), "target": RATIO_TARGET, "pass": ratio >= RATIO_TARGET}}
    for moment in ("settled", "after_orders"):
        pss = {label: results["memory"][label][moment]["all"]["Pss"] for label in ("without", "with")}
        mem_ratio = pss["with"] / pss["without"] if pss["without"] else 0.0
        ok = mem_ratio <= MEMORY_TARGET
        checks[f"memory_{moment}"] = {"value": round(mem_ratio, 3), "target": MEMORY_TARGET, "pass": ok}
        lines.append(f"memory {moment}: PSS of every process {pss['without'] / 1024:.0f} MiB without, "
                     f"{pss['with'] / 1024:.0f} MiB with the entries: {mem_ratio:.2f} x "
                     f"(target at most {MEMORY_TARGET} x): {'PASS' if ok else 'FAIL'}")
    print("\n".join(lines), flush=True)
    with open(os.path.join(BENCH, "audit-latest.json"), "w") as fh:
        json.dump({"args": vars(args), "results": results, "checks": checks}, fh, indent=2)
    return 0 if all(c["pass"] for c in checks.values()) else 1


def bench_audit():
    """make bench's entry (scripts/bench.py): the full-size run."""
    main([])


if __name__ == "__main__":
    sys.exit(main())
