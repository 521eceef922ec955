"""HTTP benchmark: Backroom beside the framework floor, the durable-write floor and json-server.

`python -m scripts.bench_http` (`--quick` while developing) does, in about five minutes:

1. builds the big shop (scripts/bench_shop.py: 5,000 products, 100,000 orders with their
   movements and deliveries) and the same catalog with no orders, once, under .bench/, and
   copies both to fresh working folders for this run;
2. serves, one after another on free 127.0.0.1 ports, each with the command line of `make serve`
   (gunicorn, sync workers, SHOP_WORKERS or 2 x cores + 1 of them, access log on):
   the framework floor and the durable-write floor (scripts/bench_floor.py), json-server
   0.17.4 (npm, under .bench/node) on the same products and orders, and Backroom itself,
   started by `python -m scripts.serve` exactly as `make serve` starts it;
3. loads each figure with wrk (16 connections, 2 threads, Lua scripts under .bench/lua for
   random ids, bodies and the bearer token): a warm-up, then several rounds; the median
   round is quoted (requests/s counts 2xx/3xx answers only; p50 and p99 from wrk); the floor
   servers stay up, idle, and the three figures measured against a floor are measured again with
   the floor's rounds and Backroom's taken in turns (Bench.alternate);
4. prints the table and the issue's ratios, each PASS or FAIL against its target, with
   Backroom's start-up time on the big store and peak RSS (VmHWM) per worker, and keeps the
   results in .bench/latest.json and .bench/latest.md;
5. with them, the memory of Backroom's processes on the big store (the gunicorn master, every
   worker and any other process the server started; PSS, RSS, Private_Dirty from
   /proc/<pid>/smaps_rollup, see scripts/proc_memory.py), summed and per worker, once every
   worker has loaded it and again right after the POST /api/orders figure, beside the figures
   of an earlier store kept in scripts/bench_memory_baseline.json ("before (<commit>)").

`--only memory` measures the memory alone in under a minute: Backroom on the big store, the
memory once settled, the POST /api/orders figure (same warm-up and rounds), the memory again;
no floors, json-server or empty store. `--save-memory-baseline` writes that run's figures to
scripts/bench_memory_baseline.json, with the commit measured, for later runs to print beside theirs.

`--profile` adds, after each Backroom figure, one round under py-spy (`pip install py-spy`
into .venv; not a requirement of the app) and prints where the workers spent their time.
"""
import argparse
import atexit
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from scripts import bench_shop, proc_memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, ".bench")
JSON_SERVER_VERSION = "0.17.4"
JSON_SERVER = os.path.join(BENCH, "node", "node_modules", ".bin", "json-server")
# the memory figures of an earlier store, printed beside this run's (`--only memory --save-memory-baseline`)
MEMORY_BASELINE = os.path.join(ROOT, "scripts", "bench_memory_baseline.json")
WRK_TIMEOUT = "10s"

# figure key -> what the table calls it
LABELS = {
    "floor.id": "floor        GET /products/{id}",
    "floor.list": "floor        GET /products?limit=50",
    "floor.write": "durable floor POST /write (1 KiB + fsync)",
    "js.id": "json-server  GET /products/{id}",
    "js.list": "json-server  GET /products?_limit=50",
    "js.post_empty": "json-server  POST /orders (empty)",
    "js.post_big": "json-server  POST /orders (100k orders)",
    "bk.id": "Backroom     GET /api/products/{id}",
    "bk.list": "Backroom     GET /api/products?limit=50",
    "bk.q": "Backroom     GET /api/products?q=<author>",
    "bk.ask": "Backroom     POST /api/assistant/messages (built-in)",
    "bk.orders": "Backroom     GET /api/orders?limit=50 (auth)",
    "bk.post": "Backroom     POST /api/orders (100k orders)",
    "bk.post_empty": "Backroom     POST /api/orders (empty store)",
    "bk.sf_q": "Backroom     GET /api/storefront/products?q=<author> (key)",
    "bk.sf_post": "Backroom     POST /api/storefront/orders (100k orders, key)",
    # issue 18: lists as clients ask for them, each request a page wrk picks at random
    "floor.page": "floor        GET /products?offset=<random>",
    "floor.price": "floor        GET /products?sort=price&offset=<random>",
    "floor.title": "floor        GET /products?sort=-title&offset=<random>",
    "js.page": "json-server  GET /products?_start=<random>",
    "js.price": "json-server  GET /products?_sort=price&_start=<random>",
    "js.title": "json-server  GET /products?_sort=title&_order=desc&_start=<random>",
    "js.search": "json-server  GET /products?q=<word>",
    "js.ostatus": "json-server  GET /orders?status=<status>&_start=<random>",
    **{f"{prefix}.{kind}": f"{who:12} GET /api/{what}{tail}"
       for prefix, who, tail in (("bk", "Backroom", ""), ("nc", "Backroom", " (no answer cache)"),
                                 ("k20", "Backroom", " (20k products, no answer cache)"))
       for kind, what in (("page", "products?offset=<random>"), ("price", "products?sort=price&offset=<random>"),
                          ("title", "products?sort=-title&offset=<random>"), ("search", "products?q=<word>"),
                          ("filter", "products?kind=book&low_stock=true&offset=<random>"),
                          ("ostatus", "orders?status=<status>&offset=<random>"),
                          ("osince", "orders?since=<date>&offset=<random>"))
       if prefix == "bk" or not kind.startswith("o")},
    "nc.list": "Backroom     GET /api/products?limit=50 (one page, no answer cache)",
    "bk.dashboard": "Backroom     GET /api/dashboard (100k orders, 1 connection)",
    "bk.sales": "Backroom     GET /api/reports/sales?group_by=day (1 connection)",
}
# section 15's reports: p99 on one worker while the others idle (one connection), and the target
REPORT_FIGURES = {"bk.dashboard": "/api/dashboard", "bk.sales": "/api/reports/sales?group_by=day"}
REPORT_P99_MS = 250.0

LUA_PRELUDE = r"""
-- written by scripts/bench_http.py
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  for i = 1, (tid or 0) * 13 do math.random() end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%.0f,"duration_us":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,' ..
    '"status":%.0f,"timeout":%.0f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,' ..
    '"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


# ---- tools ---------------------------------------------------------------------

def ensure_wrk():
    if shutil.which("wrk"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk with apt-get", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env)
            subprocess.run(["apt-get", "install", "-y", "wrk"], env=env)
        if shutil.which("wrk"):
            return True
    print("bench: wrk is missing; install it with:  sudo apt-get install -y wrk", file=sys.stderr)
    return False


def ensure_json_server():
    if os.path.exists(JSON_SERVER):
        return True
    if not shutil.which("npm"):
        print("bench: npm is missing, so json-server is skipped (Debian: sudo apt-get install -y npm)",
              file=sys.stderr)
        return False
    print(f"bench: npm install json-server@{JSON_SERVER_VERSION} into .bench/node", file=sys.stderr)
    result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix",
                             os.path.join(BENCH, "node"), f"json-server@{JSON_SERVER_VERSION}"],
                            stdout=subprocess.DEVNULL)
    return result.returncode == 0 and os.path.exists(JSON_SERVER)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10.0):
    """(status, parsed JSON or text) of one request; never raises for an HTTP error status."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def workers():
    configured = os.environ.get("SHOP_WORKERS")
    return int(configured) if configured else 2 * (os.cpu_count() or 1) + 1


class _Exec(Exception):
    def __init__(self, argv):
        super().__init__("exec")
        self.argv = argv


