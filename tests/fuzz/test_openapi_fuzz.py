"""Schemathesis against the served /openapi.json: every operation, a few generated requests each,
signed in as admin, on every backend. No answer may be a 5xx, use a status, content type or header
the spec does not document for it, break its documented schema, or accept data the spec forbids.

Bounded: EXAMPLES cases per operation (valid and invalid data, real and made-up ids), no
Hypothesis shrinking database, and each call runs in-process through the WSGI app (no socket to
hang on); pytest-timeout's limit below ends a run that hangs all the same.

Not checked: that every request valid by the spec is accepted (`positive_data_acceptance`). The
spec cannot say everything the server checks (a current password that must match, an order id
that must exist, a sort field from a list that differs per resource), so such 400s are right.
"""
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation.modes import GenerationMode

from app.services import users as user_service
from tests.factories import one_of_every_kind
from tests.security.spec import operations

EXAMPLES = 12  # per operation; about 20 s per backend here (40 found nothing more)
OPS = operations()
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@pytest.fixture
def real_ids(client, auth, users):
    """Path parameters naming records that exist, so generated bodies reach the rules behind the 404."""
    return one_of_every_kind(client, auth, users)


def path_ids(path, ids):
    """{"id": <a real id>} for /api/orders/{id}/pay; {"code": ...} for /api/barcodes/{code}."""
    parts = path.strip("/").split("/")
    return {part[1:-1]: ids[parts[i - 1]] for i, part in enumerate(parts) if part.startswith("{")}


def fresh_admin_headers(app, users):
    """A new admin session (no password hashing): logging out must not sign the other cases out."""
    store = app.extensions["backroom.store"]
    with store.unit_of_work() as uow:
        session = user_service.start_session(uow, users["admin"])
        uow.commit()
    token = app.extensions["backroom.tokens"].issue(session, users["admin"])["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("op", OPS, ids=[o.operation_id for o in OPS])
def test_generated_requests_get_documented_answers(app, api_schema, auth, users, real_ids, op):
    operation = api_schema[op.path][op.method]
    known = path_ids(op.path, real_ids)
    # The admin's header is fixed in the strategy (so no case is made invalid by a mangled
    # Authorization alone) and sent with the call (so schemathesis knows it is real, and probes
    # the operation without it and with a bad one: ignored_auth). Logging out ends the session
    # it is sent with: each of its cases gets a session of its own, and only valid cases.
    ends_session = op.operation_id == "logout"
    headers = None if ends_session else auth["admin"]
    modes = [GenerationMode.POSITIVE] if ends_session else [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategy = st.one_of([operation.as_strategy(mode, path_parameters=ids, headers=headers)
                          for mode in modes for ids in (known, None)])

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=(Phase.explicit, Phase.generate, Phase.shrink),
              suppress_health_check=list(HealthCheck))
    def generated(case):
        send = fresh_admin_headers(app, users) if ends_session else auth["admin"]
        case.call_and_validate(headers=send, excluded_checks=[checks.positive_data_acceptance])

    generated()
