"""Swagger UI in a real headless Chromium: Authorize with a token, then Try it out against the API."""
import pytest

from tests.factories import create_product, picture

from .pages import needs_chromium, waiting

from selenium.webdriver.common.by import By  # noqa: E402  (pages skips the module without selenium)
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402

pytestmark = needs_chromium


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


def test_authorize_then_try_it_out_reads_the_signed_in_user(live_server, watch, tokens):
    # the refused call below is on purpose: Swagger UI logs it, and so does the browser
    watch.allow(r"/api/auth/me - Failed to load resource: .* 401", r"Error: UNAUTHORIZED")
    browser = watch.open(f"{live_server}/apidocs/")
    wait = waiting(browser)
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


def test_every_tag_section_renders_its_operations(live_server, watch):
    browser = watch.open(f"{live_server}/apidocs/")
    wait = waiting(browser)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    summaries = {el.text for el in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    for path in ("/api/auth/login", "/api/products", "/api/orders/{id}/pay",
                 "/api/deliveries/{id}/status"):
        assert any(path in s for s in summaries), f"{path} not shown in Swagger UI"
    assert not browser.find_elements(By.CSS_SELECTOR, ".errors-wrapper"), "the spec has errors"


def test_try_it_out_uploads_a_product_image_from_a_file(live_server, watch, tokens, client, auth, tmp_path):
    """Section 16: the upload is documented as multipart/form-data, so Swagger UI offers a file picker."""
    product = create_product(client, auth["manager"])
    cover = tmp_path / "cover.jpg"
    cover.write_bytes(picture((120, 180)))
    browser = watch.open(f"{live_server}/apidocs/")
    wait = waiting(browser)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    _click(browser, wait, ".auth-wrapper .authorize")
    token_input = wait.until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, ".modal-ux input[type=text], .modal-ux input[type=password]")))
    token_input.send_keys(tokens["manager"]["access_token"])
    _click(browser, wait, ".modal-ux .auth-btn-wrapper .authorize")
    _click(browser, wait, ".modal-ux .btn-done")

    block_id = "operations-images-uploadProductImage"
    block = wait.until(EC.presence_of_element_located((By.ID, block_id)))
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", block)
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    _click(browser, wait, f"#{block_id} .try-out__btn")
    path_input = wait.until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, f"#{block_id} tr[data-param-name='id'] input")))
    path_input.send_keys(Keys.CONTROL, "a")  # over the spec's example id
    path_input.send_keys(product["id"])
    file_input = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f"#{block_id} input[type=file]")))
    file_input.send_keys(str(cover))
    _click(browser, wait, f"#{block_id} .execute")
    status = wait.until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, f"#{block_id} .live-responses-table tr.response .response-col_status")))
    assert status.text.strip() == "201"
    images = client.get(f"/api/products/{product['id']}/images", headers=auth["viewer"]).get_json()["items"]
    assert [(i["width"], i["height"]) for i in images] == [(120, 180)]
