"""If-Match: the versions of a record that a write is conditional on."""
from flask import request


def if_match():
    """The versions an If-Match header names (a set), or None; '*' matches any version.

    If-Match compares strongly (RFC 9110): a weak W/"3" never matches, so it is a 412."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith('"') and tag.endswith('"') and tag[1:-1].isdigit():
            versions.add(int(tag[1:-1]))
    return frozenset(versions)
