"""What every request and response passes through, whichever blueprint serves it.

* Text that PostgreSQL cannot hold: a NUL character in the URL (path or query string) or in a form
  field is refused with 400 before any view runs (it used to reach SQL and answer 500).
* Headers on every response (API, OpenAPI, Swagger, widget, errors, 404s): X-Frame-Options DENY,
  X-Content-Type-Options nosniff, Referrer-Policy; and on the staff pages (log-in, dashboard) a
  Content-Security-Policy allowing only this site's own scripts, styles, images and requests.
* Behind TRUSTED_PROXIES reverse proxies, the client's address, scheme and host come from their
  X-Forwarded-* headers (werkzeug's ProxyFix); with none (the default) those headers are ignored.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import BadRequest


def _nul_in(pairs) -> bool:
    return any("\x00" in text for pair in pairs for text in pair if isinstance(text, str))


def _has_nul() -> bool:
    if "\x00" in request.path or b"%00" in request.query_string or b"\x00" in request.query_string:
        return True
    if _nul_in(request.args.items(multi=True)):
        return True
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return _nul_in(request.form.items(multi=True))
    return False


STAFF_PAGES_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                   "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                   "frame-ancestors 'none'")
STAFF_BLUEPRINTS = ("auth", "dashboard")


def register_guards(app: Flask) -> None:
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)

    @app.before_request
    def refuse_nul_characters():
        if _has_nul():
            raise BadRequest("The request contains a NUL character, which is not allowed.")

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.blueprint in STAFF_BLUEPRINTS and response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", STAFF_PAGES_CSP)
        return response