def gunicorn_command(bind, target):
    """scripts/serve.py's own gunicorn command line, with another bind address and WSGI target.

    serve.main() is run with create_app and os.execv stubbed, so the floors always get exactly
    the options `make serve` gives Backroom, whatever they become.
    """
    from types import SimpleNamespace
    from scripts import serve

    store = SimpleNamespace(close=lambda: None)
    config = {"BIND": bind, "WORKERS": workers(), "DATABASE_URL": None, "DATA_DIR": "-"}
    fake_app = SimpleNamespace(config=config, extensions={"backroom.store": store})
    real_create, real_execv, real_stderr = serve.create_app, os.execv, sys.stderr

    def fake_execv(path, argv):
        raise _Exec(list(argv))
    serve.create_app, os.execv, sys.stderr = (lambda: fake_app), fake_execv, open(os.devnull, "w")
    try:
        serve.main()
    except _Exec as exc:
        argv = exc.argv
    else:
        raise RuntimeError("scripts/serve.py did not exec gunicorn")
    finally:
        sys.stderr.close()
        serve.create_app, os.execv, sys.stderr = real_create, real_execv, real_stderr
    if argv[-1] != "wsgi:app":
        raise RuntimeError(f"scripts/serve.py's gunicorn command no longer ends in wsgi:app: {argv}")
    return argv[:-1] + [target]


def clean_env(**extra):
    """This environment without SHOP_* settings (a stray SHOP_DATABASE_URL would switch backends)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
    if os.environ.get("SHOP_WORKERS"):
        env["SHOP_WORKERS"] = os.environ["SHOP_WORKERS"]
    env.update(extra)
    return env


class StartFailed(RuntimeError):
    """A server exited before all its workers were up."""


def say(message):
    print(f"bench [{time.monotonic() - T0:6.1f}s] {message}", file=sys.stderr, flush=True)


T0 = time.monotonic()


# ---- servers ---------------------------------------------------------------------

_RUNNING = set()  # the Servers started and not yet stopped


def _stop_running():
    for server in list(_RUNNING):
        server.stop()


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the figures' finally blocks, then atexit


def _stop_servers_at_exit():
    """Servers run in sessions of their own (a Ctrl-C in the terminal does not reach them): a
    run that ends early, by an error or a SIGTERM (`timeout`), stops those it left running."""
    if getattr(_stop_servers_at_exit, "done", False):
        return
    _stop_servers_at_exit.done = True
    atexit.register(_stop_running)
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):
        signal.signal(signal.SIGTERM, _on_sigterm)


class Server:
    """One server process (group) this run started; stopped by its own pid, never by name."""

    def __init__(self, name, command, env, cwd=ROOT):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.env = {k: v.replace("{port}", str(self.port)) for k, v in env.items()}
        self.cwd = cwd
        self.proc = None
        self.started = None
        self.exec_at = None
        self.log_path = os.path.join(BENCH, "logs", f"{name}.log")

    def start(self):
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.log = open(self.log_path, "wb")
        self.started = time.monotonic()
        _stop_servers_at_exit()
        self.proc = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        _RUNNING.add(self)
        return self

    def wait_ready(self, path, timeout=300.0):
        """Seconds from launch until `path` answers 200; notes when scripts.serve exec'd gunicorn."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartFailed(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            if self.exec_at is None:
                try:
                    with open(f"/proc/{self.proc.pid}/cmdline", "rb") as fh:
                        if b"gunicorn" in fh.read():
                            self.exec_at = time.monotonic()
                except OSError:
                    pass
            try:
                status, _ = http("GET", self.base + path, timeout=2.0)
                if status == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} was not ready after {timeout:.0f}s; see {self.log_path}")

    def children(self):
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as fh:
                return [int(pid) for pid in fh.read().split()]
        except OSError:
            return []

    def cpu_ticks(self):
        total = 0
        for pid in [self.proc.pid] + self.children():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
        return total

    def wait_settled(self, expected_children, timeout=300.0):
        """Seconds from launch until every worker is up and idle (all have loaded the store)."""
        deadline = time.monotonic() + timeout
        last = self.cpu_ticks()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if self.proc.poll() is not None:
                raise StartFailed(f"{self.name} exited with {self.proc.returncode} while its workers "
                                  f"were starting; see {self.log_path}")
            now = self.cpu_ticks()
            if len(self.children()) >= expected_children and now - last <= 2:
                return time.monotonic() - self.started
            last = now
        return None

    def processes_memory(self):
        """PSS, RSS and Private_Dirty of this server's every process (scripts/proc_memory.py):
        the one launched (gunicorn's master), its workers and any other descendant."""
        try:
            with open(self.log_path, "rb") as fh:
                booted = proc_memory.worker_pids(fh.read())
        except OSError:
            booted = set()
        return proc_memory.snapshot(self.proc.pid, booted)

    def memory(self):
        """{pid: (VmHWM kB, VmRSS kB)} of the workers (gunicorn's children)."""
        out = {}
        for pid in self.children():
            fields = {}
            try:
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        key, _, value = line.partition(":")
                        if key in ("VmHWM", "VmRSS"):
                            fields[key] = int(value.split()[0])
            except OSError:
                continue
            out[pid] = (fields.get("VmHWM", 0), fields.get("VmRSS", 0))
        return out

    def stop(self):
        _RUNNING.discard(self)
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this run created for it
            self.proc.wait()
        self.log.close()


# ---- load ------------------------------------------------------------------------

# issue 18: a list figure's kind -> the floor figure serving as many stored records per page
LIST_KINDS = ("page", "price", "title", "search", "filter")
ORDER_LIST_KINDS = ("ostatus", "osince")
LIST_FLOOR = {"page": "floor.page", "price": "floor.price", "title": "floor.title", "search": "floor.page",
              "filter": "floor.page", "ostatus": "floor.page", "osince": "floor.page"}
LIST_PATHS = 400  # different pages per figure


def _offsets(rng, total, count=LIST_PATHS, limit=50):
    return [rng.randrange(0, max(total - limit, 1)) for _ in range(count)]


def search_words(products, rng, count=100):
    """Words a search box gets: authors' surnames and title words, lower-cased, at random."""
    words = {p["author"].split()[-1].lower() for p in products if p.get("author")}
    words |= {w.lower() for p in products for w in (p.get("title") or "").split() if len(w) >= 4 and w.isalpha()}
    words = sorted(words)
    return rng.sample(words, min(count, len(words)))


def product_list_paths(products, seed=18):
    """kind -> (Backroom's paths, the floor's paths, json-server's paths or None): the same pages
    asked of each, picked at random per request (anonymous: Backroom lists active products)."""
    rng = random.Random(seed)
    active = [p for p in products if p["status"] == "active"]
    page, by_price, by_title = (_offsets(rng, len(active)) for _ in range(3))
    words = search_words(active, rng)
    low_books = sum(1 for p in active if p.get("kind") == "book"
                    and p["stock"] <= p.get("low_stock_threshold", 0))
    filtered = _offsets(rng, low_books)
    floor_page = [f"/products?limit=50&offset={o}" for o in page]
    return {
        "page": ([f"/api/products?limit=50&offset={o}" for o in page], floor_page,
                 [f"/products?_start={o}&_limit=50" for o in page]),
        "price": ([f"/api/products?sort=price&limit=50&offset={o}" for o in by_price],
                  [f"/products?sort=price&limit=50&offset={o}" for o in by_price],
                  [f"/products?_sort=price&_start={o}&_limit=50" for o in by_price]),
        "title": ([f"/api/products?sort=-title&limit=50&offset={o}" for o in by_title],
                  [f"/products?sort=-title&limit=50&offset={o}" for o in by_title],
                  [f"/products?_sort=title&_order=desc&_start={o}&_limit=50" for o in by_title]),
        "search": ([f"/api/products?q={quote(w)}&limit=50" for w in words], floor_page,
                   [f"/products?q={quote(w)}&_limit=50" for w in words]),
        "filter": ([f"/api/products?kind=book&low_stock=true&limit=50&offset={o}" for o in filtered],
                   floor_page, None),
    }


