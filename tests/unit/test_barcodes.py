"""Barcode rules without HTTP: which code a product prints, in-store codes, look-ups, pictures, sheets."""
import io
import random
import re
import struct
import tracemalloc
import zlib

import pytest
from PIL import Image

from app.services import barcodes
from app.services.codes import IN_STORE_PREFIX, gs1_valid, is_in_store
from app.services.errors import BarcodeExists, ImageTooLarge, NotFound, ValidationFailed
from scripts.bench_scan import phone_photo
from tests.unit.builders import add_product, read, run

BOOK = {"id": "p-book", "sku": "PEN-1", "title": "Pride and Prejudice", "price": "9.99",
        "isbn": "9780141439518", "barcode": "9780141439518", "version": 3}


def product(**fields):
    base = {"id": "p-1", "sku": "SKU-1", "title": "A product", "price": "1.00", "isbn": None,
            "barcode": None, "version": 1}
    base.update(fields)
    return base


def png_of(item, label=False):
    return barcodes.BarcodeImage(item, "png", label, "EUR").render()


def scan(data):
    return barcodes.decode_picture(barcodes.open_picture(data, 40_000_000))


def pdf_pages(data):
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", data))


# ---- which code a product prints ---------------------------------------------------------------

@pytest.mark.parametrize("item, expected", [
    (BOOK, ("ean13", "9780141439518")),
    (product(isbn="9780141439518"), ("ean13", "9780141439518")),
    (product(barcode="4006381333931"), ("ean13", "4006381333931")),
    (product(barcode="96385074"), ("ean8", "96385074")),
    (product(barcode="036000291452"), ("upca", "036000291452")),
    (product(barcode="BOX-17/B"), ("code128", "BOX-17/B")),
    (product(sku="MUG-LOGO"), ("code128", "MUG-LOGO")),
])
def test_each_product_prints_the_code_a_scanner_should_type_back(item, expected):
    assert barcodes.printed_code(item) == expected


@pytest.mark.parametrize("item, kind", [
    (BOOK, "EAN13"),
    (product(barcode="96385074"), "EAN8"),
    (product(barcode="036000291452"), "UPCA"),
    (product(sku="MUG-LOGO"), "CODE128"),
    (product(barcode="2001234567893"), "EAN13"),
])
def test_a_rendered_barcode_scans_back_to_its_value(item, kind):
    value = barcodes.printed_code(item)[1]
    assert scan(png_of(item)) == [(value, kind)]
    assert scan(png_of(item, label=True)) == [(value, kind)]


def test_a_label_puts_title_and_price_under_the_bars():
    plain = Image.open(io.BytesIO(png_of(BOOK)))
    label = Image.open(io.BytesIO(png_of(BOOK, label=True)))
    assert label.height > plain.height
    drawing = barcodes.draw_product(BOOK, "EUR", label=True)
    texts = [t.text for t in drawing.texts]
    assert "Pride and Prejudice" in texts and "€9.99" in texts


def test_a_long_title_is_shortened_to_fit_with_an_ellipsis():
    long = product(title="The Extraordinarily Long and Winding Title of a Book Nobody Can Print " * 3)
    drawing = barcodes.draw_product(long, "EUR", label=True)
    title = drawing.texts[-2]
    assert title.text.endswith("…") and len(title.text) < 60
    assert barcodes.font("sans", title.size).getlength(title.text) <= drawing.width


def test_a_price_in_an_unknown_currency_keeps_its_code():
    assert barcodes.price_text("12.50", "CHF") == "12.50 CHF"
    assert barcodes.price_text("12.50", "GBP") == "£12.50"


def test_svg_has_bars_digits_and_a_printable_size():
    svg = barcodes.BarcodeImage(BOOK, "svg", True, "EUR").render().decode()
    assert svg.startswith("<?xml") and 'width="' in svg and "mm" in svg
    assert svg.count("<rect") > 30
    assert ">780141<" in svg and ">439518<" in svg and "Pride and Prejudice" in svg


def test_svg_escapes_the_title():
    svg = barcodes.BarcodeImage(product(title="Fish & <Chips>"), "svg", True, "EUR").render()
    assert b"Fish &amp; &lt;Chips&gt;" in svg


def test_a_sku_code_128_cannot_carry_is_a_clear_error():
    with pytest.raises(barcodes.NotPrintable):
        barcodes.modules("code128", "TASSE-BLEUE-É")


def test_image_etag_varies_with_version_format_and_label():
    tags = {barcodes.BarcodeImage(dict(BOOK, version=v), f, lab, "EUR").etag
            for v in (3, 4) for f in ("png", "svg") for lab in (False, True)}
    assert len(tags) == 8
    assert barcodes.BarcodeImage(BOOK, "png", True, "EUR").etag == '"3-png-label"'


# ---- in-store codes ----------------------------------------------------------------------------

