"""The real server as `make serve` runs it: demo data seeded once by 3 workers starting together,
the configured admin, docs and probes, problem+json from gunicorn, tokens shared by every worker."""
import json
import re
import sys
import threading
import time
from collections import Counter

import pytest
import requests

from .conftest import ADMIN_USERNAME, HTTP_TIMEOUT

PROBLEM_JSON = "application/problem+json"
MAX_BODY = 65536


@pytest.fixture(scope="module")
def server(make_server):
    server = make_server(SHOP_DEMO_DATA="1", SHOP_MAX_BODY_BYTES=str(MAX_BODY))
    wait_for_every_worker(server)
    return server


def wait_for_every_worker(server, timeout=20):
    """Until each of the 3 workers has answered /healthz (they boot in parallel, some take longer)."""
    deadline = time.monotonic() + timeout
    while len(server.worker_pids("/healthz")) < server.workers and time.monotonic() < deadline:
        at_once(lambda: requests.get(server.url("/healthz"), timeout=HTTP_TIMEOUT), 12)
        time.sleep(0.1)


def at_once(call, count):
    """call() from `count` threads released together, each on its own connection; the responses."""
    results = [None] * count
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait(timeout=30)
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def demo_passwords(log_text):
    """The demo users' passwords, printed once when the data is seeded."""
    block = log_text.split("demo users (passwords are shown only this once):", 1)[1]
    return dict(re.findall(r"^\s+(admin|manager|clerk|viewer)\s+(\S+)\s*$", block, re.M))


def me(server, token):
    return requests.get(server.url("/api/auth/me"), headers={"Authorization": f"Bearer {token}"},
                        timeout=HTTP_TIMEOUT)


def test_three_workers_starting_together_seed_the_demo_data_once(server, admin_token):
    products = server.list_all("/api/products", admin_token)
    assert len(products) == 13
    assert len({p["sku"] for p in products}) == 13
    users = server.list_all("/api/users", admin_token)
    assert Counter(u["username"] for u in users) == {ADMIN_USERNAME: 1, "admin": 1, "manager": 1,
                                                     "clerk": 1, "editor": 1, "viewer": 1}
    assert {u["username"]: u["role"] for u in users if u["username"] != ADMIN_USERNAME} == {
        "admin": "admin", "manager": "manager", "clerk": "clerk", "editor": "editor", "viewer": "viewer"}
    categories = server.list_all("/api/categories", admin_token)
    assert len(categories) == len({c["name"] for c in categories}) == 9  # a two-level tree, made once
    assert len(server.list_all("/api/orders", admin_token)) == 4
    assert len(server.list_all("/api/deliveries", admin_token)) == 2
    assert len(server.list_all("/api/vendors", admin_token)) == 2
    assert sorted(po["status"] for po in server.list_all("/api/purchase-orders", admin_token)) == [
        "ordered", "partially_received"]
    log = server.log_text()
    assert log.count("seeded demo data") == 1
    assert log.count(f"created admin user '{ADMIN_USERNAME}'") == 1
    assert set(demo_passwords(log)) == {"admin", "manager", "clerk", "viewer"}


def test_the_configured_admin_signs_in(server, admin_token):
    resp = me(server, admin_token)
    assert resp.status_code == 200
    assert (resp.json()["username"], resp.json()["role"]) == (ADMIN_USERNAME, "admin")
    assert "password_hash" not in resp.text


def test_probes_docs_and_spec_are_served(server):
    ready = requests.get(server.url("/readyz"), timeout=HTTP_TIMEOUT)
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    docs = requests.get(server.url("/apidocs/"), timeout=HTTP_TIMEOUT)
    assert docs.status_code == 200 and docs.headers["Content-Type"].startswith("text/html")
    assert "swagger" in docs.text.lower()
    spec = requests.get(server.url("/openapi.json"), timeout=HTTP_TIMEOUT)
    assert spec.status_code == 200 and "/api/orders" in spec.json()["paths"]
    assert requests.get(server.url("/openapi.yaml"), timeout=HTTP_TIMEOUT).status_code == 200


@pytest.mark.parametrize("method, path, body, status", [
    ("GET", "/no/such/page", None, 404),
    ("GET", "/api/orders/no-such-order", None, 404),
    ("DELETE", "/healthz", None, 405),
    ("POST", "/api/orders", b"{not json", 400),
    ("POST", "/api/orders", b"x" * (3 * MAX_BODY), 413),
])
def test_errors_from_the_real_server_are_problem_json(server, admin_token, method, path, body, status):
    resp = requests.request(method, server.url(path), data=body, timeout=HTTP_TIMEOUT,
                            headers={"Authorization": f"Bearer {admin_token}",
                                     "Content-Type": "application/json"})
    assert resp.status_code == status
    assert resp.headers["Content-Type"].startswith(PROBLEM_JSON)
    problem = resp.json()
    assert problem["status"] == status and problem["code"] and problem["title"]
    assert "Traceback" not in resp.text and "<html" not in resp.text.lower()


