"""Product codes: ISBN-10/13, EAN-13, EAN-8, UPC-A check digits, and what a scanner may type."""
import pytest

from app.services.codes import (barcode_problem, ean_check_digit, gs1_valid, isbn10_valid,
                                isbn13_to_isbn10, lookup_forms, symbology, to_isbn13)


def test_isbn13_with_or_without_hyphens_is_kept_as_digits():
    assert to_isbn13("9780141439518") == "9780141439518"
    assert to_isbn13("978-0-14-143951-8") == "9780141439518"
    assert to_isbn13(" 978 0261 102217 ") == "9780261102217"


def test_isbn10_becomes_its_isbn13():
    assert to_isbn13("0141439513") == "9780141439518"
    assert to_isbn13("0-14-143951-3") == "9780141439518"


def test_isbn10_with_x_check_digit_is_accepted_in_either_case():
    assert isbn10_valid("080442957X")
    assert to_isbn13("080442957x") == "9780804429573"


@pytest.mark.parametrize("bad", ["9780141439519", "0141439514", "978014143951", "97801414395180",
                                 "1234567890123", "abcdefghij", "", "97801414395X8"])
def test_wrong_check_digit_length_or_prefix_is_not_an_isbn(bad):
    assert to_isbn13(bad) is None


def test_isbn13_goes_back_to_isbn10_for_978_only():
    assert isbn13_to_isbn10("9780141439518") == "0141439513"
    assert isbn13_to_isbn10("9780804429573") == "080442957X"
    assert isbn13_to_isbn10("9791034304755") is None


def test_gs1_check_digit_of_ean13_ean8_and_upca():
    assert ean_check_digit("400638133393") == "1"      # EAN-13 4006381333931
    assert gs1_valid("4006381333931")
    assert gs1_valid("96385074")                        # EAN-8
    assert gs1_valid("036000291452")                    # UPC-A
    assert not gs1_valid("4006381333932")
    assert not gs1_valid("96385075")
    assert not gs1_valid("036000291453")


def test_barcode_with_wrong_gs1_check_digit_is_refused():
    assert barcode_problem("4006381333932") == "The check digit is wrong."
    assert barcode_problem("96385075") == "The check digit is wrong."
    assert barcode_problem("036000291453") == "The check digit is wrong."


def test_other_barcodes_are_accepted_when_printable_and_short():
    assert barcode_problem("4006381333931") is None
    assert barcode_problem("SHOP-0042") is None
    assert barcode_problem("12345") is None            # not a GS1 length: no check digit to check
    assert barcode_problem("x" * 49) == "At most 48 characters."
    assert barcode_problem("caf\u00e9") == "Only printable ASCII characters."


def test_symbology_follows_the_code():
    assert symbology("9780141439518") == "ean13"
    assert symbology("96385074") == "ean8"
    assert symbology("036000291452") == "upca"
    assert symbology("SHOP-0042") == "code128"
    assert symbology("4006381333932") == "code128"


def test_a_scan_matches_the_stored_forms_of_its_code():
    assert lookup_forms("0141439513\n") == ["0141439513", "9780141439518"]
    assert "036000291452" in lookup_forms("0036000291452")
    assert lookup_forms("  SKU-1 ")[0] == "SKU-1"        # as typed comes first