def order_status_counts(data_dir):
    """{status: how many orders have it} in a shop's orders.json, read as text (no parse of 100k orders)."""
    with open(os.path.join(data_dir, "orders.json"), "rb") as fh:
        found = re.findall(rb'"status":\s*"(\w+)",\s*"payment_status"', fh.read())
    return {k.decode(): v for k, v in Counter(found).items()}


def order_status_paths(counts, seed=18):
    """(Backroom's paths, json-server's paths): pages of orders by status, the statuses with pages."""
    rng = random.Random(seed)
    statuses = [s for s, n in sorted(counts.items()) if n >= 100]
    picks = [(s, rng.randrange(0, counts[s] - 50)) for s in (rng.choice(statuses) for _ in range(LIST_PATHS))]
    return ([f"/api/orders?status={s}&limit=50&offset={o}" for s, o in picks],
            [f"/orders?status={s}&_start={o}&_limit=50" for s, o in picks])


def lua_paths(name, paths, headers=None):
    """A wrk script asking for one of these paths (ASCII, already quoted) at random per request."""
    lines = [LUA_PRELUDE, 'wrk.method = "GET"']
    for key, value in (headers or {}).items():
        lines.append(f'wrk.headers["{key}"] = "{value}"')
    lines.append("local paths = {" + ",".join(f'"{p}"' for p in paths) + "}")
    lines.append("local n = #paths")
    lines.append("request = function()\n  return wrk.format(nil, paths[math.random(n)])\nend")
    os.makedirs(os.path.join(BENCH, "lua"), exist_ok=True)
    path = os.path.join(BENCH, "lua", f"{name}.lua")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path