@pytest.mark.parametrize("path", ["/healthz", "/apidocs/", "/no/such/page"])
def test_answers_carry_security_headers_and_no_version_banner(server, path):
    """gunicorn always sends its own `Server: gunicorn` (an app cannot replace it, only add a
    second one); it names no version, and nothing else in the answer does."""
    resp = requests.get(server.url(path), timeout=HTTP_TIMEOUT)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers.get("Server", "gunicorn") == "gunicorn"
    assert "X-Powered-By" not in resp.headers
    assert not re.search(r"(gunicorn|werkzeug|python|flask|flasgger)/?\s*\d", resp.text, re.I)


def test_no_token_is_a_problem_with_a_bearer_challenge(server):
    resp = requests.get(server.url("/api/orders"), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 401
    assert resp.headers["Content-Type"].startswith(PROBLEM_JSON)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_works_on_every_worker(server, admin_token):
    answers = at_once(lambda: me(server, admin_token), 45)
    assert [r.status_code for r in answers] == [200] * 45
    assert len(server.worker_pids("/api/auth/me")) >= 2, "every request went to one worker"


def test_every_worker_shows_a_change_another_worker_committed(server, admin_token):
    """Workers remember catalog pages; a commit on one must show on all at once."""
    page = "/api/products?limit=5&q=Frankenstein"
    before = at_once(lambda: server.request("GET", page), 30)
    assert {r.json()["items"][0]["title"] for r in before} == {"Frankenstein"}
    product_id = before[0].json()["items"][0]["id"]
    for title in ("Frankenstein; or, The Modern Prometheus", "Frankenstein"):
        resp = server.request("PATCH", f"/api/products/{product_id}", admin_token, json={"title": title})
        assert resp.status_code == 200
        after = at_once(lambda: server.request("GET", page), 30)
        assert {r.json()["items"][0]["title"] for r in after} == {title}
    assert len(server.worker_pids("/api/products")) >= 2, "every request went to one worker"


def test_logout_revokes_on_every_worker_and_across_a_restart(server, admin_token):
    """Runs last in this module: it restarts the server."""
    password = demo_passwords(server.log_text())["manager"]
    session = server.login("manager", password)
    token = session["access_token"]
    assert me(server, token).status_code == 200

    logout = requests.post(server.url("/api/auth/logout"), headers={"Authorization": f"Bearer {token}"},
                           timeout=HTTP_TIMEOUT)
    assert logout.status_code == 204

    answers = at_once(lambda: me(server, token), 30)
    assert [r.status_code for r in answers] == [401] * 30
    assert all(r.headers["Content-Type"].startswith(PROBLEM_JSON) for r in answers)
    refused_by = {int(pid) for pid, status in re.findall(r'<(\d+)> "GET /api/auth/me \S+" (\d+)',
                                                         server.access_log.read_text()) if status == "401"}
    assert len(refused_by) >= 2, "the revoked token was only tried on one worker"
    refresh = requests.post(server.url("/api/auth/refresh"), json={"refresh_token": session["refresh_token"]},
                            timeout=HTTP_TIMEOUT)
    assert refresh.status_code == 401

    server.restart()  # graceful stop, then the same data dir again (SHOP_DEMO_DATA still 1)

    assert me(server, token).status_code == 401
    assert me(server, admin_token).status_code == 200
    assert len(server.list_all("/api/products", admin_token)) == 13
    assert "seeded demo data" not in server.log_text()


def test_make_serve_prints_where_to_look_and_the_demo_passwords(make_server):
    """`make serve` runs `python -m scripts.serve`: set-up in the parent, then gunicorn in its place."""
    server = make_server(command=[sys.executable, "-m", "scripts.serve"], workers=1, SHOP_DEMO_DATA="1")
    log = server.log_text()
    assert f"{server.base}/apidocs/" in log
    assert "demo users" in log
    assert requests.get(server.url("/apidocs/"), timeout=HTTP_TIMEOUT).status_code == 200
    token = server.login("viewer", demo_passwords(log)["viewer"])["access_token"]
    orders = requests.get(server.url("/api/orders"), headers={"Authorization": f"Bearer {token}"},
                          timeout=HTTP_TIMEOUT)
    assert orders.status_code == 200 and orders.json()["total"] == 4
    assert json.loads(requests.get(server.url("/readyz"), timeout=HTTP_TIMEOUT).text)["status"] == "ok"
    # every access-log line ends with the answer's request id, the one a problem body names
    problem = requests.get(server.url("/api/orders/none"), timeout=HTTP_TIMEOUT,
                           headers={"Authorization": f"Bearer {token}", "X-Request-Id": "support-ticket-42"})
    assert problem.json()["request_id"] == "support-ticket-42"
    deadline = time.monotonic() + 5
    while "support-ticket-42" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(line.endswith(" support-ticket-42") and '"GET /api/orders/none' in line
               for line in server.log_text().splitlines())
