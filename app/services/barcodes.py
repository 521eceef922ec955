"""Barcodes: draw a product's code (PNG, SVG, A4 label sheets), assign in-store EAN-13s, read photos."""
import hashlib
import io
import os
import random
import time
from dataclasses import dataclass, field
from functools import lru_cache
from xml.sax.saxutils import escape

from barcode.codex import Code128
from barcode.ean import EAN8, EAN13
from barcode.errors import BarcodeError
from barcode.upc import UPCA
from barcode.writer import PATH as BARCODE_FONT_DIR
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, UnidentifiedImageError

from .catalog import get_product, update_product
from .codes import IN_STORE_PREFIX, ean_check_digit, lookup_forms, symbology
from .errors import (BarcodeExists, Conflict, Forbidden, ImageTooLarge, NotFound, NotPrintable,
                     ScannerUnavailable, ValidationFailed)
from .stock import find_by_code

DPI = 300
MM = DPI / 25.4  # pixels per millimetre at the resolution every image is drawn at


# ---- which code a product prints -------------------------------------------------------------

def printed_code(product):
    """(symbology, value) that a product's image carries: its barcode, else its ISBN-13, else its SKU.

    EAN-13/EAN-8/UPC-A values print as themselves; any other barcode, and the SKU, as Code 128,
    because that is what a scanner types back and what GET /api/barcodes/{code} finds.
    """
    value = product.get("barcode") or product.get("isbn") or product["sku"]
    return symbology(value), value


# ---- layout: one drawing, painted as PNG or SVG ------------------------------------------------

@dataclass
class Text:
    x: float
    y: float  # the baseline
    text: str
    size: int
    font: str  # "mono" for the digits, "sans" for title and price
    anchor: str = "middle"  # "start", "middle" or "end", as in SVG


@dataclass
class Drawing:
    width: int
    height: int
    bars: list = field(default_factory=list)  # (x, y, w, h) in pixels
    texts: list = field(default_factory=list)


# quiet zones (in modules) before and after the bars; GS1 asks 11/7 for EAN-13, 7/7 EAN-8, 9/9 UPC-A
QUIET = {"ean13": (11, 7), "ean8": (7, 7), "upca": (9, 9), "code128": (10, 10)}
# modules whose bars run longer (guard bars, and UPC-A's first and last digit), as ranges
GUARDS = {
    "ean13": ((0, 3), (45, 50), (92, 95)),
    "ean8": ((0, 3), (31, 36), (64, 67)),
    "upca": ((0, 10), (45, 50), (85, 95)),
    "code128": (),
}
# where the human-readable digits go: (first digit, last digit + 1, first module, last module + 1)
DIGIT_GROUPS = {
    "ean13": ((1, 7, 3, 45), (7, 13, 50, 92)),
    "ean8": ((0, 4, 3, 31), (4, 8, 36, 64)),
    "upca": ((1, 6, 10, 45), (6, 11, 50, 85)),
}


def modules(sym, value):
    """The 0/1 module string of a code, from python-barcode."""
    try:
        if sym == "ean13":
            return EAN13(value).build()[0]
        if sym == "ean8":
            return EAN8(value).build()[0]
        if sym == "upca":
            return UPCA(value).build()[0]
        return Code128(value).build()[0]
    except BarcodeError:
        raise NotPrintable(f"{value!r} cannot be printed as a barcode (Code 128 carries ASCII only); "
                           "give the product a barcode first.") from None


def _runs(pattern):
    """(first module, width) of every dark bar, so each bar is one rectangle however wide."""
    start = None
    for i, ch in enumerate(pattern + "0"):
        if ch == "1" and start is None:
            start = i
        elif ch != "1" and start is not None:
            yield start, i - start
            start = None


def _in_guard(sym, module):
    return any(a <= module < b for a, b in GUARDS[sym])


