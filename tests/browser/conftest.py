"""Browser fixtures: the app on a local server, and a headless Chromium watching every page it opens."""
import threading

import pytest
from werkzeug.serving import make_server

from .pages import PageWatch, chromium


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path / "profile")
    yield driver
    driver.quit()


@pytest.fixture
def watch(browser):
    """watch.open(url) in the browser; the test fails if any page it opened reported an error."""
    watch = PageWatch(browser)
    yield watch
    watch.assert_clean()
