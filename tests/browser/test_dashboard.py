"""The back-office page in a real headless Chromium: sign in on /dashboard/, and every figure shown is
the one GET /api/dashboard answers, with a chart bar per day."""
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from tests.conftest import PASSWORDS
from tests.factories import create_product, pay, place_order

from .pages import needs_chromium, waiting

pytestmark = needs_chromium


def _sign_in(browser, wait, username, password):
    for name, value in (("username", username), ("password", password)):
        field = wait.until(EC.visibility_of_element_located((By.NAME, name)))
        field.clear()
        field.send_keys(value)
    browser.find_element(By.CSS_SELECTOR, "[data-form=sign-in] button[type=submit]").click()


def _figure(board, path):
    value = board
    for key in path.split("."):
        value = value[key]
    return str(value)


def test_signed_in_page_shows_the_dashboards_figures_and_a_bar_per_day(live_server, watch, client, auth):
    manager = auth["manager"]
    book = create_product(client, manager, title="<b>Bold</b> book", price="1234.50", cost="1.00",
                          stock=4, low_stock_threshold=5)
    pay(client, manager, place_order(client, manager, [(book, 1)]))
    place_order(client, manager, [(book, 1)])
    board = client.get("/api/dashboard", headers=manager).get_json()

    browser = watch.open(f"{live_server}/dashboard/")
    wait = waiting(browser)
    _sign_in(browser, wait, "viewer", PASSWORDS["viewer"])
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-figure="today.revenue"]')
               .get_attribute("data-value"))

    shown = browser.find_elements(By.CSS_SELECTOR, "[data-figure]")
    assert {node.get_attribute("data-figure") for node in shown} >= {
        "today.orders", "today.revenue", "today.net", "last_30_days.orders", "last_30_days.revenue",
        "last_30_days.refunds", "last_30_days.net", "low_stock_count", "out_of_stock_count",
        "stock_value_cost", "stock_value_retail"}
    for node in shown:
        expected = _figure(board, node.get_attribute("data-figure"))
        assert node.get_attribute("data-value") == expected
        digits = "".join(c for c in node.text if c.isdigit())
        assert digits == "".join(c for c in expected if c.isdigit()), node.text

    bars = browser.find_elements(By.CSS_SELECTOR, 'svg[data-chart="sales"] rect')
    assert [b.get_attribute("data-date") for b in bars] == [d["date"] for d in board["sales_by_day"]]
    assert [b.get_attribute("data-value") for b in bars] == [d["revenue"] for d in board["sales_by_day"]]
    heights = [float(b.get_attribute("height")) for b in bars]
    assert heights[-1] == max(heights) > 0 and heights[0] == 0

    # API text is text: the title's markup shows as typed, it makes no element
    assert "<b>Bold</b> book" in browser.find_element(By.CSS_SELECTOR, "[data-bind=top-products]").text
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-bind=top-products] b")
    low = browser.find_element(By.CSS_SELECTOR, "[data-bind=low-stock] a")
    assert low.get_attribute("href").endswith(f"#/products/{book['id']}")
    low.click()
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-bind=product-sku]"), book["sku"]))
    movements = browser.find_elements(By.CSS_SELECTOR, "[data-bind=movements] tr")
    assert len(movements) == 3  # the opening stock and two sales

    browser.find_element(By.CSS_SELECTOR, "[data-action=sign-out]").click()
    wait.until(EC.visibility_of_element_located((By.NAME, "username")))


def test_a_refused_sign_in_is_shown_and_the_page_fits_a_phone(live_server, watch):
    watch.allow(r"/api/auth/login .*401")  # the refused sign-in, on purpose
    browser = watch.driver
    browser.set_window_size(360, 800)
    browser = watch.open(f"{live_server}/dashboard/")
    wait = waiting(browser)
    _sign_in(browser, wait, "clerk", "not-the-password")
    refusal = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[data-bind=refusal]")))
    assert refusal.text
    _sign_in(browser, wait, "clerk", PASSWORDS["clerk"])
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-figure="today.orders"]')
               .get_attribute("data-value"))
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth")