def draw_code(sym, value, module, bar_height):
    """The bars and human-readable digits of one code, quiet zones included."""
    pattern = modules(sym, value)
    before, after = QUIET[sym]
    width = (before + len(pattern) + after) * module
    digit_size = int(module * 10)
    guard_extra = int(module * 5) if sym != "code128" else 0
    top = module * 2
    drawing = Drawing(width, 0)
    for start, run in _runs(pattern):
        height = bar_height + (guard_extra if _in_guard(sym, start) else 0)
        drawing.bars.append(((before + start) * module, top, run * module, height))
    baseline = top + bar_height + int(digit_size * 0.8)
    if sym == "code128":
        baseline += module * 2
        drawing.texts.append(Text(width / 2, baseline, value, digit_size, "mono"))
    else:
        x0 = before * module
        for first, last, m_from, m_to in DIGIT_GROUPS[sym]:
            centre = x0 + (m_from + m_to) / 2 * module
            drawing.texts.append(Text(centre, baseline, value[first:last], digit_size, "mono"))
        if sym in ("ean13", "upca"):  # the number system digit stands in the left quiet zone
            drawing.texts.append(Text(x0 - module, baseline, value[0], digit_size, "mono", "end"))
        if sym == "upca":
            drawing.texts.append(Text(x0 + (len(pattern) + 1) * module, baseline, value[-1],
                                      digit_size, "mono", "start"))
    drawing.height = baseline + int(digit_size * 0.3) + module
    return drawing


@lru_cache(maxsize=64)
def font(kind, size):
    """DejaVu Sans Mono (shipped with python-barcode) for digits and prices (it has the currency
    signs), Pillow's own Aileron for titles: no dependence on the fonts a server happens to have."""
    if kind == "mono":
        return ImageFont.truetype(os.path.join(BARCODE_FONT_DIR, "fonts", "DejaVuSansMono.ttf"), size)
    return ImageFont.load_default(size=size)


def fit_text(text, kind, size, width):
    """The text, cut at a word where possible and ended with an ellipsis, so it fits in width pixels."""
    text = " ".join(str(text or "").split())
    face = font(kind, size)
    if face.getlength(text) <= width:
        return text
    words = text.split(" ")
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(",.;:-") + "…"
        # a cut at a word reads better, unless it throws away much of the room
        if face.getlength(candidate) <= width and face.getlength(candidate) >= width * 0.6:
            return candidate
    cut = len(text)
    while cut > 0 and face.getlength(text[:cut].rstrip() + "…") > width:
        cut -= 1
    return text[:cut].rstrip() + "…" if cut else ""


CURRENCY_SIGNS = {"EUR": "€", "GBP": "£", "USD": "$"}


def price_text(price, currency):
    sign = CURRENCY_SIGNS.get(currency)
    return f"{sign}{price}" if sign else f"{price} {currency}"


