"""OWASP API9:2023 Improper Inventory Management: the spec and the app's routes are the same set
both ways (no undocumented route, no documented operation the app lacks), every operation is
named and described once, the only routes outside the spec are the docs' own, and the spec says
which version it describes.
"""
from collections import Counter

from tests.api.test_openapi import DOC_ROUTES, _app_operations, _spec_operations

from .spec import load, operations


def test_the_app_serves_exactly_the_operations_in_the_spec(app):
    spec_ops, app_ops = _spec_operations(load()), _app_operations(app)
    assert app_ops - spec_ops == set(), "routes missing from openapi.yaml"
    assert spec_ops - app_ops == set(), "openapi.yaml operations the app does not serve"


def test_the_only_routes_outside_the_spec_are_the_docs_and_static_files(app):
    outside = {rule.rule for rule in app.url_map.iter_rules()
               if not rule.rule.startswith(("/api/", "/healthz", "/readyz"))}
    allowed = DOC_ROUTES | {"/static/<path:filename>", "/apidocs/static/<path:filename>"}
    assert outside <= allowed, sorted(outside - allowed)


def test_every_operation_has_one_unique_id_and_a_summary():
    spec = load()
    ids = Counter(op.operation_id for op in operations(spec))
    assert [i for i, n in ids.items() if n > 1] == []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                assert op.get("operationId") and op.get("summary"), f"{method} {path}"
                assert op.get("tags"), f"{method} {path} belongs to no tag"


def test_the_spec_names_its_version():
    info = load()["info"]
    assert info["version"] and info["title"]


def test_methods_nobody_documented_are_refused(client, auth):
    for method in ("TRACE", "PUT", "PATCH"):
        resp = client.open("/api/orders", method=method, headers=auth["admin"])
        assert resp.status_code == 405, method
        assert resp.mimetype == "application/problem+json"
