"""openapi.yaml is the contract: valid OpenAPI 3, served as YAML and JSON, and the same paths as the app."""
import re

import yaml
from openapi_spec_validator import validate

from app.api.health import SPEC_PATH

# routes that serve the docs themselves, not the API
DOC_ROUTES = {"/apidocs/", "/apidocs/apispec.json", "/apidocs/index.html", "/oauth2-redirect.html",
              "/openapi.json", "/openapi.yaml"}
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _spec():
    with open(SPEC_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _app_operations(app):
    ops = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "{param}", rule.rule)
        if rule.endpoint == "static" or "static" in rule.rule or rule.rule in DOC_ROUTES:
            continue
        for method in rule.methods & METHODS:
            ops.add((method, path))
    return ops


def _spec_operations(spec):
    ops = set()
    for path, item in spec["paths"].items():
        for method in item:
            if method.upper() in METHODS:
                ops.add((method.upper(), re.sub(r"\{[^}]+\}", "{param}", path)))
    return ops


def test_spec_is_valid_openapi_3():
    spec = _spec()
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_route_is_in_the_spec_and_every_spec_path_is_a_route(app):
    spec_ops, app_ops = _spec_operations(_spec()), _app_operations(app)
    assert app_ops - spec_ops == set(), "routes missing from openapi.yaml"
    assert spec_ops - app_ops == set(), "openapi.yaml operations the app does not serve"


def test_spec_is_served_as_yaml_and_json(client):
    as_yaml = client.get("/openapi.yaml")
    as_json = client.get("/openapi.json")
    assert as_yaml.status_code == 200 and as_json.status_code == 200
    assert yaml.safe_load(as_yaml.data) == as_json.get_json() == _spec()


def test_swagger_ui_page_is_served(client):
    resp = client.get("/apidocs/")
    assert resp.status_code == 200
    assert b"swagger" in resp.data.lower()


def test_bearer_scheme_lets_swagger_authorize():
    spec = _spec()
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