def test_in_store_codes_are_valid_unique_ean13s_in_the_20_range(memory_store):
    ids = [add_product(memory_store)["id"] for _ in range(300)]
    codes = [run(memory_store, lambda uow, pid=pid: barcodes.assign_store_barcode(uow, pid))["barcode"]
             for pid in ids]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert len(code) == 13 and code.startswith(IN_STORE_PREFIX) and gs1_valid(code)
        assert is_in_store(code)
    stored = read(memory_store, lambda uow: [uow.products.get(pid)["barcode"] for pid in ids])
    assert stored == codes


class Repeating:
    """A random source that first deals the same digits `times` times, then carries on."""

    def __init__(self, digits, times):
        self.queue = [int(d) for d in digits] * times
        self.rest = random.Random(7)

    def randrange(self, n):
        return self.queue.pop(0) if self.queue else self.rest.randrange(n)


def test_assignment_skips_a_code_already_used_as_barcode_or_sku(memory_store):
    taken = "2000000000015"
    add_product(memory_store, barcode=taken)
    add_product(memory_store, sku="2000000000022")
    fresh = add_product(memory_store)
    rng = Repeating("0000000001", 1)
    rng.queue += [int(d) for d in "0000000002"]
    result = run(memory_store, lambda uow: barcodes.assign_store_barcode(uow, fresh["id"], rng))
    assert result["barcode"] not in (taken, "2000000000022") and is_in_store(result["barcode"])


def test_a_product_with_a_barcode_keeps_it(memory_store):
    book = add_product(memory_store, kind="book", isbn="0141439513")
    with pytest.raises(BarcodeExists):
        run(memory_store, lambda uow: barcodes.assign_store_barcode(uow, book["id"]))
    assert read(memory_store, lambda uow: uow.products.get(book["id"]))["version"] == book["version"]


def test_assigning_to_an_unknown_product_is_not_found(memory_store):
    with pytest.raises(NotFound):
        run(memory_store, lambda uow: barcodes.assign_store_barcode(uow, "nope"))


def test_an_in_store_code_is_ean13_with_prefix_2_and_a_valid_check_digit():
    assert is_in_store("2000000000015")
    assert not is_in_store("2000000000016")  # wrong check digit
    assert not is_in_store("9780141439518")  # a publisher's code
    assert not is_in_store("20000000")


# ---- look-up -----------------------------------------------------------------------------------

@pytest.fixture
def shelf(memory_store):
    return {
        "book": add_product(memory_store, kind="book", isbn="978-0-14-143951-8", title="Pride"),
        "cola": add_product(memory_store, barcode="036000291452"),
        "mints": add_product(memory_store, barcode="96385074"),
        "mug": add_product(memory_store, sku="MUG-LOGO"),
        "old": add_product(memory_store, barcode="4006381333931", status="archived"),
    }


@pytest.mark.parametrize("typed, name", [
    ("9780141439518", "book"),
    ("0141439513", "book"),  # ISBN-10
    ("0-14-143951-3", "book"),
    (" 978-0-14-143951-8\n", "book"),  # what a USB scanner types, newline and all
    ("9780141439518\r\n", "book"),
    ("036000291452", "cola"),  # UPC-A
    ("0036000291452", "cola"),  # the same code as EAN-13
    ("96385074\t", "mints"),
    ("mug-logo", "mug"),
])
def test_a_code_finds_its_product_however_it_was_typed(memory_store, shelf, typed, name):
    found = read(memory_store, lambda uow: barcodes.find_product(uow, typed, include_archived=False))
    assert found["id"] == shelf[name]["id"]


def test_an_archived_product_is_found_only_for_staff(memory_store, shelf):
    assert read(memory_store, lambda uow: barcodes.find_product(uow, "4006381333931", True))["id"] \
        == shelf["old"]["id"]
    with pytest.raises(NotFound):
        read(memory_store, lambda uow: barcodes.find_product(uow, "4006381333931", False))


@pytest.mark.parametrize("typed", ["9780141439519", "", "   ", "nothing-here"])
def test_an_unknown_code_is_not_found(memory_store, shelf, typed):
    with pytest.raises(NotFound):
        read(memory_store, lambda uow: barcodes.find_product(uow, typed, include_archived=True))


# ---- reading pictures --------------------------------------------------------------------------

@pytest.mark.parametrize("item, kind, photo", [
    (BOOK, "EAN13", {"angle": 90}),
    (BOOK, "EAN13", {"angle": 180, "blur": 2.0}),
    (BOOK, "EAN13", {"angle": 4, "quality": 35}),
    (BOOK, "EAN13", {"angle": -6, "scale": 1.0, "blur": 0.8}),  # small in a 4000 x 3000 shot
    (product(barcode="96385074"), "EAN8", {"angle": -3, "blur": 2.0, "quality": 50}),
    (product(barcode="036000291452"), "UPCA", {"angle": 270, "scale": 1.5}),
    (product(sku="MUG-LOGO"), "CODE128", {"angle": 7, "blur": 1.5}),
])
def test_photo_like_pictures_of_our_barcodes_decode(item, kind, photo):
    value = barcodes.printed_code(item)[1]
    assert scan(phone_photo(png_of(item), **photo)) == [(value, kind)]


