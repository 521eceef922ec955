"""Unit-test fixtures: the in-memory store and cheap password hashing."""
import pytest
from werkzeug.security import generate_password_hash

from app.services import locations, users
from app.storage.memory import MemoryStore


@pytest.fixture
def memory_store():
    """An in-memory store as the app leaves one at start-up: with its default location."""
    store = MemoryStore()
    with store.unit_of_work() as uow:
        locations.ensure_default_location(uow)
        uow.commit()
    return store


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """scrypt is slow on purpose; the rules under test do not care how a password is hashed."""
    monkeypatch.setattr(users, "hash_password",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"))
