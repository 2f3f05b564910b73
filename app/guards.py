"""What every request and response passes through, whichever blueprint serves it.

* Text that PostgreSQL cannot hold: a NUL character in the URL (path or query string) or in a form
  field is refused with 400 before any view runs (it used to reach SQL and answer 500).
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


def register_guards(app: Flask) -> None:
    @app.before_request
    def refuse_nul_characters():
        if _has_nul():
            raise BadRequest("The request contains a NUL character, which is not allowed.")