def test_a_code_on_a_transparent_png_is_read_on_white():
    ink = Image.open(io.BytesIO(png_of(BOOK))).convert("L")
    rgba = Image.new("RGBA", ink.size, (0, 0, 0, 0))
    rgba.putalpha(ink.point(lambda v: 255 - v))
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    assert scan(buf.getvalue()) == [("9780141439518", "EAN13")]


def test_a_picture_without_a_code_gives_nothing_in_bounded_time():
    photo = Image.effect_noise((1200, 900), 60).convert("RGB")
    buf = io.BytesIO()
    photo.save(buf, "JPEG")
    grey = barcodes.open_picture(buf.getvalue(), 40_000_000)
    assert barcodes.decode_picture(grey, budget=1.0) == []


def test_two_codes_in_one_picture_are_both_read():
    page = Image.new("L", (1400, 500), 255)
    page.paste(Image.open(io.BytesIO(png_of(BOOK))), (20, 50))
    page.paste(Image.open(io.BytesIO(png_of(product(sku="MUG-LOGO")))), (700, 50))
    buf = io.BytesIO()
    page.save(buf, "PNG")
    assert sorted(scan(buf.getvalue())) == [("9780141439518", "EAN13"), ("MUG-LOGO", "CODE128")]


@pytest.mark.parametrize("data", [b"", b"hello, I am text", b"\x89PNG\r\n\x1a\nnot really",
                                  b"%PDF-1.4\n%%EOF\n"])
def test_what_is_not_a_picture_is_a_validation_error(data):
    with pytest.raises(ValidationFailed) as caught:
        barcodes.open_picture(data, 40_000_000)
    assert caught.value.code == "validation_error" and "image" in caught.value.errors


def test_a_truncated_png_is_a_validation_error():
    whole = png_of(BOOK)
    with pytest.raises(ValidationFailed):
        barcodes.open_picture(whole[: len(whole) // 2], 40_000_000)


def bomb_png(width, height):
    """A valid PNG header claiming a huge picture, with a few bytes of data behind it."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(100_000, 100_000), (8000, 6000)])
def test_a_decompression_bomb_is_refused_from_its_header(size):
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge):
            barcodes.open_picture(bomb_png(*size), 40_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


# ---- label sheets ------------------------------------------------------------------------------

def test_a_sheet_is_a4_with_3_by_8_labels_inside_its_margins():
    (page_w, page_h), (cell_w, cell_h), cells = barcodes.sheet_geometry()
    assert (page_w, page_h) == (2480, 3508)  # A4 at 300 dpi
    assert len(cells) == 24 and len({x for x, _ in cells}) == 3 and len({y for _, y in cells}) == 8
    assert min(x for x, _ in cells) > 50 and max(x for x, _ in cells) + cell_w < page_w - 50
    assert min(y for _, y in cells) > 100 and max(y for _, y in cells) + cell_h < page_h - 100


@pytest.mark.parametrize("count, copies, pages", [(1, 1, 1), (24, 1, 1), (5, 5, 2), (7, 10, 3)])
def test_labels_spill_onto_more_pages(count, copies, pages):
    items = [product(id=f"p{i}", sku=f"SKU-{i}") for i in range(count)]
    sheet = barcodes.LabelSheet(items, copies, "pdf", "EUR")
    assert sheet.page_count == pages
    pdf = sheet.render()
    assert pdf.startswith(b"%PDF") and pdf_pages(pdf) == pages


def test_a_png_sheet_stacks_its_pages_and_each_label_scans():
    items = [BOOK, product(id="p-2", barcode="96385074")]
    png = barcodes.LabelSheet(items, 13, "png", "EUR").render()
    sheet = Image.open(io.BytesIO(png))
    assert sheet.size == (2480, 2 * 3508)
    _, (cell_w, cell_h), cells = barcodes.sheet_geometry()
    x, y = cells[0]
    first = sheet.crop((x, y, x + cell_w, y + cell_h)).convert("L")
    x, y = cells[13]  # the first mints label
    mints = sheet.crop((x, y, x + cell_w, y + cell_h)).convert("L")
    assert barcodes.decode_picture(first) == [("9780141439518", "EAN13")]
    assert barcodes.decode_picture(mints) == [("96385074", "EAN8")]


def test_too_many_labels_for_one_request_is_a_validation_error(memory_store):
    ids = [add_product(memory_store)["id"] for _ in range(7)]
    with pytest.raises(ValidationFailed):
        read(memory_store, lambda uow: barcodes.label_sheet(uow, ids, 100, "pdf", "EUR", True))
    with pytest.raises(ValidationFailed):
        read(memory_store, lambda uow: barcodes.label_sheet(uow, ids, 20, "png", "EUR", True))


def test_unknown_or_hidden_products_on_a_sheet_are_named(memory_store):
    live = add_product(memory_store)
    old = add_product(memory_store, status="archived")
    with pytest.raises(NotFound) as caught:
        read(memory_store, lambda uow: barcodes.label_sheet(uow, [live["id"], "nope", old["id"]], 1,
                                                            "pdf", "EUR", False))
    assert caught.value.extra["missing"] == ["nope", old["id"]]
