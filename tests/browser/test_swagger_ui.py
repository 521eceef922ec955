"""Swagger UI in a real headless Chromium: Authorize with a token, then Try it out against the API."""
import shutil
import threading

import pytest
from werkzeug.serving import make_server

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver "
                                       "(make test installs them when run as root)")


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _click(driver, wait, css):
    element = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, css)))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()
    return element


def _try_it_out(driver, wait, opblock_id):
    block = wait.until(EC.presence_of_element_located((By.ID, opblock_id)))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", block)
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    _click(driver, wait, f"#{opblock_id} .try-out__btn")
    _click(driver, wait, f"#{opblock_id} .execute")
    status = wait.until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, f"#{opblock_id} .live-responses-table tr.response .response-col_status")))
    body = driver.find_element(By.CSS_SELECTOR,
                               f"#{opblock_id} .live-responses-table tr.response .response-col_description pre")
    return status.text.strip(), body.text


def test_authorize_then_try_it_out_reads_the_signed_in_user(live_server, browser, tokens):
    wait = WebDriverWait(browser, 20)
    browser.get(f"{live_server}/apidocs/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))

    # without a token the API refuses, and Swagger UI shows the 401 problem
    status, body = _try_it_out(browser, wait, "operations-auth-getCurrentUser")
    assert status == "401"
    assert "unauthorized" in body

    _click(browser, wait, ".auth-wrapper .authorize")
    token_input = wait.until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, ".modal-ux input[type=text], .modal-ux input[type=password]")))
    token_input.send_keys(tokens["clerk"]["access_token"])
    _click(browser, wait, ".modal-ux .auth-btn-wrapper .authorize")
    _click(browser, wait, ".modal-ux .btn-done")

    _click(browser, wait, "#operations-auth-getCurrentUser .execute")
    wait.until(lambda d: d.find_element(
        By.CSS_SELECTOR, "#operations-auth-getCurrentUser .live-responses-table tr.response .response-col_status"
    ).text.strip() == "200")
    body = browser.find_element(
        By.CSS_SELECTOR,
        "#operations-auth-getCurrentUser .live-responses-table tr.response .response-col_description pre").text
    assert '"username": "clerk"' in body
    assert '"role": "clerk"' in body


def test_every_tag_section_renders_its_operations(live_server, browser):
    wait = WebDriverWait(browser, 20)
    browser.get(f"{live_server}/apidocs/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    summaries = {el.text for el in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    for path in ("/api/auth/login", "/api/products", "/api/orders/{id}/pay",
                 "/api/deliveries/{id}/status"):
        assert any(path in s for s in summaries), f"{path} not shown in Swagger UI"
    assert not browser.find_elements(By.CSS_SELECTOR, ".errors-wrapper"), "the spec has errors"
