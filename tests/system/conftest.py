"""System-test fixtures: a real gunicorn (3 sync workers) on a temp data dir, started, killed, restarted.

`server_env` is the hook for other backends: override it (in a conftest or a test module) to give
every server extra environment, either a dict or a callable data_dir -> dict called once per server
(so each can get a store of its own), e.g. lambda data_dir: {"SHOP_DATABASE_URL": ..., "SHOP_DATABASE_SCHEMA": ...}.
Checks of the JSON files themselves are skipped when SHOP_DATABASE_URL is set.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO_ROOT / "scripts" / "gunicorn_conf.py"
ADMIN_USERNAME = "owner"
ADMIN_PASSWORD = "owner-pass-1"
BOOT_TIMEOUT = 30.0
HTTP_TIMEOUT = 30.0


def gunicorn_path():
    """The gunicorn next to the running Python (the project's .venv when run as documented)."""
    for candidate in (Path(sys.executable).parent / "gunicorn", REPO_ROOT / ".venv" / "bin" / "gunicorn"):
        if candidate.exists():
            return str(candidate)
    pytest.skip("gunicorn is not installed next to this Python")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(extra):
    """This process's environment without any SHOP_* a developer may have exported, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _live_processes():
    """(pid, parent pid, process group) of every process that is not a zombie (from /proc)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] != b"Z":
            yield int(entry), int(fields[1]), int(fields[2])


def live_group_members(pgid):
    """Pids of the processes in a process group that are not zombies."""
    return [pid for pid, _, group in _live_processes() if group == pgid]


def live_children(parent):
    """Pids of a process's children that are not zombies."""
    return [pid for pid, ppid, _ in _live_processes() if ppid == parent]


