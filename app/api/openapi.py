"""The OpenAPI document, generated from the code by spectree: /api/openapi.json and a browsable
page at /api/docs/swagger/ (also /api/docs/redoc/)."""

from __future__ import annotations

import copy
import json

from flask import jsonify
from spectree import Response, SecurityScheme, SpecTree
from spectree.models import SecuritySchemeData

from ..schemas import ErrorBody
from .blueprint import bp


def _error_format(req, resp, req_validation_error, instance, adapter=None):
    """Re-shape spectree's validation errors into the API's error format."""
    if req_validation_error is None or resp is None:
        return
    problems = []
    for err in req_validation_error.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    message = "Invalid request: " + "; ".join(problems[:5])
    resp.set_data(json.dumps({"error": {"code": "invalid_request", "message": message}}))
    resp.mimetype = "application/json"


spec = SpecTree(
    "flask",
    path="api/docs",
    title="Support Agent API",
    version="1.0.0",
    description="Upload knowledge, chat, and read conversations. Authenticate with `Authorization: Bearer <API key>`.",
    security_schemes=[SecurityScheme(name="bearerAuth", data=SecuritySchemeData(type="http", scheme="bearer"))],
    security={"bearerAuth": []},
    before=_error_format,
    validation_error_status=422,
    validation_error_model=ErrorBody,
    annotations=False,
    mode="strict",  # only the routes decorated with spec.validate (the API), not the staff pages
)

ERRORS = {"HTTP_401": ErrorBody, "HTTP_422": ErrorBody, "HTTP_429": ErrorBody}


def responses(**codes) -> Response:
    return Response(**{**ERRORS, **codes})


def _with_non_json_bodies(document: dict) -> dict:
    """Describe what spectree cannot infer: the multipart upload and the event stream."""
    document = copy.deepcopy(document)
    paths = document["paths"]
    upload = paths["/api/knowledge/documents/upload/"]["post"]
    upload["requestBody"]["content"]["multipart/form-data"] = {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}, "title": {"type": "string", "maxLength": 255}},
    }}
    chat = paths["/api/chat/message/"]["post"]
    stream = paths.setdefault("/api/chat/message/stream/", {}).setdefault("post", {})
    stream["summary"] = "Same as /api/chat/message/, as server-sent events."
    stream["operationId"] = "post__api_chat_message_stream_"
    stream["requestBody"] = copy.deepcopy(chat["requestBody"])
    stream["responses"] = {k: v for k, v in chat["responses"].items() if k != "200"}
    stream["responses"]["200"] = {
        "description": "Server-sent events: `start` {conversation_id, session_id, message_id}, `delta` {text}…, "
                       "then `done` {reply_id, response, sources, answered, handed_off} or `error` {code, message}.",
        "content": {"text/event-stream": {"schema": {
            "type": "object", "required": ["event", "data"],
            "properties": {"event": {"type": "string", "enum": ["start", "delta", "done", "error"]},
                           "data": {"type": "string", "description": "a JSON object"}},
        }}},
    }
    stream["tags"] = chat.get("tags", [])
    return document


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(_with_non_json_bodies(spec.spec))
