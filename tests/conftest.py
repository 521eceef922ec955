"""Shared fixtures: an app on a fresh temp store with one signed-in user per role."""
import os
import shutil

import pytest

from app import create_app
from app.services import users as user_service

PASSWORDS = {"admin": "admin-pass-1", "manager": "manager-pass-1", "clerk": "clerk-pass-1",
             "viewer": "viewer-pass-1"}


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory):
    """A JSON store with one user per role and a signed-in session each, made once per run.

    Password hashing is slow on purpose, so tests copy this folder instead of hashing again;
    the copy carries secret.key, so the tokens minted here stay valid in every copy.
    """
    folder = tmp_path_factory.mktemp("seeded") / "data"
    app = create_app({"DATA_DIR": str(folder)})
    store = app.extensions["backroom.store"]
    tokens = {}
    with app.app_context():
        with store.unit_of_work() as uow:
            for role, password in PASSWORDS.items():
                user = user_service.create_user(uow, {"username": role, "password": password,
                                                      "role": role, "email": f"{role}@example.com"})
                session = user_service.start_session(uow, user)
                tokens[role] = app.extensions["backroom.tokens"].issue(session, user)
                tokens[role]["user"] = user
            uow.commit()
    store.checkpoint()
    return folder, tokens


@pytest.fixture
def data_dir(seeded_store, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(seeded_store[0], folder)
    return folder


@pytest.fixture
def app(data_dir):
    return create_app({"DATA_DIR": str(data_dir)})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["backroom.store"]


@pytest.fixture
def tokens(seeded_store):
    return seeded_store[1]


@pytest.fixture
def auth(tokens):
    """auth["manager"] -> the headers of a signed-in manager."""
    return {role: {"Authorization": f"Bearer {t['access_token']}"} for role, t in tokens.items()}


@pytest.fixture
def users(tokens):
    return {role: t["user"] for role, t in tokens.items()}
