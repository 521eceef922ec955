"""The shop page in a real headless Chromium, as a buyer uses it: search, a product's page, the
basket, checkout with a field error beside its field, the confirmation; the staff API then holds
the order and the lower stock; tracking shows the delivery's events. And it fits a 360 px phone."""
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from tests.factories import create_delivery, create_product, move_delivery, pay

from .pages import needs_chromium, waiting

pytestmark = needs_chromium


def _field(browser, label):
    """The shown input a <label> with exactly this text names."""
    for found in browser.find_elements(By.XPATH, f'//label[normalize-space()="{label}"]'):
        field = browser.find_element(By.ID, found.get_attribute("for"))
        if field.is_displayed():
            return field
    raise AssertionError(f"no field labelled {label!r} is shown")


def _type(browser, label, text):
    field = _field(browser, label)
    field.clear()
    field.send_keys(text)


def _click(browser, wait, words, tag="button"):
    node = wait.until(EC.element_to_be_clickable(
        (By.XPATH, f'//{tag}[normalize-space()="{words}" and not(ancestor::*[@hidden])]')))
    node.click()
    return node


def _no_sideways_scrolling(browser):
    return browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def test_a_buyer_searches_checks_out_and_tracks_an_order(live_server, watch, client, auth):
    manager = auth["manager"]
    wanted = create_product(client, manager, title="Middlemarch", kind="book", author="George Eliot",
                            price="12.50", stock=5, description="<script>alert(1)</script> A study.")
    create_product(client, manager, title="Adam Bede", kind="book", author="George Eliot", stock=2)
    for n in range(13):  # more than a page of results
        create_product(client, manager, title=f"Pamphlet {n:02d}", stock=1)

    browser = watch.open(f"{live_server}/shop/")
    wait = waiting(browser)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-bind=results] li"))
    assert browser.find_element(By.CSS_SELECTOR, 'meta[name="viewport"]')
    # pages of results
    assert len(browser.find_elements(By.CSS_SELECTOR, "[data-bind=results] li")) == 12
    _click(browser, wait, "Next")
    wait.until(lambda d: "Page 2" in d.find_element(By.CSS_SELECTOR, "[data-bind=page]").text)
    _click(browser, wait, "Previous")
    wait.until(lambda d: "Page 1" in d.find_element(By.CSS_SELECTOR, "[data-bind=page]").text)

    _type(browser, "Search", "eliot")
    _click(browser, wait, "Search")
    wait.until(lambda d: [a.text for a in d.find_elements(By.CSS_SELECTOR, "[data-bind=results] .title")]
               == ["Adam Bede", "Middlemarch"])
    _click(browser, wait, "Middlemarch", tag="a")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-bind=product-title]").text == "Middlemarch")
    description = browser.find_element(By.CSS_SELECTOR, "[data-bind=product-description]")
    assert description.text.startswith("<script>")  # text, never HTML
    _click(browser, wait, "Add to basket")
    _click(browser, wait, "Add to basket")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-bind=basket-count]").text == "2")

    browser.find_element(By.CSS_SELECTOR, "[data-link=basket]").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-bind=basket-lines] li"))
    assert _field(browser, "Quantity").get_attribute("value") == "2"
    _click(browser, wait, "Checkout", tag="a")

    _type(browser, "Name", "Ada Lovelace")
    _type(browser, "Email", "ada@example.com")
    _type(browser, "Phone", "+44 20 7946 0000")
    _type(browser, "Address line 1", "12 St James's Square")
    _type(browser, "City", "London")
    _type(browser, "Postal code", "SW1Y 4JH")
    watch.allow(r"status of 400")  # the refused first try below
    _click(browser, wait, "Place order")  # no country: the API's error shows beside the field
    error = wait.until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, '[data-error="shipping_address.country"]')))
    assert error.text
    assert _field(browser, "Country").get_attribute("aria-invalid") == "true"
    _type(browser, "Country", "GB")
    _click(browser, wait, "Place order")

    heading = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[data-bind=done-number]")))
    number = int(heading.text.removeprefix("Order "))
    assert "25.00" in browser.find_element(By.CSS_SELECTOR, "[data-bind=done-total]").text
    assert browser.find_element(By.CSS_SELECTOR, "[data-bind=basket-count]").text == "0"

    # staff see the order, and the stock it took
    orders = client.get("/api/orders?channel=storefront", headers=manager).get_json()["items"]
    assert [(o["number"], o["total"], o["customer"]["email"]) for o in orders] == [(number, "25.00", "ada@example.com")]
    assert orders[0]["shipping_address"]["country"] == "GB"
    assert client.get(f"/api/products/{wanted['id']}", headers=manager).get_json()["stock"] == 3
    pay(client, manager, orders[0])
    delivery = create_delivery(client, manager, orders[0], carrier="Royal Mail")
    move_delivery(client, manager, delivery, "in_transit")

    _click(browser, wait, "Track this order", tag="a")
    wait.until(lambda d: _field(d, "Order number").get_attribute("value") == str(number))
    _type(browser, "Email", "ADA@example.com")
    _click(browser, wait, "Track")
    status = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[data-bind=tracked-status]")))
    assert status.text == "shipped"
    steps = browser.find_elements(By.CSS_SELECTOR, ".events li")
    assert [s.get_attribute("data-status") for s in steps] == ["pending", "in_transit"]
    assert "in transit" in steps[1].text and any(c.isdigit() for c in steps[1].text)

    watch.allow(r"status of 404")
    _type(browser, "Email", "eve@example.com")
    _click(browser, wait, "Track")
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[data-bind=track-miss]")))