def draw_product(product, currency, label, module=4, bar_height=None, width=None, height=None,
                 text_size=None):
    """A product's code, with its title and price under it when `label`; centred in width x height
    when given (a cell of a label sheet), else as wide as the code needs."""
    sym, value = printed_code(product)
    if not bar_height:
        # a long Code 128 gets taller bars: a scan line crossing a tilted code must stay inside it
        bar_height = module * (60 if sym != "code128" else max(50, len(modules(sym, value)) // 3))
    code = draw_code(sym, value, module, bar_height)
    lines = []
    if label:
        text_size = text_size or module * 9
        room = (width or max(code.width, module * 113)) - module * 8
        lines = [(fit_text(product["title"], "sans", text_size, room), text_size, "sans"),
                 (price_text(product["price"], currency), int(text_size * 1.25), "mono")]
    text_height = sum(int(size * 1.3) for _, size, _ in lines)
    out = Drawing(width or max(code.width, module * 113 if label else 0),
                  height or code.height + text_height + (module * 2 if label else 0))
    dx = (out.width - code.width) / 2
    dy = max(0, (out.height - code.height - text_height) / 2) if height else 0
    out.bars = [(x + dx, y + dy, w, h) for x, y, w, h in code.bars]
    out.texts = [Text(t.x + dx, t.y + dy, t.text, t.size, t.font, t.anchor) for t in code.texts]
    y = dy + code.height
    for text, size, kind in lines:
        y += int(size * 1.1)
        out.texts.append(Text(out.width / 2, y, text, size, kind))
        y += int(size * 0.2)
    return out


_ANCHORS = {"start": "ls", "middle": "ms", "end": "rs"}


def paint(drawing, canvas=None, offset=(0, 0)):
    """Paint a drawing on a greyscale Pillow image (a new white one unless given)."""
    if canvas is None:
        canvas = Image.new("L", (int(drawing.width), int(drawing.height)), 255)
    pen = ImageDraw.Draw(canvas)
    ox, oy = offset
    for x, y, w, h in drawing.bars:
        # whole pixels: a bar that bleeds into its neighbour is a bar zbar misreads
        left, top = round(ox + x), round(oy + y)
        pen.rectangle((left, top, left + round(w) - 1, top + round(h) - 1), fill=0)
    for t in drawing.texts:
        if t.text:
            pen.text((ox + t.x, oy + t.y), t.text, fill=0, font=font(t.font, t.size),
                     anchor=_ANCHORS[t.anchor])
    return canvas


def png_bytes(image):
    buf = io.BytesIO()
    image.save(buf, "PNG", optimize=True, dpi=(DPI, DPI))
    return buf.getvalue()


def svg_bytes(drawing):
    """The drawing as SVG: pixels in the viewBox, millimetres outside, so it prints true to size."""
    w_mm, h_mm = drawing.width / MM, drawing.height / MM
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w_mm:.2f}mm" '
        f'height="{h_mm:.2f}mm" viewBox="0 0 {drawing.width} {drawing.height}">\n',
        f'<rect width="{drawing.width}" height="{drawing.height}" fill="#fff"/>\n<g fill="#000">\n',
    ]
    for x, y, w, h in drawing.bars:
        parts.append(f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}"/>\n')
    parts.append("</g>\n")
    families = {"mono": "DejaVu Sans Mono, Menlo, Consolas, monospace",
                "sans": "Aileron, Helvetica, Arial, sans-serif"}
    for t in drawing.texts:
        if t.text:
            parts.append(f'<text x="{t.x:g}" y="{t.y:g}" font-family="{families[t.font]}" '
                         f'font-size="{t.size}" text-anchor="{t.anchor}">{escape(t.text)}</text>\n')
    parts.append("</svg>\n")
    return "".join(parts).encode("utf-8")


# ---- one product's image ---------------------------------------------------------------------

MIMETYPES = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


@dataclass
class BarcodeImage:
    """A product's barcode image, known by its ETag before it is drawn (so a 304 costs no drawing)."""

    product: dict
    fmt: str
    label: bool
    currency: str

    @property
    def etag(self):
        return f'"{self.product["version"]}-{self.fmt}{"-label" if self.label else ""}"'

    @property
    def mimetype(self):
        return MIMETYPES[self.fmt]

    def render(self):
        drawing = draw_product(self.product, self.currency, self.label)
        if self.fmt == "svg":
            return svg_bytes(drawing)
        return png_bytes(paint(drawing))


def product_image(uow, product_id, fmt, label, currency, include_archived):
    """The barcode image of one product (404 for an archived one unless include_archived)."""
    product = get_product(uow, product_id, include_archived=include_archived)
    image = BarcodeImage(product, fmt, label, currency)
    modules(*printed_code(product))  # a code that cannot be drawn fails now, not after a 304 check
    return image


# ---- look-up -----------------------------------------------------------------------------------