def lua_file(name, ids=None, path_prefix=None, method="GET", body=None, headers=None):
    """A wrk script: random ids from the list for `path_prefix .. id` and/or the body's ID."""
    lines = [LUA_PRELUDE, f'wrk.method = "{method}"']
    for key, value in (headers or {}).items():
        lines.append(f'wrk.headers["{key}"] = "{value}"')
    if ids:
        lines.append("local ids = {" + ",".join(f'"{i}"' for i in ids) + "}")
        lines.append("local n = #ids")
        path = f'"{path_prefix}" .. id' if path_prefix else "nil"
        if body:
            head, tail = body.split("ID")
            make_body = f"'{head}' .. id .. '{tail}'"
        else:
            make_body = "nil"
        lines.append("request = function()\n  local id = ids[math.random(n)]\n"
                     f"  return wrk.format(nil, {path}, nil, {make_body})\nend")
    elif body:
        lines.append(f"wrk.body = '{body}'")
    os.makedirs(os.path.join(BENCH, "lua"), exist_ok=True)
    path = os.path.join(BENCH, "lua", f"{name}.lua")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def wrk(url, script, seconds, connections, threads):
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", WRK_TIMEOUT,
               "--latency", "-s", script, url]
    result = subprocess.run(command, capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            data = json.loads(line[len("BENCH_RESULT "):])
            seconds_run = data["duration_us"] / 1e6
            ok = data["requests"] - data["status"]
            data["rps"] = ok / seconds_run if seconds_run else 0.0
            data["errors"] = data["status"] + data["connect"] + data["read"] + data["write"] + data["timeout"]
            return data
    raise RuntimeError(f"wrk gave no result for {url}:\n{result.stdout}\n{result.stderr}")


class Bench:
    def __init__(self, args):
        self.args = args
        self.results = {}
        self.notes = []
        self.profiles = {}
        self.floor_targets = {}  # floor key -> (server, path, wrk script), kept up for alternating rounds
        self.pss = {}  # moment ("settled", "after_orders") -> Backroom's processes' memory then

    def wanted(self, key):
        return not self.args.only or any(key.startswith(prefix) for prefix in self.args.only)

    def figure(self, key, server, path, script, rounds=None, seconds=None, warmup=None, drain="/healthz",
               profile=False, connections=None, threads=None):
        if not self.wanted(key):
            return
        args = self.args
        rounds = rounds or args.rounds
        seconds = seconds or args.duration
        warmup = args.warmup if warmup is None else warmup
        url = server.base + path
        connections, threads = connections or args.connections, threads or args.threads
        say(f"{LABELS[key]} ...")
        if warmup:
            wrk(url, script, warmup, connections, threads)
        runs = []
        for _ in range(rounds):
            if drain:
                http("GET", server.base + drain, timeout=120)
            runs.append(wrk(url, script, seconds, connections, threads))
        result = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in runs) / 1000,
            "errors": sum(r["errors"] for r in runs),
            "rounds": [round(r["rps"], 1) for r in runs],
            "seconds": seconds,
        }
        self.results[key] = result
        say(f"  {result['rps']:.1f} req/s, p50 {result['p50_ms']:.1f} ms, "
            f"p99 {result['p99_ms']:.1f} ms, errors {result['errors']}")
        if profile and args.profile:
            if drain:
                http("GET", server.base + drain, timeout=120)
            self.profiles[key] = profile_round(key, server, url, script, seconds, args)

    # ---- the servers, one at a time ----

    def floors(self, products_file, ids):
        env = clean_env(BENCH_PRODUCTS_FILE=products_file)
        if any(self.wanted(k) for k in ("floor.id", "floor.list", "floor.page", "floor.price", "floor.title")):
            server = Server("floor", gunicorn_command("127.0.0.1:{port}", "scripts.bench_floor:framework_app()"),
                            env).start()
            try:
                server.wait_ready("/healthz")
                server.wait_settled(workers())
                by_id, plain = lua_file("floor_id", ids, "/products/"), lua_file("plain")
                self.figure("floor.id", server, "/products/x", by_id)
                self.figure("floor.list", server, "/products?limit=50", plain)
                for kind in ("page", "price", "title"):
                    paths = self.list_paths[kind][1]
                    self.figure(f"floor.{kind}", server, paths[0], lua_paths(f"floor_{kind}", paths))
            except BaseException:
                server.stop()
                raise
            self.floor_targets["floor.id"] = (server, "/products/x", by_id)
            self.floor_targets["floor.list"] = (server, "/products?limit=50", plain)
        if self.wanted("floor.write"):
            target = os.path.join(BENCH, "run", "durable.log")
            if os.path.exists(target):
                os.unlink(target)
            env = clean_env(BENCH_WRITE_FILE=target)
            server = Server("durable-floor",
                            gunicorn_command("127.0.0.1:{port}", "scripts.bench_floor:durable_app()"), env).start()
            try:
                server.wait_ready("/healthz")
                server.wait_settled(workers())
                write = lua_file("floor_write", ids, None, "POST", ORDER_BODY,
                                 {"Content-Type": "application/json"})
                self.figure("floor.write", server, "/write", write)
            except BaseException:
                server.stop()
                raise
            self.floor_targets["floor.write"] = (server, "/write", write)

    def stop_floors(self):
        """The floor servers, kept up (idle) until Backroom's alternating rounds are done."""
        for server in {id(t[0]): t[0] for t in self.floor_targets.values()}.values():
            server.stop()
        self.floor_targets = {}

    def alternate(self, key, server, path, script, floor_key):
        """Rounds of a Backroom figure and of its floor taken in turns (floor, Backroom, floor, ...),
        so that a machine speeding up or slowing down during the run moves both alike; the ratio
        of their medians is printed beside the one from the figures measured apart."""
        kept = self.floor_targets.get(floor_key)
        if kept is None or not self.wanted(key):
            return
        floor_server, floor_path, floor_script = kept
        args = self.args
        say(f"{LABELS[key].strip()} and its floor, rounds in turns ...")
        ours, floors = [], []
        for _ in range(args.rounds):
            http("GET", floor_server.base + "/healthz", timeout=120)
            floors.append(wrk(floor_server.base + floor_path, floor_script, args.duration,
                              args.connections, args.threads)["rps"])
            http("GET", server.base + "/healthz", timeout=120)
            ours.append(wrk(server.base + path, script, args.duration, args.connections,
                            args.threads)["rps"])
        ratio = statistics.median(ours) / statistics.median(floors) if statistics.median(floors) else None
        self.results["alt." + key] = {"floor_key": floor_key, "backroom_rounds": [round(x, 1) for x in ours],
                                      "floor_rounds": [round(x, 1) for x in floors], "ratio": ratio}
        say(f"  Backroom {' '.join(f'{x:.0f}' for x in ours)} req/s against floor "
            f"{' '.join(f'{x:.0f}' for x in floors)}: " + (f"{ratio:.2f} x" if ratio else "n/a"))

    def measure_memory(self, moment, server, orders):
        processes = server.processes_memory()
        summary = proc_memory.summarise(processes)
        earlier = [key for key in self.results if key.startswith("bk.")]  # figures this server served
        self.pss[moment] = {"orders": orders, "after_figures": earlier, "summary": summary,
                            "processes": processes}
        worker = summary["per_worker"]
        say(f"Backroom memory {moment} ({orders} orders): PSS {summary['all']['Pss'] / 1024:.0f} MiB in "
            f"{summary['processes']} processes"
            + (f", {worker['Pss']['mean'] / 1024:.0f} MiB a worker" if worker else ""))

    def json_server(self, db_file, label, figures, ids):
        if not any(self.wanted(k) for k in figures):
            return
        command = [JSON_SERVER, "--port", "{port}", "--host", "127.0.0.1", os.path.basename(db_file)]
        server = Server(f"json-server-{label}", command, clean_env(), cwd=os.path.dirname(db_file)).start()
        kept = False
        try:
            started = server.wait_ready("/products?_limit=1")
            self.notes.append(f"json-server ({label}) answered {started:.1f} s after launch")
            post = lua_file("js_post", ids, None, "POST", ORDER_BODY, {"Content-Type": "application/json"})
            for key in figures:
                if key == "js.id":
                    self.figure(key, server, "/products/x", lua_file("js_id", ids, "/products/"),
                                drain="/products/" + ids[0])
                elif key == "js.list":
                    self.figure(key, server, "/products?_limit=50", lua_file("plain"),
                                drain="/products/" + ids[0])
                elif key[3:] in self.list_paths and self.list_paths[key[3:]][2]:
                    paths = self.list_paths[key[3:]][2]
                    script = lua_paths(key.replace(".", "_"), paths)
                    self.figure(key, server, paths[0], script, drain="/products/" + ids[0])
                    if key == "js.page" and self.wanted("nc.page"):
                        # kept up, idle, until the random pages without the answer cache are
                        # measured in turns with it (stop_floors stops it)
                        self.floor_targets["js.page"] = (server, paths[0], script)
                        kept = True
                elif key == "js.post_empty":
                    self.figure(key, server, "/orders", post, drain="/products/" + ids[0])
                elif key == "js.post_big":
                    # every POST rewrites the whole 100k-order db.json: bounded by time, one round,
                    # and the server is stopped afterwards rather than drained
                    self.figure(key, server, "/orders", post, rounds=1, warmup=0,
                                seconds=max(self.args.duration * 2, 6), drain="/products/" + ids[0])
        finally:
            if not kept:
                server.stop()

    def backroom(self, data_dir, label, info, ids, author):
        big = label == "big"
        keys = (("bk.id", "bk.list", "bk.q", "bk.sf_q", "bk.ask", "bk.orders", *REPORT_FIGURES, "bk.post",
                 "bk.sf_post", *(f"bk.{kind}" for kind in LIST_KINDS + ORDER_LIST_KINDS)) if big
                else ("bk.post_empty",))
        if not any(self.wanted(k) for k in keys):
            return
        # the assistant's per-minute limit is off: wrk's every request comes from one address
        # and so is the storefront's per-key limit (section 11)
        env = clean_env(SHOP_DATA_DIR=data_dir, SHOP_BIND="127.0.0.1:{port}", SHOP_DEMO_DATA="0",
                        SHOP_ASSISTANT_PER_MINUTE="0", SHOP_STOREFRONT_ORDERS_PER_MINUTE="0")
        say(f"starting Backroom on the {label} store (python -m scripts.serve)")
        try:
            server, ready, settled = _start_backroom(f"backroom-{label}", env)
        except StartFailed as exc:
            # Not a figure, a finding: say so, then measure the rest with a longer store-lock wait.
            self.notes.append(f"Backroom did NOT start on the {label} store with default settings: {exc}"
                              f" ({_log_tail(os.path.join(BENCH, 'logs', f'backroom-{label}.log'))}); "
                              f"measured with SHOP_LOCK_TIMEOUT={RETRY_LOCK_TIMEOUT} instead")
            say(self.notes[-1])
            env["SHOP_LOCK_TIMEOUT"] = str(RETRY_LOCK_TIMEOUT)
            server, ready, settled = _start_backroom(f"backroom-{label}-retry", env)
        say(f"Backroom ready: /readyz after {ready:.1f} s, all workers loaded after {settled or 0:.1f} s")
        try:
            if big:
                self.startup = {
                    "make_serve_to_readyz_s": round(ready, 2),
                    "gunicorn_to_readyz_s": round(ready - (server.exec_at - server.started), 2)
                    if server.exec_at else None,
                    "all_workers_loaded_s": round(settled, 2) if settled else None,
                    "lock_timeout_override": env.get("SHOP_LOCK_TIMEOUT"),
                }
                self.measure_memory("settled", server, info["orders"])
            manager = info["manager"]
            status, body = http("POST", server.base + "/api/auth/login",
                                {"username": manager["username"], "password": manager["password"]})
            if status != 200:
                raise RuntimeError(f"login to Backroom failed: {status} {body}")
            auth = {"Authorization": f"Bearer {body['access_token']}"}
            post = lua_file(f"bk_post_{label}", ids, None, "POST", ORDER_BODY,
                            {"Content-Type": "application/json", **auth})
            checks = {
                "bk.id": ("GET", "/api/products/" + ids[0], None),
                "bk.list": ("GET", "/api/products?limit=50", None),
                "bk.q": ("GET", f"/api/products?q={quote(author)}", None),
                "bk.orders": ("GET", "/api/orders?limit=50", auth),
                **{key: ("GET", path, auth) for key, path in REPORT_FIGURES.items()},
            }
            for key, (method, path, headers) in checks.items():
                if key in keys and self.wanted(key):
                    status, body = http(method, server.base + path, headers=headers)
                    if status != 200:
                        raise RuntimeError(f"{path} answered {status}: {body}")
                    if key == "bk.q":
                        self.notes.append(f"q={author!r} matches {body.get('total')} products")
            prof = True  # one more round under py-spy after each figure, when --profile is given
            if big:
                by_id = lua_file("bk_id", ids, "/api/products/")
                self.figure("bk.id", server, "/api/products/x", by_id, profile=prof)
                self.alternate("bk.id", server, "/api/products/x", by_id, "floor.id")
                plain = lua_file("plain")
                self.figure("bk.list", server, "/api/products?limit=50", plain, profile=prof)
                self.alternate("bk.list", server, "/api/products?limit=50", plain, "floor.list")
                self.figure("bk.q", server, f"/api/products?q={quote(author)}", lua_file("plain"),
                            profile=prof)
                storefront = None
                if self.wanted("bk.sf_q") or self.wanted("bk.sf_post"):
                    status, body = http("GET", server.base + "/shop/key.json")  # the builtin key
                    storefront = {"X-Storefront-Key": body["key"]} if status == 200 else None
                if self.wanted("bk.sf_q") and storefront:
                    self.figure("bk.sf_q", server, f"/api/storefront/products?q={quote(author)}",
                                lua_file("bk_sf", headers=storefront), profile=prof)
                question = json.dumps({"message": f"Any books by {author} under 20 euros?"}).replace("'", "")
                status, body = http("POST", server.base + "/api/assistant/messages",
                                    json.loads(question))
                if status == 200:
                    self.notes.append(f"the assistant found {len(body.get('products') or [])} products "
                                      f"for {json.loads(question)['message']!r}")
                if self.wanted("bk.ask"):
                    self.figure("bk.ask", server, "/api/assistant/messages",
                                lua_file("bk_ask", method="POST", body=question,
                                         headers={"Content-Type": "application/json"}), profile=prof)
                self.figure("bk.orders", server, "/api/orders?limit=50", lua_file("bk_auth", headers=auth),
                            profile=prof)
                self.list_figures("bk", server, auth, data_dir)
                for key, path in REPORT_FIGURES.items():
                    self.figure(key, server, path, lua_file("bk_auth", headers=auth), profile=prof,
                                connections=1, threads=1)
                self.figure("bk.post", server, "/api/orders", post, profile=prof)
                if "bk.post" in self.results:
                    http("GET", server.base + "/healthz", timeout=120)  # the last orders answered
                    self.measure_memory("after_orders", server, order_count(server, auth))
                self.alternate("bk.post", server, "/api/orders", post, "floor.write")
                if self.wanted("bk.sf_post") and storefront:
                    checkout = lua_file("bk_sf_post", ids, None, "POST", STOREFRONT_ORDER_BODY,
                                        {"Content-Type": "application/json", **storefront})
                    self.figure("bk.sf_post", server, "/api/storefront/orders", checkout, profile=prof)
                    # and in turns with the staff order on the same server: the figure apart runs
                    # after the staff order's, on a store those rounds have grown
                    self.floor_targets["bk.post"] = (server, "/api/orders", post)
                    try:
                        self.alternate("bk.sf_post", server, "/api/storefront/orders", checkout, "bk.post")
                    finally:
                        self.floor_targets.pop("bk.post", None)
                self.memory = server.memory()
            else:
                self.figure("bk.post_empty", server, "/api/orders", post, profile=prof)
        finally:
            server.stop()


    def list_figures(self, prefix, server, auth, data_dir):
        """Issue 18's list figures on a running Backroom: random pages, sorts, searches and a filter
        of the products (anonymous), and with `bk` pages of orders by status and since (manager)."""
        for kind in LIST_KINDS:
            key = f"{prefix}.{kind}"
            if not self.wanted(key):
                continue
            paths = self.list_paths[kind][0]
            for path in paths[:3]:
                status, body = http("GET", server.base + path)
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}: {body}")
            script = lua_paths(key.replace(".", "_"), paths)
            self.figure(key, server, paths[0], script, profile=True)
            if key == "nc.page":
                # json-server's figure ran minutes before this server started: their ratio moved
                # by half between runs, so it is also taken with their rounds in turns
                self.alternate(key, server, paths[0], script, "js.page")
        if prefix != "bk":
            return
        if self.wanted("bk.ostatus"):
            paths = self.order_paths[0]
            self.figure("bk.ostatus", server, paths[0], lua_paths("bk_ostatus", paths, auth), profile=True)
        if self.wanted("bk.osince"):
            rng = random.Random(18)
            end = datetime.fromtimestamp(self.shop_end, timezone.utc).date()
            days = [(end - timedelta(days=n)).isoformat() for n in range(1, 91, 3)]
            totals = {}
            for day in days:
                status, body = http("GET", server.base + f"/api/orders?since={day}&limit=1", headers=auth)
                if status != 200:
                    raise RuntimeError(f"orders since {day} answered {status}: {body}")
                totals[day] = body["total"]
            days = [d for d in days if totals[d] > 50]
            picks = [(d, rng.randrange(0, totals[d] - 50)) for d in (rng.choice(days) for _ in range(LIST_PATHS))]
            paths = [f"/api/orders?since={d}&limit=50&offset={o}" for d, o in picks]
            self.figure("bk.osince", server, paths[0], lua_paths("bk_osince", paths, auth), profile=True)

    def backroom_lists(self, data_dir, label, prefix, with_fixed_page=False):
        """Backroom started again with SHOP_ANSWER_CACHE=0 for the list figures under prefix: what
        the work costs without each worker's memory of the answers it sent."""
        keys = [f"{prefix}.{kind}" for kind in LIST_KINDS] + ([f"{prefix}.list"] if with_fixed_page else [])
        if not any(self.wanted(k) for k in keys):
            return
        env = clean_env(SHOP_DATA_DIR=data_dir, SHOP_BIND="127.0.0.1:{port}", SHOP_DEMO_DATA="0",
                        SHOP_ANSWER_CACHE="0")
        say(f"starting Backroom on the {label} store without the answer cache (SHOP_ANSWER_CACHE=0)")
        server, ready, _ = _start_backroom(f"backroom-{label}-nocache", env)
        try:
            if with_fixed_page:
                self.figure(f"{prefix}.list", server, "/api/products?limit=50", lua_file("plain"), profile=True)
            self.list_figures(prefix, server, None, data_dir)
        finally:
            server.stop()


