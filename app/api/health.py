"""Liveness and readiness, and the served spec."""
import json
import os

import orjson
import yaml
from flask import Blueprint, Response, current_app

from ..config import PROJECT_ROOT
from ..errors import problem
from .responses import json_response
from .store import store

bp = Blueprint("health", __name__)
SPEC_PATH = os.path.join(PROJECT_ROOT, "openapi.yaml")


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_spec_cache = {}


def load_spec():
    """The parsed spec, a fresh copy per app; parsed again only when the file changes.

    Parsing 4,000 lines of YAML in pure Python takes about a second, and every
    create_app() (each test, each worker) needs the spec.
    """
    info = os.stat(SPEC_PATH)
    identity = (info.st_ino, info.st_size, info.st_mtime_ns)
    if _spec_cache.get("identity") != identity:
        with open(SPEC_PATH, encoding="utf-8") as fh:
            _spec_cache["spec"] = orjson.dumps(yaml.load(fh, Loader=_SAFE_LOADER), option=orjson.OPT_NON_STR_KEYS)
        _spec_cache["identity"] = identity
    return orjson.loads(_spec_cache["spec"])


@bp.get("/healthz")
def healthz():
    """The process is up."""
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """The store, and the images' bytes (section 16), can be read and written."""
    from ..storage.images import image_bytes
    try:
        store().check()
        image_bytes(store()).check()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        current_app.logger.warning("readiness check failed: %s", exc)
        return problem(503, "Not ready", "The store cannot be read and written right now.",
                       "not_ready", headers={"Retry-After": "5"})
    return json_response({"status": "ok", "storage": store().name})


@bp.get("/openapi.yaml")
def spec_yaml():
    """The hand-kept OpenAPI spec."""
    with open(SPEC_PATH, "rb") as fh:
        return Response(fh.read(), mimetype="application/yaml")


@bp.get("/openapi.json")
def spec_json():
    """The same spec as JSON."""
    return Response(json.dumps(current_app.extensions["backroom.spec"]), mimetype="application/json")