def find_product(uow, code, include_archived):
    """The product a barcode, ISBN-10/13 or SKU names, however a scanner typed it."""
    product = find_by_code(uow, code)
    if product is None or (not include_archived and product["status"] != "active"):
        raise NotFound(f"No product has the code {str(code).strip()!r}.")
    return product


# ---- in-store codes ----------------------------------------------------------------------------

MAX_TRIES = 1000


def new_store_code(rng):
    """A random EAN-13 in the in-store range, with its check digit."""
    body = IN_STORE_PREFIX + "".join(str(rng.randrange(10)) for _ in range(12 - len(IN_STORE_PREFIX)))
    return body + ean_check_digit(body)


def _taken(uow, code):
    """A code is taken when a scan of it would already find a product (as barcode, ISBN or SKU)."""
    return any(uow.products.find_by_barcode(form) or uow.products.find_by_sku(form)
               for form in lookup_forms(code))


def assign_store_barcode(uow, product_id, rng=None, writer=None):
    """Give a product that has no barcode a new, unused in-store EAN-13; 409 barcode_exists otherwise.
    writer (catalog.Writer): an editor, while approval is on, gives codes to drafts only."""
    product = get_product(uow, product_id)
    if writer is not None and writer.drafts_only and product["status"] != "draft":
        raise Forbidden("While approval is on, this role edits drafts only.")
    if product.get("barcode"):
        raise BarcodeExists(f"This product already has the barcode {product['barcode']}.",
                            barcode=product["barcode"])
    rng = rng or random.SystemRandom()
    for _ in range(MAX_TRIES):
        code = new_store_code(rng)
        if not _taken(uow, code):
            return update_product(uow, product_id, {"barcode": code})  # as staff: the check is above
    raise Conflict("No unused in-store code was found; try again.")


# ---- label sheets ------------------------------------------------------------------------------

# Avery L7159 / J8159 layout: 24 labels of 63.5 x 33.9 mm on A4, the most common 3 x 8 stock
PAGE_MM = (210.0, 297.0)
LABEL_MM = (63.5, 33.9)
COLUMNS, ROWS = 3, 8
GAP_MM = 2.5  # between columns; rows touch
LABELS_PER_PAGE = COLUMNS * ROWS
MAX_PAGES = {"pdf": 20, "png": 5}  # a PNG stacks its pages in one image, so it stays short


def _px(mm):
    return round(mm * MM)


def sheet_geometry():
    """Pixel page size and the top-left corner of every cell, row by row."""
    page_w, page_h = _px(PAGE_MM[0]), _px(PAGE_MM[1])
    cell_w, cell_h = _px(LABEL_MM[0]), _px(LABEL_MM[1])
    left = (PAGE_MM[0] - COLUMNS * LABEL_MM[0] - (COLUMNS - 1) * GAP_MM) / 2
    top = (PAGE_MM[1] - ROWS * LABEL_MM[1]) / 2
    cells = [(_px(left + c * (LABEL_MM[0] + GAP_MM)), _px(top + r * LABEL_MM[1]))
             for r in range(ROWS) for c in range(COLUMNS)]
    return (page_w, page_h), (cell_w, cell_h), cells