ORDER_BODY = '{"items":[{"product_id":"ID","quantity":1}]}'
STOREFRONT_ORDER_BODY = ('{"items":[{"product_id":"ID","quantity":1}],'
                         '"customer":{"name":"Bench Buyer","email":"bench@example.com"}}')
RETRY_LOCK_TIMEOUT = 600


def order_count(server, auth):
    """How many orders the store holds (the total of GET /api/orders), or None."""
    try:
        status, body = http("GET", server.base + "/api/orders?limit=1", headers=auth, timeout=60)
    except OSError:
        return None
    return body.get("total") if status == 200 and isinstance(body, dict) else None


def _start_backroom(name, env):
    """Backroom as `make serve` starts it; (server, s to /readyz 200, s until every worker is loaded)."""
    server = Server(name, [sys.executable, "-m", "scripts.serve"], env).start()
    try:
        ready = server.wait_ready("/readyz")
        settled = server.wait_settled(workers())
    except BaseException:
        server.stop()
        raise
    return server, ready, settled


def _log_tail(path):
    """The last error line a server logged, if any."""
    try:
        with open(path, errors="replace") as fh:
            lines = [l.strip() for l in fh if "Error" in l or "Timeout" in l or "busy" in l]
    except OSError:
        return ""
    return lines[-1] if lines else ""


# ---- profiling -------------------------------------------------------------------

