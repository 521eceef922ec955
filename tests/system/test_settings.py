"""Settings changed through one worker apply at once in every worker of a real server."""
from concurrent.futures import ThreadPoolExecutor

import requests

from .conftest import HTTP_TIMEOUT


def test_a_setting_changed_through_one_worker_applies_in_every_worker(server, admin_token):
    product = server.create_product(admin_token, "PUBLIC-1", stock=1)
    path = server.url(f"/api/products/{product['id']}")
    resp = server.request("PATCH", "/api/settings", admin_token, json={"public_catalog": False})
    assert resp.status_code == 200 and resp.json()["public_catalog"] is False
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: requests.get(path, timeout=HTTP_TIMEOUT).status_code, range(40)))
    assert answers == [401] * 40
    assert len(server.worker_pids("/api/products/")) >= 2, "every request went to one worker"
    server.request("PATCH", "/api/settings", admin_token, json={"public_catalog": None})
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: requests.get(path, timeout=HTTP_TIMEOUT).status_code, range(40)))
    assert answers == [200] * 40
