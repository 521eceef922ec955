"""Shared fixtures: an app on a fresh store, on every storage backend, with one signed-in user per role.

Every test that uses `app`, `client`, `store`, `data_dir` or `make_app` (directly or through
another fixture) runs once per backend: `test_x[json]` and `test_x[postgres]`.  The PostgreSQL
run is skipped, with the reason, when SHOP_TEST_DATABASE_URL is unset or the server does not
answer; with SHOP_TEST_REQUIRE_POSTGRES=1 (.ci/run) it fails instead.

- `backend` names the current one; `@pytest.mark.backends("json")` keeps a test to those named.
- `make_app(**config)` builds another app on the same store (e.g. with PUBLIC_CATALOG=False).
- On PostgreSQL, the run has one migrated schema; before each test it is emptied and given the
  same users (one per role) and signed-in sessions as the JSON seed, so `tokens`/`auth` work on both.
  `data_dir` is then a temp folder holding only secret.key.
- System tests start servers with tests.pg.backend_overrides(backend, tmp_path).
"""
import shutil

import pytest
from werkzeug.routing.rules import Rule

from app import create_app
from app.auth import Tokens
from app.config import DEFAULTS
from app.storage import read_or_create_secret
from app.services import users as user_service
from app.storage.jsonfile import JsonFileStore

from . import pg

BACKENDS = ("json", "postgres")
PASSWORDS = {"admin": "admin-pass-1", "manager": "manager-pass-1", "clerk": "clerk-pass-1",
             "editor": "editor-pass-1", "viewer": "viewer-pass-1"}


_BUILDERS = {}
_compile_builder = Rule._compile_builder


def _compile_builder_once(self, append_unknown=True):
    """Werkzeug compiles two URL builders (Python source, ast, compile()) for each of a rule's
    apps; every test makes an app with the same ~160 rules, so a run spent minutes on it. The
    builder is a function of the rule's parsed form (it reads converters through its `self`
    argument), so one made for an equal rule serves them all."""
    key = (self.rule, tuple(self._trace), repr(sorted((self.defaults or {}).items())),
           tuple((name, type(conv).__name__) for name, conv in self._converters.items()), append_unknown)
    builder = _BUILDERS.get(key)
    if builder is None:
        builder = _BUILDERS[key] = _compile_builder(self, append_unknown)
    return builder


Rule._compile_builder = _compile_builder_once


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run this test only on these storage backends "
                                       "(json, postgres)")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        names = [b for b in BACKENDS if marker is None or b in marker.args]
        metafunc.parametrize("backend", names, indirect=True)


@pytest.fixture
def backend(request):
    """"json" or "postgres": the storage backend this run of the test uses."""
    return getattr(request, "param", "json")


@pytest.fixture(scope="session", autouse=True)
def _drop_server_schemas():
    """Schemas handed to servers by tests.pg.backend_overrides go when the session ends."""
    yield
    pg.drop_created_schemas()


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory):
    """A JSON store with one user per role and a signed-in session each, made once per run.

    Password hashing is slow on purpose, so tests copy this folder instead of hashing again;
    the copy carries secret.key, so tokens signed with it are valid in every copy. Returns the
    folder and, per role, the (session, user) that `tokens` signs afresh for each test: a token
    signed here once would expire (ACCESS_TOKEN_TTL) before a long run ends.
    """
    folder = tmp_path_factory.mktemp("seeded") / "data"
    app = create_app({"DATA_DIR": str(folder), "DATABASE_URL": None})
    store = app.extensions["backroom.store"]
    signed_in = {}
    with app.app_context():
        with store.unit_of_work() as uow:
            for role, password in PASSWORDS.items():
                user = user_service.create_user(uow, {"username": role, "password": password,
                                                      "role": role, "email": f"{role}@example.com"})
                signed_in[role] = (user_service.start_session(uow, user), user)
            uow.commit()
    store.checkpoint()
    return folder, signed_in


@pytest.fixture(scope="session")
def pg_shop(seeded_store):
    """This run's PostgreSQL schema, seeded like the JSON folder (users, sessions, secret key)."""
    url = pg.require_postgres()
    folder = seeded_store[0]
    seed_store = JsonFileStore(str(folder))
    with seed_store.snapshot() as tx:
        seed = {c: [dict(r) for r in tx.scan(c)] for c in ("users", "sessions")}
    secret = (folder / "secret.key").read_text().strip()
    shop = pg.PgShop(url, "api", seed=seed, secret=secret)
    yield shop
    shop.drop()


@pytest.fixture
def data_dir(backend, seeded_store, tmp_path, request, monkeypatch):
    """This test's store: a copy of the seeded JSON folder, or the run's schema reset to the seed.

    On PostgreSQL the SHOP_DATABASE_* variables point there for the test, so an app a test builds
    itself with create_app({"DATA_DIR": data_dir, ...}) uses it too; its pool closes after the test.
    """
    folder = tmp_path / "data"
    for name in ("SHOP_DATABASE_URL", "SHOP_DATABASE_SCHEMA", "SHOP_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    if backend == "json":
        shutil.copytree(seeded_store[0], folder)
        yield folder
        return
    shop = request.getfixturevalue("pg_shop")
    shop.reset()
    folder.mkdir()
    shutil.copy2(seeded_store[0] / "secret.key", folder / "secret.key")
    monkeypatch.setenv("SHOP_DATABASE_URL", shop.url)
    monkeypatch.setenv("SHOP_DATABASE_SCHEMA", shop.schema)
    monkeypatch.setenv("SHOP_SECRET_KEY", shop.secret)
    before = set(pg.open_stores())
    yield folder
    for opened in set(pg.open_stores()) - before:
        opened.close()


@pytest.fixture
def make_app(backend, data_dir, request):
    """make_app(**config) -> an app on this test's store; its connections close after the test."""
    apps = []

    def make(**overrides):
        config = {"DATA_DIR": str(data_dir), "DATABASE_URL": None}
        if backend == "postgres":
            config.update(request.getfixturevalue("pg_shop").config())
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["backroom.store"].close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["backroom.store"]


@pytest.fixture
def tokens(seeded_store):
    """tokens[role] -> {"access_token", "refresh_token", ..., "user"}, signed now for this test."""
    folder, signed_in = seeded_store
    signer = Tokens(read_or_create_secret(str(folder)), DEFAULTS["ACCESS_TOKEN_TTL"],
                    DEFAULTS["REFRESH_TOKEN_TTL"])
    return {role: {**signer.issue(session, user), "user": user}
            for role, (session, user) in signed_in.items()}


@pytest.fixture
def auth(tokens):
    """auth["manager"] -> the headers of a signed-in manager."""
    return {role: {"Authorization": f"Bearer {t['access_token']}"} for role, t in tokens.items()}


@pytest.fixture
def users(tokens):
    return {role: t["user"] for role, t in tokens.items()}
