"""The operations of openapi.yaml as the security tests walk them."""
from dataclasses import dataclass

import yaml

from app.api.health import SPEC_PATH

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    security: tuple
    responses: frozenset
    request_content_types: frozenset

    @property
    def anonymous_allowed(self):
        """No security requirement, or an empty one ({}) among the alternatives."""
        return not self.security or any(not requirement for requirement in self.security)

    def __repr__(self):
        return f"{self.method} {self.path}"


def load():
    with open(SPEC_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def operations(spec=None):
    spec = spec or load()
    default = spec.get("security", [])
    ops = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            security = op.get("security", default)
            content = (op.get("requestBody") or {}).get("content", {})
            ops.append(Operation(method.upper(), path, op.get("operationId") or f"{method} {path}",
                                 tuple(tuple(r) for r in security), frozenset(op.get("responses", {})),
                                 frozenset(content)))
    return ops
