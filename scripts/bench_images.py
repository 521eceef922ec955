"""`python -m scripts.bench_images` (run by `make bench`): product images over HTTP (section 16).

Two figures, each against Backroom as `make serve` starts it (same gunicorn command line):

  GET /api/images/{id}/thumb   requests per second with wrk, beside a floor: a bare Flask app under
                               the same gunicorn settings reading a file of the thumb's size from
                               disk on each request and sending it (`file_floor_app`). Target: at
                               least 0.75 x the floor.
  POST /api/products/{id}/images   a 4000 x 3000 JPEG made here, seconds to the 201 (median of a
                               few uploads, one at a time): decoding, re-encoding, hashing, fsync.
"""
import argparse
import io
import json
import os
import shutil
import statistics
import sys
import time
import urllib.request

from flask import Flask, Response

from .bench_http import (BENCH, Server, _start_backroom, clean_env, ensure_wrk, gunicorn_command, http,
                         lua_file, workers, wrk)

THUMB_TARGET = 0.75
ADMIN, PASSWORD = "bench-images", "bench-images-pass-1"


def file_floor_app():
    """GET /file: the bytes of BENCH_IMAGE_FILE, read from disk each time, as image/jpeg."""
    path = os.environ["BENCH_IMAGE_FILE"]
    app = Flask(__name__)

    @app.get("/file")
    def one_file():
        with open(path, "rb") as fh:
            return Response(fh.read(), mimetype="image/jpeg")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


def photo(seed, size=(4000, 3000)):
    """A 4000 x 3000 JPEG made here: smooth colour with detail, about as heavy as a phone photo."""
    from PIL import Image, ImageDraw
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for n in range(400):
        x, y = (seed * 7919 + n * 104729) % width, (seed * 15485863 + n * 32452843) % height
        draw.ellipse((x, y, x + 60 + n % 90, y + 40 + n % 70), fill=((n * 37) % 256, (seed * 91 + n) % 256, 128))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def upload(base, token, product_id, data):
    req = urllib.request.Request(f"{base}/api/products/{product_id}/images", data=data, method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        body = json.loads(resp.read())
        status = resp.status
    return status, time.perf_counter() - started, body


def thumb_figures(args, backroom, floor, image_id):
    """(Backroom's median rps, the floor's), rounds alternating between the two."""
    backroom_script, floor_script = lua_file("images_thumb"), lua_file("images_floor")
    paths = {"backroom": (backroom, f"/api/images/{image_id}/thumb", backroom_script),
             "floor": (floor, "/file", floor_script)}
    runs = {name: [] for name in paths}
    for name, (server, path, script) in paths.items():
        wrk(server.base + path, script, args.warmup, args.connections, args.threads)
    for _ in range(args.rounds):
        for name, (server, path, script) in paths.items():
            result = wrk(server.base + path, script, args.duration, args.connections, args.threads)
            if result["errors"]:
                print(f"  {name}: {result['errors']} errors in a round", flush=True)
            runs[name].append(result["rps"])
    return statistics.median(runs["backroom"]), statistics.median(runs["floor"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s after a 1 s warm-up")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--uploads", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.uploads = 1, 3, 1, 3
    if not ensure_wrk():
        return 2
    run_dir = os.path.join(BENCH, "run", "images")
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    env = clean_env(SHOP_DATA_DIR=os.path.join(run_dir, "data"), SHOP_BIND="127.0.0.1:{port}",
                    SHOP_DEMO_DATA="0", SHOP_ADMIN_USERNAME=ADMIN, SHOP_ADMIN_PASSWORD=PASSWORD)
    backroom, _, _ = _start_backroom("images-backroom", env)
    floor = None
    try:
        status, login = http("POST", backroom.base + "/api/auth/login",
                             {"username": ADMIN, "password": PASSWORD})
        token = login["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        status, product = http("POST", backroom.base + "/api/products", {"sku": "BENCH-PHOTO", "title": "Photo",
                                                                         "price": "1.00"}, auth)
        seconds, sizes = [], []
        for n in range(args.uploads):
            data = photo(n)
            sizes.append(len(data))
            status, took, image = upload(backroom.base, token, product["id"], data)
            assert status == 201, image
            seconds.append(took)
        print(f"POST /api/products/{{id}}/images, a 4000 x 3000 JPEG ({statistics.median(sizes) / 1e6:.1f} MB): "
              f"{statistics.median(seconds) * 1000:.0f} ms to 201 (median of {len(seconds)}; "
              f"min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f})", flush=True)

        with urllib.request.urlopen(image["urls"]["thumb"], timeout=60) as resp:
            thumb = resp.read()
        floor_file = os.path.join(run_dir, "thumb.jpg")
        with open(floor_file, "wb") as fh:
            fh.write(thumb)
        floor = Server("images-floor", gunicorn_command("127.0.0.1:{port}", "scripts.bench_images:file_floor_app()"),
                       clean_env(BENCH_IMAGE_FILE=floor_file)).start()
        floor.wait_ready("/healthz")
        floor.wait_settled(workers())
        ours, floors = thumb_figures(args, backroom, floor, image["id"])
        ratio = ours / floors if floors else 0.0
        verdict = "PASS" if ratio >= THUMB_TARGET else "FAIL"
        print(f"GET /api/images/{{id}}/thumb ({len(thumb)} bytes): {ours:.0f} req/s; the file floor "
              f"{floors:.0f} req/s; {ratio:.2f} x the floor (target >= {THUMB_TARGET}) {verdict}", flush=True)
        return 0 if verdict == "PASS" else 1
    finally:
        backroom.stop()
        if floor is not None:
            floor.stop()


if __name__ == "__main__":
    sys.exit(main())