def test_the_shop_fits_a_phone_and_a_desktop(live_server, watch, client, auth):
    create_product(client, auth["manager"], title="A very long title " * 6, author="Someone", stock=1)
    browser = watch.open(f"{live_server}/shop/")
    wait = waiting(browser)
    for width, height in ((360, 780), (1280, 900)):
        browser.set_window_size(width, height)
        for fragment in ("#/", "#/basket", "#/checkout", "#/track"):
            browser.get(f"{live_server}/shop/{fragment}")
            wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
            wait.until(lambda d: any(s.is_displayed() for s in d.find_elements(By.CSS_SELECTOR, "[data-view]")))
            assert _no_sideways_scrolling(browser), (width, fragment)
    browser.set_window_size(360, 780)
    browser.get(f"{live_server}/shop/#/")
    title = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "[data-bind=results] .title")))
    title.click()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-bind=product-title]").text)
    assert _no_sideways_scrolling(browser)
    browser.save_screenshot("/tmp/shop-phone-product.png")


def _jpeg(size, colour):
    import io
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def test_the_shop_shows_each_products_picture_with_its_alt_text(live_server, watch, client, auth):
    import io
    manager = auth["manager"]
    pictured = create_product(client, manager, title="Middlemarch", kind="book", stock=3)
    untitled = create_product(client, manager, title="Adam Bede", kind="book", stock=3)
    create_product(client, manager, title="Silas Marner", kind="book", stock=3)  # no picture
    for product, size, alt in ((pictured, (800, 1200), "Cover of Middlemarch"), (untitled, (300, 100), "")):
        resp = client.post(f"/api/products/{product['id']}/images", headers=manager,
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(_jpeg(size, (20, 60, 120))), "cover.jpg"), "alt": alt})
        assert resp.status_code == 201, resp.get_json()

    browser = watch.open(f"{live_server}/shop/")
    wait = waiting(browser)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-bind=results] li")) == 3)

    def shown(img):  # loaded by the browser from our own /api/images/... (not a broken picture)
        return browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)

    cards = {c.find_element(By.CSS_SELECTOR, ".title").get_attribute("textContent"): c
             for c in browser.find_elements(By.CSS_SELECTOR, "[data-bind=results] li")}
    thumb = cards["Middlemarch"].find_element(By.CSS_SELECTOR, "img")
    browser.execute_script("arguments[0].scrollIntoView()", thumb)  # lazy: loaded once in view
    wait.until(lambda d: shown(thumb))
    assert thumb.get_attribute("alt") == "Cover of Middlemarch" and thumb.get_attribute("loading") == "lazy"
    assert (thumb.get_attribute("width"), thumb.get_attribute("height")) == ("133", "200")
    assert "/thumb" in thumb.get_attribute("src") and shown(thumb) == 133
    other = cards["Adam Bede"].find_element(By.CSS_SELECTOR, "img")
    assert other.get_attribute("alt") == "Adam Bede"  # no alt text: the title says what it shows
    assert (other.get_attribute("width"), other.get_attribute("height")) == ("200", "67")
    assert cards["Silas Marner"].find_elements(By.CSS_SELECTOR, "img") == []

    browser.execute_script("arguments[0].click()", cards["Middlemarch"].find_element(By.CSS_SELECTOR, ".title"))
    large = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-bind=product-picture] img"))[0]
    wait.until(lambda d: shown(large))
    assert "/large" in large.get_attribute("src") and large.get_attribute("alt") == "Cover of Middlemarch"
    assert (large.get_attribute("width"), large.get_attribute("height")) == ("800", "1200")  # never upscaled
    assert shown(large) == 800
