"""CORS for browser-facing endpoints: a company's allowed origins, and nothing else.

An empty allow-list allows no foreign origin. Preflights carry no credentials, so they are
answered for any origin; the actual response carries Access-Control-Allow-Origin only when the
company that the request authenticates as allows that origin, so the browser blocks the rest.
"""

from __future__ import annotations

from flask import Blueprint, g, make_response, request

ALLOWED_HEADERS = "Authorization, Content-Type"


def origin_allowed(company, origin: str) -> bool:
    allowed = {o.rstrip("/").lower() for o in (company.allowed_origins or [])}
    return origin.rstrip("/").lower() in allowed


def allow_cors(bp: Blueprint, endpoints: set[str]) -> None:
    @bp.before_request
    def preflight():
        if request.method == "OPTIONS" and request.endpoint in endpoints and request.headers.get("Origin"):
            response = make_response("", 204)
            response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
            response.headers["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
            response.headers["Vary"] = "Origin"
            return response
        return None

    @bp.after_request
    def add_headers(response):
        origin = request.headers.get("Origin")
        company = getattr(g, "company", None)
        if origin and company is not None and request.endpoint in endpoints and origin_allowed(company, origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response
