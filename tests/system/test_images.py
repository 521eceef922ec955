"""Product images under the real gunicorn: `kill -9` of the whole server while clients upload, then
a restart; every answered upload is there, and no image record is left without its bytes."""
import hashlib
import io
import random
import threading
import time

import requests
from PIL import Image

from .conftest import uses_json_store
from .test_crash import check_files

UPLOADERS = 3
ROUNDS = 2


def noisy_jpeg(rng, side=320):
    """A picture made here whose bytes differ every time (so no upload is a duplicate)."""
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def upload_in_a_loop(server, token, product_ids, acknowledged, unexpected, stop, seed):
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}
    for _ in range(500):
        if stop.is_set():
            return
        product_id = rng.choice(product_ids)
        try:
            resp = requests.post(server.url(f"/api/products/{product_id}/images"), data=noisy_jpeg(rng),
                                 headers=headers, timeout=10)
            if resp.status_code == 201:
                acknowledged[resp.json()["id"]] = resp.json()
            elif not (resp.status_code == 409 and resp.json()["code"] == "too_many_images"):
                unexpected.append((resp.status_code, resp.text[:300]))
        except (requests.RequestException, ValueError):
            time.sleep(0.005)  # down, or died mid-answer: nothing was acknowledged


def every_image_record(server, token, product_ids):
    found = []
    for product_id in product_ids:
        found += server.list_all(f"/api/products/{product_id}/images", token)
    return found


def test_kill_9_during_uploads_leaves_no_image_without_its_bytes(make_server):
    server = make_server()
    token = server.login()["access_token"]
    product_ids = [server.create_product(token, f"PIC-{n}", stock=1)["id"] for n in range(UPLOADERS * 4)]
    acknowledged, unexpected = {}, []
    rng = random.Random(16)
    for round_number in range(ROUNDS):
        before = len(acknowledged)
        stop = threading.Event()
        clients = [threading.Thread(target=upload_in_a_loop,
                                    args=(server, token, product_ids, acknowledged, unexpected, stop,
                                          round_number * 100 + n)) for n in range(UPLOADERS)]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < before + 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.2))
        server.kill()  # master and every worker, mid-upload
        stop.set()
        for client in clients:
            client.join(timeout=30)
        assert len(acknowledged) > before, "no upload went through before the kill"
        assert unexpected == []
        if uses_json_store(server):
            check_files(server.data_dir)
        server.start()

        records = every_image_record(server, token, product_ids)
        assert set(acknowledged) <= {r["id"] for r in records}, "an answered upload is gone"
        for record in records:
            original = server.request("GET", f"/api/images/{record['id']}/original", token)
            assert original.status_code == 200, f"image {record['id']} has no bytes: {original.text[:200]}"
            assert hashlib.sha256(original.content).hexdigest() == record["sha256"]
            assert len(original.content) == record["bytes"]
        for product_id in product_ids:
            positions = [r["position"] for r in records if r["product_id"] == product_id]
            assert sorted(positions) == list(range(1, len(positions) + 1))
        # at most one upload per client was committed without its answer getting out
        assert len(acknowledged) <= len(records) <= len(acknowledged) + UPLOADERS
    server.stop()
