"""API-test fixtures on top of tests/conftest.py."""
import pytest

from app import create_app


@pytest.fixture
def app_with(request, data_dir):
    """app_with(**config) -> another app on this test's store with some settings changed
    (e.g. PUBLIC_CATALOG=False); it goes through the shared `make_app` when that fixture exists,
    so the test runs on whichever storage backend the shared fixtures chose."""
    try:
        make_app = request.getfixturevalue("make_app")
    except pytest.FixtureLookupError:
        make_app = None

    def build(**config):
        if make_app is not None:
            return make_app(**config)
        return create_app({"DATA_DIR": str(data_dir), **config})
    return build
