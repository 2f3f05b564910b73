"""Errors at the edge: JSON ``{"error": {"code", "message"}}`` for API and widget clients, HTML for people.

Domain errors (``app/domain_errors.py``) get their HTTP status here, and only here. Internal
exception text is never sent to a client.
"""

from __future__ import annotations

import logging
from typing import Optional

import redis
from flask import Flask, jsonify, render_template, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from .domain_errors import (
    AssistantUnavailable, ChannelTaken, DomainError, InvalidPayload, NotFound, UploadRejected,
)
from .infra.extensions import db

log = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_request",
         429: "rate_limited", 500: "internal_error", 503: "unavailable"}
RETRY_AFTER_SECONDS = 30
DOMAIN_STATUS = {NotFound: 404, UploadRejected: 422, AssistantUnavailable: 503, InvalidPayload: 400, ChannelTaken: 409}


class ApiError(Exception):
    """An HTTP error raised by an edge itself (a missing key, a bad signature, an invalid body)."""

    def __init__(self, status: int, message: str, code: Optional[str] = None, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code or CODES.get(status, "error"), headers


def invalid_request(err: ValidationError, messages: Optional[dict[str, str]] = None) -> ApiError:
    """422 for a pydantic ValidationError: ``messages`` (field -> words) where given, else pydantic's."""
    problems = []
    for problem in err.errors()[:5]:
        where = ".".join(str(p) for p in problem.get("loc", ())) or "body"
        said = (messages or {}).get(where)
        if said:
            return ApiError(422, said)
        problems.append(f"{where}: {problem.get('msg', 'invalid')}")
    return ApiError(422, "Invalid request: " + "; ".join(problems))


def http_status(err: DomainError) -> int:
    if isinstance(err, UploadRejected) and err.unsupported_type:
        return 415
    return next((status for kind, status in DOMAIN_STATUS.items() if isinstance(err, kind)), 400)


def error_response(status: int, message: str, code: Optional[str] = None, headers: Optional[dict] = None):
    response = jsonify({"error": {"code": code or CODES.get(status, "error"), "message": message}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/widget/")) or request.accept_mimetypes.best == "application/json"


def error_page(status: int, message: str, headers: Optional[dict] = None):
    return render_template("error.html", status=status, message=message), status, headers or {}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(err: ApiError):
        return error_response(err.status, err.message, err.code, err.headers)

    @app.errorhandler(DomainError)
    def handle_domain_error(err: DomainError):
        db.session.rollback()  # the unit of work that raised it is abandoned
        status = http_status(err)
        if wants_json():
            return error_response(status, err.message, err.code)
        return error_page(status, err.message)

    @app.errorhandler(HTTPException)
    def handle_http_error(err: HTTPException):
        if err.code == 429:
            retry_after = err.get_response().headers.get("Retry-After") or "60"
            message = "Too many requests. Please wait a moment and try again."
            if wants_json():
                return error_response(429, message, headers={"Retry-After": retry_after})
            return error_page(429, message, {"Retry-After": retry_after})
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
        return error_page(err.code, message)

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def handle_queue_unavailable(err: Exception):
        """Redis (the queues) is down: what could not be done is worth trying again in a moment."""
        db.session.rollback()
        log.error("Redis is unreachable on %s %s: %s", request.method, request.path, err)
        message = "The service is briefly unavailable. Please try again in a moment."
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if wants_json():
            return error_response(503, message, "unavailable", headers)
        return error_page(503, message, headers)

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = "Something went wrong on our side. Please try again."
        if wants_json():
            return error_response(500, message)
        return error_page(500, message)
