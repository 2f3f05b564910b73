"""Errors: JSON ``{"error": {"code", "message"}}`` for API clients, HTML for people.

Internal exception text is never sent to a client.
"""

from __future__ import annotations

import logging
from typing import Optional

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from .extensions import db

log = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_request",
         429: "rate_limited", 500: "internal_error", 503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: Optional[str] = None, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code or CODES.get(status, "error"), headers


def error_response(status: int, message: str, code: Optional[str] = None, headers: Optional[dict] = None):
    response = jsonify({"error": {"code": code or CODES.get(status, "error"), "message": message}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/widget/")) or request.accept_mimetypes.best == "application/json"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(err: ApiError):
        return error_response(err.status, err.message, err.code, err.headers)

    @app.errorhandler(HTTPException)
    def handle_http_error(err: HTTPException):
        if err.code == 429:
            retry_after = err.get_response().headers.get("Retry-After") or "60"
            message = "Too many requests. Please wait a moment and try again."
            if wants_json():
                return error_response(429, message, headers={"Retry-After": retry_after})
            return render_template("error.html", status=429, message=message), 429, {"Retry-After": retry_after}
        if err.code == 413:
            limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
            message = f"The upload is too large (limit {limit} MB)."
        else:
            message = err.description or err.name
        if wants_json():
            response = error_response(err.code or 500, message)
            if err.code == 405 and getattr(err, "valid_methods", None):
                response.headers["Allow"] = ", ".join(err.valid_methods)
            return response
        return render_template("error.html", status=err.code, message=message), err.code

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = "Something went wrong on our side. Please try again."
        if wants_json():
            return error_response(500, message)
        return render_template("error.html", status=500, message=message), 500
