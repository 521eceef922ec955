"""Product codes as the shop meets them: ISBN-10/13, EAN-13, EAN-8, UPC-A, and what a scanner types."""
import re

_SEPARATORS = re.compile(r"[\s\-]")


def clean_scan(raw):
    """What a USB scanner or a person typed, without surrounding blanks or a trailing newline."""
    return str(raw or "").strip()


def ean_check_digit(body):
    """The GS1 check digit for the digits before it (EAN-8, UPC-A, EAN-13 alike)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return str((10 - total % 10) % 10)


def gs1_valid(code):
    return (isinstance(code, str) and code.isdigit() and len(code) in (8, 12, 13)
            and ean_check_digit(code[:-1]) == code[-1])


def isbn10_valid(isbn):
    if len(isbn) != 10 or not isbn[:9].isdigit() or not (isbn[9].isdigit() or isbn[9] in "Xx"):
        return False
    total = sum((10 - i) * int(ch) for i, ch in enumerate(isbn[:9]))
    total += 10 if isbn[9] in "Xx" else int(isbn[9])
    return total % 11 == 0


def to_isbn13(raw):
    """ISBN-10 or ISBN-13, hyphens and spaces allowed, as a checked ISBN-13; None when not an ISBN."""
    if raw is None:
        return None
    value = _SEPARATORS.sub("", str(raw))
    if len(value) == 13 and value.isdigit() and value[:3] in ("978", "979") and gs1_valid(value):
        return value
    if isbn10_valid(value):
        body = "978" + value[:9]
        return body + ean_check_digit(body)
    return None


def isbn13_to_isbn10(isbn13):
    if not isbn13 or not isbn13.startswith("978") or len(isbn13) != 13:
        return None
    body = isbn13[3:12]
    total = sum((10 - i) * int(ch) for i, ch in enumerate(body))
    check = (11 - total % 11) % 11
    return body + ("X" if check == 10 else str(check))


def barcode_problem(code):
    """Why a barcode value is not acceptable, or None. Numeric GS1 lengths must carry a valid check digit."""
    if not code:
        return "Must not be empty."
    if len(code) > 48:
        return "At most 48 characters."
    if any(ord(ch) < 32 or ord(ch) > 126 for ch in code):
        return "Only printable ASCII characters."
    if code.isdigit() and len(code) in (8, 12, 13) and not gs1_valid(code):
        return "The check digit is wrong."
    return None


def symbology(code):
    """Which symbology prints this code: ean13, ean8, upca, or code128 for anything else."""
    if code and code.isdigit() and gs1_valid(code):
        return {13: "ean13", 8: "ean8", 12: "upca"}[len(code)]
    return "code128"


def lookup_forms(raw):
    """Every stored form a scanned string may match: as typed, ISBN-13, EAN-13 of a UPC-A."""
    value = clean_scan(raw)
    forms = [value]
    isbn = to_isbn13(value)
    if isbn and isbn not in forms:
        forms.append(isbn)
    compact = _SEPARATORS.sub("", value)
    if compact not in forms:
        forms.append(compact)
    if len(compact) == 13 and compact.startswith("0") and compact.isdigit():
        forms.append(compact[1:])
    return forms


# GS1 keeps EAN-13 prefixes 20-29 for numbers a shop makes up for itself. Many countries'
# tills read 21-29 as weight- or price-embedded codes, so a shop's own article codes use 20.
IN_STORE_PREFIX = "20"


def is_in_store(code):
    """An EAN-13 from the in-store range 20-29, with a valid check digit."""
    return gs1_valid(code) and len(code) == 13 and code[0] == "2"