class Server:
    """One gunicorn master and its workers in their own process group, so kill() takes them all."""

    def __init__(self, data_dir, env, log_dir, workers=3, command=None):
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.workers = workers
        self.extra_env = dict(env)
        self.command = command
        self.proc = None
        self.port = None
        self.starts = 0

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base + path

    @property
    def access_log(self):
        return self.log_dir / f"access-{self.starts}.log"

    @property
    def server_log(self):
        return self.log_dir / f"server-{self.starts}.log"

    def start(self):
        assert self.proc is None, "already running"
        for attempt in range(3):  # the free port may be taken by someone else before gunicorn binds it
            self.starts += 1
            self.port = free_port()
            self._spawn()
            if self.wait_until_up():
                return self
        raise AssertionError(f"no free port could be bound:\n{self.log_tail()}")

    def _spawn(self):
        env = clean_env({"SHOP_DATA_DIR": str(self.data_dir), "SHOP_ADMIN_USERNAME": ADMIN_USERNAME,
                         "SHOP_ADMIN_PASSWORD": ADMIN_PASSWORD, "SHOP_DEMO_DATA": "0",
                         **self.extra_env})
        if self.command is None:
            args = [gunicorn_path(), "-c", str(GUNICORN_CONF), "--workers", str(self.workers),
                    "--bind", f"127.0.0.1:{self.port}", "--no-control-socket",
                    "--access-logfile", str(self.access_log),
                    "--access-logformat", '%(p)s "%(r)s" %(s)s %({x-request-id}o)s', "wsgi:app"]
        else:
            env["SHOP_BIND"] = f"127.0.0.1:{self.port}"
            env["SHOP_WORKERS"] = str(self.workers)
            args = self.command
        log = open(self.server_log, "wb")
        try:
            # a new session makes gunicorn the leader of its own process group: killpg reaches every worker
            self.proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()

    def wait_until_up(self):
        """True once this gunicorn listens on its port and answers /healthz; False if the port was taken."""
        listening = f"Listening at: http://127.0.0.1:{self.port} "
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            log = self.log_tail(20000)
            if "Connection in use" in log or "Address already in use" in log:
                self.kill()
                return False
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            if listening in log:  # else a 200 could come from whoever else holds the port
                try:
                    if requests.get(self.url("/healthz"), timeout=2).status_code == 200:
                        return True
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"the server did not answer /healthz in {BOOT_TIMEOUT}s:\n{self.log_tail()}")

    def kill(self):
        """kill -9 of the master and every worker at once, as a power cut or the OOM killer would."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self._wait_for_group_gone()
        self.proc = None

    def stop(self):
        """A graceful stop (SIGTERM to the master), falling back to kill -9."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def _wait_for_group_gone(self):
        """Workers outlive a killed master for a moment; wait until no live process of the group is left."""
        pgid = self.proc.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not live_group_members(pgid):
                return
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        raise AssertionError(f"process group {pgid} survived SIGKILL")

    def restart(self):
        self.stop()
        return self.start()

    def log_tail(self, chars=4000):
        try:
            return self.server_log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"

    def log_text(self):
        return self.server_log.read_text(errors="replace")

    def worker_pids(self, path_prefix=""):
        """Pids of the workers that answered requests whose path starts with path_prefix (from the access log)."""
        pids = set()
        try:
            lines = self.access_log.read_text().splitlines()
        except FileNotFoundError:
            return pids
        for line in lines:
            match = re.match(r'<(\d+)> "\S+ (\S+)', line)
            if match and match.group(2).startswith(path_prefix):
                pids.add(int(match.group(1)))
        return pids

    # ---- a small client --------------------------------------------------
    def login(self, username=ADMIN_USERNAME, password=ADMIN_PASSWORD):
        resp = requests.post(self.url("/api/auth/login"), json={"username": username, "password": password},
                             timeout=HTTP_TIMEOUT)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def request(self, method, path, token=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return requests.request(method, self.url(path), headers=headers, **kwargs)

    def list_all(self, path, token, **params):
        """Every item of a paginated list."""
        items, offset = [], 0
        while True:
            resp = self.request("GET", path, token, params={**params, "limit": 200, "offset": offset})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            items.extend(body["items"])
            offset += len(body["items"])
            if not body["items"] or offset >= body["total"]:
                return items

    def create_product(self, token, sku, stock, price="10.00", **fields):
        resp = self.request("POST", "/api/products", token,
                            json={"sku": sku, "title": f"Product {sku}", "price": price, "stock": stock, **fields})
        assert resp.status_code == 201, resp.text
        return resp.json()


@pytest.fixture(scope="module", params=["json", "postgres"])
def server_env(request):
    """Extra environment for every server of a module, once per backend: data_dir -> dict, so each
    server gets a store of its own (on PostgreSQL a fresh schema; skipped, or failed under .ci/run,
    without a test database). A module that tests only JSON files pins it to {"SHOP_DATABASE_URL": ""}."""
    from tests.pg import backend_overrides
    backend = request.param
    backend_overrides(backend)  # skip (or fail) the whole module now when PostgreSQL is missing
    return lambda data_dir: backend_overrides(backend)


def uses_json_store(server):
    return not server.extra_env.get("SHOP_DATABASE_URL")


@pytest.fixture(scope="module")
def make_server(tmp_path_factory, server_env):
    """make_server(data_dir=None, **env) -> a started Server; every one is killed at the end of the module."""
    servers = []

    def make(data_dir=None, workers=3, command=None, **env):
        root = tmp_path_factory.mktemp("server")
        data_dir = Path(data_dir or root / "data")
        base = server_env(data_dir) if callable(server_env) else server_env
        data_dir = Path(base.get("SHOP_DATA_DIR") or data_dir)
        server = Server(data_dir, {**base, **env}, root, workers=workers, command=command)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.kill()


@pytest.fixture(scope="module")
def server(make_server):
    """One running server for the module, on an empty store with the SHOP_ADMIN_* admin."""
    return make_server()


@pytest.fixture(scope="module")
def admin_token(server):
    """One login per module: scrypt is slow on purpose."""
    return server.login()["access_token"]


def read_json_files(data_dir):
    """{name: parsed} for every *.json in the data dir; fails on any file that does not parse."""
    parsed = {}
    for path in sorted(Path(data_dir).glob("*.json")):
        with open(path, "rb") as fh:
            try:
                parsed[path.name] = json.load(fh)
            except ValueError as exc:
                raise AssertionError(f"{path.name} does not parse: {exc}") from None
    return parsed


def read_journal(data_dir):
    """The journal's parsed lines; a torn last line (no newline, never acknowledged) is returned apart.
    A line's log entries (after a TAB, see app/storage/jsonfile.py) are put back among its ops."""
    data = (Path(data_dir) / "journal.jsonl").read_bytes()
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline
    parsed = []
    for number, line in enumerate(lines, 1):
        try:
            head, tab, tail = line.partition(b"\t")
            entry = json.loads(head)
            if tab:
                entry["ops"] += json.loads(tail)
            parsed.append(entry)
        except ValueError as exc:
            raise AssertionError(f"journal line {number} does not parse: {exc}") from None
    return parsed, torn
