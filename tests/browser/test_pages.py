"""Every HTML page the app serves opens in headless Chromium with no console error, no uncaught
error and nothing refused by its Content-Security-Policy; Swagger UI's start-up script runs to the end."""
import time

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from .pages import needs_chromium

pytestmark = needs_chromium
SETTLE_SECONDS = 1.0  # for scripts a page runs after it has loaded


def html_pages(app):
    """Paths of the GET routes without parameters that answer an anonymous client with HTML."""
    client = app.test_client()
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments:
            continue
        resp = client.get(rule.rule)
        if resp.status_code == 200 and resp.mimetype == "text/html":
            pages.append(rule.rule)
    return sorted(pages)


def test_the_docs_are_among_the_pages_found(app):
    assert "/apidocs/" in html_pages(app)


def test_every_page_opens_without_errors(app, live_server, watch):
    for path in html_pages(app):
        browser = watch.open(live_server + path)
        WebDriverWait(browser, 20).until(
            lambda d: d.execute_script("return document.readyState") == "complete")
        time.sleep(SETTLE_SECONDS)
        watch.collect()
    # the watch fixture fails the test with every problem it collected


def test_swagger_ui_start_up_script_runs_to_the_end(live_server, watch):
    browser = watch.open(f"{live_server}/apidocs/")
    # window.ui is set on the script's last lines, after initOAuth (flasgger issue #639 stopped it before)
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return !!window.ui"))
    assert browser.execute_script("return typeof window.ui.specSelectors.specJson") == "function"


@pytest.mark.backends("json")
def test_the_watch_reports_errors_and_refused_inline_code(live_server, browser):
    """The watch itself: a thrown error, a console error and an inline script the page's
    Content-Security-Policy refuses are all reported."""
    from .pages import PageWatch
    watch = PageWatch(browser)
    watch.open(f"{live_server}/apidocs/")
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return !!window.ui"))
    browser.execute_script("setTimeout(() => { throw new Error('boom'); }, 0);"
                           "console.error('logged');"
                           "const s = document.createElement('script');"
                           "s.textContent = 'window.injected = 1';"
                           "document.body.appendChild(s);")
    time.sleep(0.5)
    problems = watch.collect()
    assert browser.execute_script("return window.injected") is None
    assert any("boom" in p for p in problems), problems
    assert any("logged" in p for p in problems), problems
    assert any("CSP violation: script-src" in p for p in problems), problems
