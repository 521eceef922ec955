"""OWASP API10:2023 Unsafe Consumption of APIs: what Backroom takes from other software is treated
as untrusted text. Today that is the barcode decoder (zbar reads whatever a printed code says):
its output is returned as a JSON string, looked up as a plain value, and never reaches HTML,
SQL or a file name. When section 13 (webhooks) and the language-model features land, this module
adds their answers: a receiver's body and a model's text are size-limited, parsed strictly,
stored and shown as text, and never followed as instructions or URLs.
"""
import io

import pytest
from barcode import Code128
from barcode.writer import ImageWriter

from tests.factories import assert_problem

HOSTILE = ("<script>alert(1)</script>", "' OR '1'='1' --", "../../etc/passwd", "{{7*7}}")


def code128_png(text):
    out = io.BytesIO()
    Code128(text, writer=ImageWriter()).write(out, options={"module_width": 0.4, "module_height": 15,
                                                            "write_text": False, "quiet_zone": 10})
    return out.getvalue()


@pytest.mark.backends("json")  # decoding is the same on both backends, and it is slow
@pytest.mark.parametrize("text", HOSTILE)
def test_whatever_a_scanned_code_says_comes_back_as_plain_data(client, auth, text):
    resp = client.post("/api/barcodes/scan", data=code128_png(text), content_type="image/png",
                       headers=auth["clerk"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    codes = resp.get_json()["codes"]
    assert [c["data"] for c in codes] == [text]
    assert codes[0]["product"] is None


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_code_looked_up_is_a_plain_404(client, text):
    from urllib.parse import quote
    resp = client.get(f"/api/barcodes/{quote(text, safe='')}")
    body = assert_problem(resp, 404)
    assert body["code"] == "not_found"


def test_a_hostile_code_received_into_stock_matches_nothing(client, auth):
    for text in HOSTILE:
        resp = client.post("/api/inventory/receive", json={"code": text, "quantity": 1}, headers=auth["manager"])
        assert_problem(resp, 404)