def label_image(product, currency):
    """One label, drawn to fill a cell: the widest whole-pixel module whose code still fits."""
    _, (cell_w, cell_h), _ = sheet_geometry()
    sym, value = printed_code(product)
    before, after = QUIET[sym]
    span = before + len(modules(sym, value)) + after
    # 4 px is a 0.34 mm module, GS1's nominal size; a long Code 128 SKU gets thinner bars
    # (below 2 px, about 28 characters, a printed code no longer scans: give it a barcode)
    module = max(1, min(4, (cell_w - 24) // span))
    text_size = 36  # about 3 mm: readable on the shelf whatever the bars' size
    bar_height = 200 if sym != "code128" else 160
    drawing = draw_product(product, currency, True, module, bar_height, cell_w, cell_h, text_size)
    image = paint(drawing)
    if image.width > cell_w:
        image = image.crop((0, 0, cell_w, image.height))
    return image


def label_products(uow, product_ids, include_archived):
    """The products named, in the order given; 404 names the ids that are unknown (or hidden)."""
    found, missing = {}, []
    for pid in dict.fromkeys(product_ids):
        try:
            found[pid] = get_product(uow, pid, include_archived=include_archived)
        except NotFound:
            missing.append(pid)
    if missing:
        raise NotFound(f"No product with the id {', '.join(missing)}.", missing=missing)
    return [found[pid] for pid in product_ids]


def sheet_etag(products, copies, fmt):
    """Changes when any product on the sheet changes, or the copies or format do."""
    digest = hashlib.sha256()
    for p in products:
        digest.update(f"{p['id']}:{p['version']};".encode())
    digest.update(f"{copies}:{fmt}".encode())
    return f'"{digest.hexdigest()[:32]}"'


@dataclass
class LabelSheet:
    products: list
    copies: int
    fmt: str
    currency: str

    @property
    def etag(self):
        return sheet_etag(self.products, self.copies, self.fmt)

    @property
    def mimetype(self):
        return MIMETYPES[self.fmt]

    @property
    def page_count(self):
        return -(-len(self.products) * self.copies // LABELS_PER_PAGE)

    def pages(self):
        """Bilevel A4 pages: crisp bars, and CCITT G4 in the PDF keeps a page at a few dozen KB."""
        (page_w, page_h), _, cells = sheet_geometry()
        labels = {}
        queue = [p for p in self.products for _ in range(self.copies)]
        pages = []
        for start in range(0, len(queue), LABELS_PER_PAGE):
            page = Image.new("L", (page_w, page_h), 255)
            for product, (x, y) in zip(queue[start:start + LABELS_PER_PAGE], cells):
                if product["id"] not in labels:
                    labels[product["id"]] = label_image(product, self.currency)
                page.paste(labels[product["id"]], (x, y))
            pages.append(page.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE))
        return pages

    def render(self):
        pages = self.pages()
        buf = io.BytesIO()
        if self.fmt == "pdf":
            pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=DPI,
                          title="Backroom labels", producer="Backroom")
        else:
            stacked = Image.new("1", (pages[0].width, pages[0].height * len(pages)), 1)
            for i, page in enumerate(pages):
                stacked.paste(page, (0, i * page.height))
            stacked.save(buf, "PNG", optimize=True, dpi=(DPI, DPI))
        return buf.getvalue()


def label_sheet(uow, product_ids, copies, fmt, currency, include_archived):
    """A4 label sheets, `copies` labels of each product in the order given, 3 x 8 a page."""
    products = label_products(uow, product_ids, include_archived)
    sheet = LabelSheet(products, copies, fmt, currency)
    for product in products:
        modules(*printed_code(product))
    if sheet.page_count > MAX_PAGES[fmt]:
        raise ValidationFailed(
            f"{len(products) * copies} labels need {sheet.page_count} pages; a {fmt} sheet has at "
            f"most {MAX_PAGES[fmt]} ({MAX_PAGES[fmt] * LABELS_PER_PAGE} labels).",
            errors={"copies": [f"At most {MAX_PAGES[fmt] * LABELS_PER_PAGE} labels in all."]})
    return sheet


# ---- reading codes from a picture --------------------------------------------------------------

# what the decoder looks for. Codabar, DataBar and Interleaved 2 of 5 are left out: on a noisy
# photo they "find" codes in the texture, and no product here carries them.
SCAN_SYMBOLS = ("EAN13", "EAN8", "UPCA", "UPCE", "CODE128", "CODE39", "CODE93", "QRCODE")
MIN_LENGTH = {"CODE39": 4}  # Code 39 has no check digit: short reads are mostly texture
MIN_QUALITY = 3  # scan lines that read the same code: one or two lucky lines across a code
# (an EAN-8 "seen" in the middle of a tilted UPC-A) are not a read
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
WORK_SIDE = 1600  # the first pass looks at the photo this big: enough for a code a tenth as wide
FULL_SIDE = 4000  # the largest size any pass decodes at
SCAN_BUDGET = 3.0  # seconds; a picture without a code stops trying after this
Y800 = 0x30303859  # zbar's fourcc for 8-bit greyscale


def open_picture(data, max_pixels):
    """The uploaded bytes as a greyscale Pillow image; 400 if they are no image, 413 if it is too big.

    The pixel count is checked from the header, before any pixel is decoded, so a small file that
    claims to be 100000 x 100000 costs nothing.
    """
    if not data:
        raise ValidationFailed("Send a PNG or JPEG picture.", errors={"image": ["The file is empty."]})
    try:
        picture = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise ImageTooLarge("The picture has too many pixels.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ValidationFailed("The file is not a PNG or JPEG picture.",
                               errors={"image": ["Not a picture this server can read."]}) from None
    width, height = picture.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"The picture is {width} x {height} pixels; at most {max_pixels} "
                            "pixels are read.")
    if picture.format == "JPEG" and max(width, height) > FULL_SIDE:
        # libjpeg can decode at 1/2, 1/4, 1/8 directly: a 48 MP photo never exists at full size
        picture.draft("L", (width * FULL_SIDE // max(width, height),
                            height * FULL_SIDE // max(width, height)))
    try:
        picture.load()
        return _greyscale(picture)
    except (OSError, ValueError, SyntaxError, EOFError):
        raise ValidationFailed("The picture is damaged or cut short.",
                               errors={"image": ["Damaged or truncated picture."]}) from None


def _greyscale(picture):
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        # transparent pixels are paper, not ink: put the picture on white first
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(white, rgba)
    if picture.mode.startswith("I") or picture.mode == "F":
        picture = ImageOps.autocontrast(picture.convert("F").point(lambda v: v / 256)).convert("L")
    grey = picture.convert("L")
    if max(grey.size) > FULL_SIDE:
        grey.thumbnail((FULL_SIDE, FULL_SIDE), Image.Resampling.BOX)
    return grey


def _scaled(image, side):
    if max(image.size) <= side:
        return image
    out = image.copy()
    out.thumbnail((side, side), Image.Resampling.BOX)  # BOX averages: sensor noise fades, bars stay
    return out


def _attempts(grey):
    """(picture, scan density) to try in turn, cheapest and likeliest first; made only when reached.

    Density n scans every n-th row and column: a code is many rows tall, so 2 or 3 lose nothing
    and save most of zbar's time on a noisy photo.
    """
    work = _scaled(grey, WORK_SIDE)
    yield lambda: work, 2
    if max(grey.size) > WORK_SIDE:
        yield lambda: grey, 3  # a small code in a big photo needs its full resolution
    if max(work.size) < 800:
        yield lambda: work.resize((work.width * 2, work.height * 2), Image.Resampling.LANCZOS), 1
    yield lambda: _scaled(grey, WORK_SIDE // 2), 1  # heavy blur: smaller looks sharper
    yield lambda: work.filter(ImageFilter.UnsharpMask(radius=3, percent=200, threshold=2)), 2
    yield lambda: _binarised(work), 2
    # zbar reads rows and columns, which covers a code tilted up to about 20-30 degrees; turning
    # the picture covers the angles in between
    for angle in (45, -45, 20, -20, 70, -70):
        yield lambda angle=angle: work.rotate(angle, resample=Image.Resampling.BILINEAR,
                                              expand=True, fillcolor=255), 2
    if max(grey.size) > WORK_SIDE:
        for angle in (45, -45):
            yield lambda angle=angle: grey.rotate(angle, resample=Image.Resampling.BILINEAR,
                                                  expand=True, fillcolor=255), 3


def _binarised(image):
    """Black and white at the picture's own midpoint: rescues dim, low-contrast photos."""
    stretched = ImageOps.autocontrast(image, cutoff=2)
    return stretched.point(lambda v: 255 if v >= 128 else 0)


def _zbar():
    try:
        from pyzbar import wrapper
    except ImportError:  # libzbar0 missing: every other barcode endpoint still works
        raise ScannerUnavailable("zbar is not installed on this server; run "
                                 "'sudo apt-get install -y libzbar0'.") from None
    return wrapper


def zbar_read(image, density=1):
    """(data, type, quality) of every code zbar reads in a greyscale image.

    pyzbar.decode cannot set zbar's scan density or minimum lengths, so this drives zbar through
    pyzbar's ctypes binding (pinned at 0.1.9) the way pyzbar.decode does.
    """
    zw = _zbar()
    from ctypes import c_void_p, cast, string_at
    pixels = image.tobytes()
    scanner = zw.zbar_image_scanner_create()
    try:
        zw.zbar_image_scanner_set_config(scanner, zw.ZBarSymbol.NONE, zw.ZBarConfig.CFG_ENABLE, 0)
        for name in SCAN_SYMBOLS:
            zw.zbar_image_scanner_set_config(scanner, zw.ZBarSymbol[name], zw.ZBarConfig.CFG_ENABLE, 1)
        for name, length in MIN_LENGTH.items():
            zw.zbar_image_scanner_set_config(scanner, zw.ZBarSymbol[name], zw.ZBarConfig.CFG_MIN_LEN,
                                             length)
        for axis in (zw.ZBarConfig.CFG_X_DENSITY, zw.ZBarConfig.CFG_Y_DENSITY):
            zw.zbar_image_scanner_set_config(scanner, zw.ZBarSymbol.NONE, axis, density)
        zimage = zw.zbar_image_create()
        try:
            zw.zbar_image_set_format(zimage, Y800)
            zw.zbar_image_set_size(zimage, image.width, image.height)
            zw.zbar_image_set_data(zimage, cast(pixels, c_void_p), len(pixels), None)
            zw.zbar_scan_image(scanner, zimage)
            found = []
            symbol = zw.zbar_image_first_symbol(zimage)
            while symbol:
                data = string_at(zw.zbar_symbol_get_data(symbol), zw.zbar_symbol_get_data_length(symbol))
                found.append((data.decode("utf-8", errors="replace"),
                              zw.ZBarSymbol(symbol.contents.type).name,
                              zw.zbar_symbol_get_quality(symbol)))
                symbol = zw.zbar_symbol_next(symbol)
            return found
        finally:
            zw.zbar_image_destroy(zimage)
    finally:
        zw.zbar_image_scanner_destroy(scanner)


def decode_picture(grey, budget=SCAN_BUDGET):
    """Every distinct code found, as (data, type), in the order first found.

    Passes stop at the first one that finds something; a picture without any code walks every
    pass, so the time budget bounds that case.
    """
    _zbar()
    deadline = time.monotonic() + budget
    found = {}
    for n, (attempt, density) in enumerate(_attempts(grey)):
        if n >= 2 and time.monotonic() > deadline:
            break
        for data, kind, quality in zbar_read(attempt(), density):
            if quality >= MIN_QUALITY or kind == "QRCODE":
                found.setdefault((data, kind), None)
        if found:
            break
    return list(found)


def scan_picture(data, max_pixels, reader):
    """The codes in an uploaded picture, each with the product it names (or None).

    `reader` opens a read-only unit of work; it is opened only after decoding, so a slow photo
    never holds a database transaction open.
    """
    codes = decode_picture(open_picture(data, max_pixels))
    with reader() as uow:
        return [{"data": value, "type": kind, "product": find_by_code(uow, value)}
                for value, kind in codes]
