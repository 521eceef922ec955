"""JSON for the store's files: orjson (several times faster) wherever it is exact, the standard
library where it is not.

orjson reads an integer past 64 bits as a float and refuses to write one; the shop bounds every
number it takes in, but a store written by an older version may hold one, so such values take
the standard library's path both ways and stay exact integers."""
import json

import orjson

# Every integer orjson might not read exactly has 19 digits or more. A regular expression takes
# ~25 us a journal line to look for them; mapping digits to "0" and searching takes ~2 us.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19


def _may_hold_a_long_integer(raw):
    return _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ZERO)


def loads(raw):
    """Parse JSON bytes exactly as json.loads does (integers of any size stay integers, a byte
    order mark is allowed); bad JSON raises ValueError."""
    if not _may_hold_a_long_integer(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # what orjson refuses, the standard library may read (NaN, a BOM) or reject
    return json.loads(raw)


def dumps_line(value):
    """Compact UTF-8 JSON bytes on one line (a newline inside a string is written as \\n)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer past 64 bits
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def dumps_pretty(value):
    """UTF-8 bytes indented by two spaces, as json.dumps(value, indent=2, ensure_ascii=False)
    writes them."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except TypeError:
        return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8")