def profile_round(key, server, url, script, seconds, args):
    """One extra round with py-spy sampling every worker; returns the collapsed stacks' file."""
    spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
    if not spy:
        print("bench: py-spy is missing (.venv/bin/pip install py-spy); no profile", file=sys.stderr)
        return None
    out = os.path.join(BENCH, "profile", f"{key}.txt")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    spy_proc = subprocess.Popen([spy, "record", "--pid", str(server.proc.pid), "--subprocesses",
                                 "--rate", "250", "--format", "raw", "--output", out,
                                 "--duration", str(seconds + 1), "--nonblocking"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    wrk(url, script, seconds, args.connections, args.threads)
    spy_proc.wait(timeout=seconds + 60)
    return out


# where a Backroom request's time can go: bucket -> function names (any frame on the stack)
BUCKETS = [
    ("waiting for the store lock", ("BaseFileLock.acquire",)),
    ("commit: journal append + fsync", ("JsonFileStore.commit",)),
    ("refresh: check/replay the journal", ("JsonFileStore.refresh",)),
    ("list/search: evaluate()", ("evaluate",)),
    ("copying records: clone()", ("clone",)),
    ("marshmallow schema build (Schema.__init__)", ("Schema.__init__",)),
    ("marshmallow load", ("Schema.load",)),
    ("Flask cookie session (open/save)", ("SecureCookieSessionInterface.open_session",
                                          "SecureCookieSessionInterface.save_session")),
    ("auth: token + session check (load_user)", ("load_user",)),
    ("JSON out (json_response)", ("json_response",)),
    ("place_order (services)", ("place_order",)),
    ("inside Flask (wsgi_app), all", ("Flask.wsgi_app",)),
]


def summarise_profile(path, top=12):
    """Shares of the workers' sampled busy time: by bucket, by function (self), from py-spy's raw output."""
    selfs, buckets, total = Counter(), Counter(), 0
    with open(path) as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or "Arbiter.run" in stack and "spawn_worker" not in stack:
                continue  # the gunicorn master's own loop
            count = int(count)
            frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
            if not frames:
                continue
            total += count
            names = [_frame_name(f) for f in frames]
            selfs[names[-1]] += count
            bare = {n.split(" (")[0] for n in names}
            for label, functions in BUCKETS:
                if any(f in bare for f in functions):
                    buckets[label] += count
    if not total:
        return "    no samples"
    lines = [f"    samples: {total} of the workers' stacks (what is not 'inside Flask' is gunicorn: "
             "accept, parse, socket writes, the graceful close)"]
    lines.append("    by bucket (a sample may fall in several):")
    for label, _ in BUCKETS:
        if buckets[label]:
            lines.append(f"      {100 * buckets[label] / total:5.1f}%  {label}")
    lines.append("    self time, top functions:")
    for name, count in selfs.most_common(top):
        lines.append(f"      {100 * count / total:5.1f}%  {name}")
    return "\n".join(lines)


def _frame_name(frame):
    """'func (path/to/file.py:12)' -> 'func (short/path.py)'; line numbers dropped to merge a function."""
    func, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.rsplit(":", 1)[0]
    for marker in ("/site-packages/", "/work/main/", ROOT + "/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{func} ({file})"


# ---- report ----------------------------------------------------------------------

def ratio_checks(results):
    """The issue's targets: (description, value, target, PASS/FAIL/n/a)."""
    def r(key):
        return results.get(key, {}).get("rps")

    def ratio(a, b):
        return r(a) / r(b) if r(a) is not None and r(b) else None

    checks = [
        ("GET /api/products/{id} >= 0.75 x floor", ratio("bk.id", "floor.id"), 0.75),
        ("GET /api/products/{id} >= json-server", ratio("bk.id", "js.id"), 1.0),
        ("GET /api/products?limit=50 >= 0.6 x floor", ratio("bk.list", "floor.list"), 0.6),
        ("GET /api/products?limit=50 >= 1.5 x json-server", ratio("bk.list", "js.list"), 1.5),
        ("POST /api/orders (100k) >= 0.5 x durable-write floor", ratio("bk.post", "floor.write"), 0.5),
        ("POST /api/orders (100k) >= json-server POST (empty)", ratio("bk.post", "js.post_empty"), 1.0),
        ("POST /api/orders (empty) >= json-server POST (empty)", ratio("bk.post_empty", "js.post_empty"), 1.0),
        ("POST /api/orders 100k store >= 0.8 x empty store", ratio("bk.post", "bk.post_empty"), 0.8),
        ("GET /api/storefront/products?q= >= 0.9 x staff catalog", ratio("bk.sf_q", "bk.q"), 0.9),
        ("POST /api/storefront/orders >= 0.9 x POST /api/orders", ratio("bk.sf_post", "bk.post"), 0.9),
    ]
    for key, text, target in (("bk.id", "GET /api/products/{id} >= 0.75 x floor", 0.75),
                              ("bk.list", "GET /api/products?limit=50 >= 0.6 x floor", 0.6),
                              ("bk.post", "POST /api/orders (100k) >= 0.5 x durable-write floor", 0.5),
                              ("bk.sf_post", "POST /api/storefront/orders >= 0.9 x POST /api/orders", 0.9),
                              ("nc.page", "GET /api/products?offset=<random>, no answer cache >= 1.5 x json-server",
                               1.5)):
        alternating = results.get("alt." + key)
        if alternating is not None:
            checks.append((f"{text}, rounds in turns", alternating["ratio"], target))
    # issue 18: every list figure against the floor serving as many records per page, json-server
    # where it has the query, and at 20,000 products against the same figure at the big store's count
    for prefix, how in (("bk", ""), ("nc", ", no answer cache"), ("k20", ", 20k products, no answer cache")):
        for kind in LIST_KINDS + ORDER_LIST_KINDS:
            key = f"{prefix}.{kind}"
            if key not in results:
                continue
            name = LABELS[key].split("GET", 1)[1].split(" (")[0].strip()
            checks.append((f"GET {name}{how} >= 0.6 x floor", ratio(key, LIST_FLOOR[kind]), 0.6))
            if f"js.{kind}" in LABELS and prefix != "k20":  # json-server serves the big store only
                checks.append((f"GET {name}{how} >= 1.5 x json-server", ratio(key, f"js.{kind}"), 1.5))
            if prefix == "k20":
                checks.append((f"GET {name} at 20k products >= 0.8 x at the big store", ratio(key, f"nc.{kind}"), 0.8))
    out = []
    for text, value, target in checks:
        verdict = "n/a" if value is None else ("PASS" if value >= target else "FAIL")
        out.append((text, value, target, verdict))
    for key in ("bk.id", "bk.list", "bk.q", "bk.sf_q", "bk.ask", "bk.orders", "bk.post", "bk.post_empty",
                "bk.sf_post"):
        if key in results:
            p99 = results[key]["p99_ms"]
            out.append((f"p99 {LABELS[key].split('Backroom', 1)[1].strip()} <= 50 ms", p99, 50.0,
                        "PASS" if p99 <= 50.0 else "FAIL"))
    for key in (f"{prefix}.{kind}" for prefix in ("bk", "nc", "k20") for kind in LIST_KINDS + ORDER_LIST_KINDS + ("list",)):
        if key in results:
            p99 = results[key]["p99_ms"]
            out.append((f"p99 {LABELS[key].split('Backroom', 1)[1].strip()} <= 50 ms", p99, 50.0,
                        "PASS" if p99 <= 50.0 else "FAIL"))
    for key in REPORT_FIGURES:
        if key in results:
            p99 = results[key]["p99_ms"]
            out.append((f"p99 {LABELS[key].split('Backroom', 1)[1].strip()} <= {REPORT_P99_MS:.0f} ms",
                        p99, REPORT_P99_MS, "PASS" if p99 <= REPORT_P99_MS else "FAIL"))
    return out


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        fs = subprocess.run(["stat", "-f", "-c", "%T", BENCH], capture_output=True, text=True).stdout.strip()
    except OSError:
        fs = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "filesystem": fs, "workers": workers()}


MOMENTS = (("settled", "settled"), ("after_orders", "after orders"))


def load_memory_baseline(path=MEMORY_BASELINE):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _mib(kb):
    return f"{kb / 1024:.0f}"


def _spread(stats):
    return f"{_mib(stats['mean'])} ({_mib(stats['min'])}-{_mib(stats['max'])})"


# memory table rows: label, figure of a summary (None when it has none)
MEMORY_ROWS = [
    ("processes: master + workers + other", lambda s: f"1 + {s['workers']} + {s['others']}"
     if s["master"] else f"0 + {s['workers']} + {s['others']}"),
    ("PSS, all processes together", lambda s: _mib(s["all"]["Pss"])),
    ("PSS, gunicorn master", lambda s: _mib(s["master"]["Pss"]) if s["master"] else None),
    ("PSS per worker, mean (min-max)",
     lambda s: _spread(s["per_worker"]["Pss"]) if s["per_worker"] else None),
    ("PSS, other processes", lambda s: _mib(s["other"]["Pss"]) if s["other"] else None),
    ("Private_Dirty, all together", lambda s: _mib(s["all"]["Private_Dirty"])),
    ("Private_Dirty per worker, mean (min-max)",
     lambda s: _spread(s["per_worker"]["Private_Dirty"]) if s["per_worker"] else None),
    ("RSS per worker, mean (min-max)",
     lambda s: _spread(s["per_worker"]["Rss"]) if s["per_worker"] else None),
    ("RSS summed (a shared page in each process)", lambda s: _mib(s["all"]["Rss"])),
]


def memory_table(pss, baseline):
    """(text lines, markdown lines, notes) of Backroom's memory at each moment measured, beside the
    baseline's (scripts/bench_memory_baseline.json); empty when nothing was measured."""
    moments = [(key, title) for key, title in MOMENTS if key in pss]
    if not moments:
        return [], [], []
    before = baseline.get("moments", {}) if baseline else {}
    tag = f"before ({baseline.get('commit', '?')})" if baseline else None
    columns = []  # (title, summary or None, orders in the store then)
    for key, title in moments:
        columns.append((title, pss[key]["summary"], pss[key].get("orders")))
        if baseline:
            entry = before.get(key) or {}
            columns.append((tag, entry.get("summary"), entry.get("orders")))
    # how many orders the machine placed in the order figure's time moves the second moment's figures
    rows = [("orders in the store", ["-" if n is None else str(n) for _, _, n in columns])]
    for label, figure in MEMORY_ROWS:
        cells = []
        for _, summary, _ in columns:
            try:
                cells.append(figure(summary) if summary else None)
            except (KeyError, TypeError):
                cells.append(None)
        if label.startswith("PSS, other") and not any(cells):
            continue
        rows.append((label, ["-" if c is None else c for c in cells]))
    width = max(len(title) for title, _, _ in columns) + 2
    text = ["", "Backroom's memory, MiB (every process of the server, from /proc/<pid>/smaps_rollup):",
            f"  {'':44}" + "".join(f"{title:>{max(width, 16)}}" for title, _, _ in columns)]
    for label, cells in rows:
        text.append(f"  {label:44}" + "".join(f"{c:>{max(width, 16)}}" for c in cells))
    md = ["", "| memory, MiB | " + " | ".join(title for title, _, _ in columns) + " |",
          "| --- |" + " ---: |" * len(columns)]
    for label, cells in rows:
        md.append(f"| {label} | " + " | ".join(cells) + " |")

    def served(entry):
        if "after_orders" not in entry:
            return "not measured"
        reads = [k for k in entry["after_orders"].get("after_figures", ()) if k != "bk.post"]
        return f"after {', '.join(reads)} and the order figure" if reads else "the order figure alone"
    note = "memory: 'settled' is once every worker has loaded the 100k store and is idle"
    if "after_orders" in pss:
        note += ("; 'after orders' right after the POST /api/orders figure on that store (its warm-up "
                 f"and rounds); this run: {served(pss)}")
        if baseline:
            note += f", baseline: {served(before)}"
    notes = [note]
    if baseline:
        notes.append(f"memory baseline: {os.path.relpath(MEMORY_BASELINE, ROOT)}, measured on "
                     f"{baseline.get('commit')} on {baseline.get('date')} ({baseline.get('where', '')})")
    return text, md, notes


def save_memory_baseline(bench, path=MEMORY_BASELINE):
    """This run's memory figures as the baseline later runs print beside theirs."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "app", "wsgi.py",
                            "scripts/serve.py", "scripts/gunicorn_conf.py"],
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    m = machine()
    baseline = {
        "commit": commit + ("+changes" if dirty else ""),
        "date": time.strftime("%Y-%m-%d"),
        "where": f"{m['cores']}-core {m['cpu']}, Linux {m['kernel']}, Python {m['python']}, "
                 f"{m['workers']} sync workers; order figure {bench.args.warmup} s warm-up + "
                 f"{bench.args.rounds} x {bench.args.duration} s of wrk -t{bench.args.threads} "
                 f"-c{bench.args.connections}",
        "units": "kB (from /proc/<pid>/smaps_rollup)",
        "moments": bench.pss,
    }
    with open(path, "w") as fh:
        json.dump(baseline, fh, indent=2)
        fh.write("\n")
    return path


def render(bench, info, seconds_total, load_before, load_after, baseline=None):
    results = bench.results
    rows = []
    header = f"{'figure':80} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  rounds (req/s)"
    rows.append(header)
    rows.append("-" * len(header))
    md = ["| figure | req/s | p50 ms | p99 ms | errors |", "| --- | ---: | ---: | ---: | ---: |"]
    for key, label in LABELS.items():
        if key not in results:
            continue
        res = results[key]
        rows.append(f"{label:80} {res['rps']:9.1f} {res['p50_ms']:8.1f} {res['p99_ms']:8.1f} "
                    f"{res['errors']:7d}  {' '.join(f'{x:.0f}' for x in res['rounds'])}")
        md.append(f"| {label.replace('  ', ' ').strip()} | {res['rps']:.0f} | {res['p50_ms']:.1f} | "
                  f"{res['p99_ms']:.1f} | {res['errors']} |")
    rows.append("")
    rows.append("targets (issue 5):")
    md += ["", "| target | measured | verdict |", "| --- | ---: | --- |"]
    for text, value, target, verdict in ratio_checks(results):
        shown = "n/a" if value is None else (f"{value:.1f} ms" if "p99" in text else f"{value:.2f} x")
        rows.append(f"  {verdict:4}  {text:88} {shown}")
        md.append(f"| {text} | {shown} | {verdict} |")
    mem_text, mem_md, mem_notes = memory_table(bench.pss, baseline)
    rows += mem_text
    md += mem_md
    extra = []
    if getattr(bench, "startup", None):
        s = bench.startup
        extra.append(f"Backroom start-up on the big store: /readyz 200 after {s['make_serve_to_readyz_s']} s "
                     f"from `python -m scripts.serve` ({s['gunicorn_to_readyz_s']} s after it exec'd "
                     f"gunicorn); every worker loaded after {s['all_workers_loaded_s']} s"
                     + (f" (with SHOP_LOCK_TIMEOUT={s['lock_timeout_override']})"
                        if s.get("lock_timeout_override") else ""))
    if getattr(bench, "memory", None):
        peaks = sorted(v[0] for v in bench.memory.values())
        extra.append(f"Backroom peak RSS per worker (VmHWM): {', '.join(f'{p / 1024:.0f}' for p in peaks)} MiB "
                     f"({len(peaks)} workers)")
    m = machine()
    extra.append(f"machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, "
                 f".bench on {m['filesystem']}; {m['workers']} gunicorn sync workers; wrk -t{bench.args.threads} "
                 f"-c{bench.args.connections}, {bench.args.rounds} x {bench.args.duration} s rounds after "
                 f"{bench.args.warmup} s warm-up, median quoted")
    extra.append(f"shop: {info['products']} products, {info['orders']} orders, {info['movements']} movements, "
                 f"{info['deliveries']} deliveries; load average {load_before} before, {load_after} after; "
                 f"run took {seconds_total:.0f} s")
    extra += mem_notes
    extra += bench.notes
    text = "\n".join(rows + [""] + extra)
    markdown = "\n".join(md + [""] + [f"- {e}" for e in extra])
    return text, markdown


# ---- main ------------------------------------------------------------------------

def prepare(args, big_only=False):
    """The pristine shops (built once) and fresh working copies for this run (the big shop's
    alone when big_only: no empty store, no json-server files)."""
    big_src = os.path.join(BENCH, "shop-big")
    empty_src = os.path.join(BENCH, "shop-empty")
    info = bench_shop.ensure_shop(big_src, args.products, args.orders, args.seed)
    run = os.path.join(BENCH, "run")
    shutil.rmtree(run, ignore_errors=True)
    os.makedirs(run)
    big = os.path.join(run, "big")
    empty = os.path.join(run, "empty")
    shutil.copytree(big_src, big)
    if big_only:
        os.sync()
        return info, None, big, None
    empty_info = bench_shop.ensure_shop(empty_src, args.products, 0, args.seed, end=info["end"])
    shutil.copytree(empty_src, empty)
    # json-server's db files, made once per shop and copied, since json-server rewrites them
    for src, name in ((big_src, "jsonserver-big.json"), (empty_src, "jsonserver-empty.json")):
        cached = os.path.join(src + ".peer", name)
        stamp = os.path.join(src + ".peer", "fingerprint")
        fp = bench_shop.read_info(src)["fingerprint"] + str(bench_shop.read_info(src)["end"])
        if not (os.path.exists(cached) and os.path.exists(stamp) and open(stamp).read() == fp):
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            bench_shop.write_json_server_db(src, cached)
            with open(stamp, "w") as fh:
                fh.write(fp)
        os.makedirs(os.path.join(run, name[:-5]))
        shutil.copy(cached, os.path.join(run, name[:-5], "db.json"))
    # the copies (some 500 MB) are written back now, not while the first fsync-bound figures run
    os.sync()
    return info, empty_info, big, empty


def main(argv=None):
    parser = argparse.ArgumentParser(description="Backroom beside the framework floor and json-server.")
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s after a 1 s warm-up")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per round")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per figure")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--only", action="append", default=[],
                        help="figure key prefix to run (repeatable): floor., js., bk.id, bk.post ...; "
                             "'memory': Backroom's memory alone (the 100k store, settled and after the "
                             "POST /api/orders figure; no floors, json-server or empty store)")
    parser.add_argument("--save-memory-baseline", action="store_true",
                        help="write this run's memory figures to scripts/bench_memory_baseline.json, "
                             "which later runs print beside theirs as 'before (<commit>)'")
    parser.add_argument("--profile", action="store_true",
                        help="one more round per Backroom figure under py-spy; prints the hot functions")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 3, 1
    memory_only = "memory" in args.only
    if memory_only:  # the order figure on the big store is what the memory is measured around
        args.only = [key for key in args.only if key != "memory"] + ["bk.post"]

    started = time.monotonic()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if not ensure_wrk():
        return 2
    have_json_server = not memory_only and ensure_json_server()
    os.makedirs(BENCH, exist_ok=True)
    info, _, big, empty = prepare(args, big_only=memory_only)

    with open(os.path.join(big, "products.json"), "rb") as fh:
        products = json.load(fh)["records"]
    ids = [p["id"] for p in products if p["status"] == "active"]
    authors = Counter(p["author"] for p in products if p["author"])
    author = sorted(authors)[0]

    bench = Bench(args)
    bench.list_paths = product_list_paths(products)
    bench.order_paths = order_status_paths(order_status_counts(big))
    bench.shop_end = info["end"]
    try:
        try:  # the floor servers stay up, idle, for the alternating rounds on the big store
            if not memory_only:
                bench.floors(os.path.join(big, "products.json"), ids)
            if have_json_server:
                bench.json_server(os.path.join(BENCH, "run", "jsonserver-empty", "db.json"), "empty",
                                  ("js.post_empty",), ids)
                bench.json_server(os.path.join(BENCH, "run", "jsonserver-big", "db.json"), "big",
                                  ("js.id", "js.list", "js.page", "js.price", "js.title", "js.search",
                                   "js.ostatus", "js.post_big"), ids)
            bench.backroom(big, "big", info, ids, author)
            bench.backroom_lists(big, "big", "nc", with_fixed_page=True)
            if any(bench.wanted(f"k20.{kind}") for kind in LIST_KINDS):
                # the same figures on a catalog of 20,000 products: flat, or not
                k20_src = os.path.join(BENCH, "shop-20k")
                bench_shop.ensure_shop(k20_src, 20_000, 0, args.seed, end=info["end"])
                k20 = os.path.join(BENCH, "run", "k20")
                shutil.rmtree(k20, ignore_errors=True)
                shutil.copytree(k20_src, k20)
                with open(os.path.join(k20, "products.json"), "rb") as fh:
                    k20_paths = product_list_paths(json.load(fh)["records"])
                kept, bench.list_paths = bench.list_paths, k20_paths
                try:
                    bench.backroom_lists(k20, "20k", "k20")
                finally:
                    bench.list_paths = kept
        finally:
            bench.stop_floors()
        if not memory_only:
            bench.backroom(empty, "empty", info_for(empty), ids, author)
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        return 130

    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.save_memory_baseline:
        if set(bench.pss) != {key for key, _ in MOMENTS}:
            print("bench: no baseline saved: the memory was not measured both settled and after orders",
                  file=sys.stderr)
        else:
            say(f"memory baseline written to {os.path.relpath(save_memory_baseline(bench), ROOT)}")
    baseline = load_memory_baseline()
    text, markdown = render(bench, info, time.monotonic() - started, load_before, load_after, baseline)
    print(text)
    for key, path in bench.profiles.items():
        if path and os.path.exists(path):
            print(f"\nprofile of {LABELS[key].strip()} ({os.path.relpath(path, ROOT)}):")
            print(summarise_profile(path))
    with open(os.path.join(BENCH, "latest.json"), "w") as fh:
        json.dump({"results": bench.results, "startup": getattr(bench, "startup", None),
                   "memory_kb": getattr(bench, "memory", None), "memory": bench.pss,
                   "memory_baseline": baseline, "machine": machine(),
                   "checks": ratio_checks(bench.results), "args": vars(args), "notes": bench.notes,
                   "load_average": [load_before, load_after]}, fh, indent=2)
    with open(os.path.join(BENCH, "latest.md"), "w") as fh:
        fh.write(markdown + "\n")
    return 0


def info_for(data_dir):
    return bench_shop.read_info(data_dir)


if __name__ == "__main__":
    sys.exit(main())
