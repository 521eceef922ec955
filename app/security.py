"""Security headers on every answer: no type sniffing, no referrer, no framing, a Content-Security-Policy."""
import base64
import hashlib
import re

# JSON, images and files: nothing in them may run or load anything, and no page may frame them.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# A barcode SVG opened on its own colours its bars with style attributes; scripts stay refused.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
# HTML pages load their scripts, styles, images and API calls from this origin only.
PAGE_POLICY = ("default-src 'self'; script-src 'self'{scripts}; style-src 'self'{styles}; "
               "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")
EVERY_ANSWER = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                ("X-Frame-Options", "DENY"))

# Swagger UI's page (flasgger's templates) starts itself with an inline script and style;
# pages in these blueprints get exactly those allowed, by hash, and nothing else inline.
INLINE_CODE_BLUEPRINTS = {"flasgger"}
_INLINE = re.compile(rb"<(script|style)(?:\s[^>]*)?>(.*?)</\1\s*>", re.S | re.I)


def _hashes(body):
    """The CSP source expressions of the inline scripts and styles in an HTML page."""
    found = {b"script": [], b"style": []}
    for tag, code in _INLINE.findall(body):
        if tag.lower() == b"script" and not code.strip():
            continue  # <script src=...></script>: loaded from 'self', nothing inline
        digest = base64.b64encode(hashlib.sha256(code).digest()).decode()
        found[tag.lower()].append(f" 'sha256-{digest}'")
    return "".join(found[b"script"]), "".join(found[b"style"])


def page_policy(body, inline_allowed):
    scripts, styles = _hashes(body) if inline_allowed else ("", "")
    return PAGE_POLICY.format(scripts=scripts, styles=styles)


def init_app(app):
    from flask import request

    @app.after_request
    def security_headers(response):
        headers = response.headers
        present = {name.lower() for name, _ in headers.items()}  # one pass, not one per header
        headers.extend([(name, value) for name, value in EVERY_ANSWER if name.lower() not in present])
        if "content-security-policy" not in present:
            # a 304 has no body, only werkzeug's default text/html type
            mimetype = response.mimetype if response.status_code != 304 else None
            if mimetype == "text/html":
                inline_allowed = (request.blueprint in INLINE_CODE_BLUEPRINTS
                                  and not (response.is_streamed or response.direct_passthrough))
                policy = page_policy(response.get_data() if inline_allowed else b"", inline_allowed)
            elif mimetype == "image/svg+xml":
                policy = SVG_POLICY
            else:
                policy = API_POLICY
            headers["Content-Security-Policy"] = policy
        return response
