"""The embeddable chat widget: ``/widget.js`` and its endpoints under ``/widget/<widget key>/``.

    <script src="https://<host>/widget.js" data-widget-key="wk_..." async></script>

The widget key is public (it is in the customer's page source); it only names the company. What
protects a company is (1) the allowed-origin check — a browser request from an origin that is not
on the company's allow-list is refused with 403, and an empty allow-list allows no foreign origin
(the app's own origin, PUBLIC_BASE_URL's — never the request's Host header, which a DNS-rebinding
page controls — e.g. the dashboard's preview page, is always fine) — and (2) rate limits per
visitor session and per client address. The widget uses no cookies, so it is exempt from CSRF.
A visitor's session id is a random token kept in their browser's localStorage; it is the only key
to their conversation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, make_response, request, send_from_directory
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from .cors import origin_allowed
from .domain_errors import NotFound
from .errors import ApiError, invalid_request
from .infra.extensions import db, limiter
from .infra.models import Company, Message
from .schemas import WIDGET_SESSION_ID, WidgetFeedbackIn, WidgetMessageIn, WidgetMessagesQuery, WidgetSessionIn
from .services import handover, refused_origins, replies, threads, web_sessions
from .sse import chat_stream

bp = Blueprint("widget", __name__)

STATIC = Path(__file__).resolve().parent.parent / "static"
KEY = re.compile(r"^wk_[A-Za-z0-9_-]{8,37}$")
SESSION_ID = re.compile(WIDGET_SESSION_ID)
HISTORY_LIMIT = 200
ENDPOINTS = {"widget.config", "widget.messages", "widget.send", "widget.feedback", "widget.handoff"}
# One message per field, in words for the visitor (the widget shows it).
PROBLEMS = {
    "message": "Write a message first (at most 4000 characters).",
    "session_id": "session_id must be 16 to 64 letters, digits, '-' or '_'.",
    "message_id": "Send message_id and value 'up' or 'down'.",
    "value": "Send message_id and value 'up' or 'down'.",
}
Body = TypeVar("Body", bound=BaseModel)


# ----------------------------------------------------------------------------- origin and key checks
def _origin_of(url: Optional[str]) -> Optional[str]:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def own_origins() -> set[str]:
    """This app's own origins: PUBLIC_BASE_URL's — never one taken from the request's Host header, which
    a DNS-rebinding page controls — plus, for local development, a loopback host (localhost, 127.0.0.1)."""
    origins = set()
    public = _origin_of(current_app.config.get("PUBLIC_BASE_URL"))
    if public:
        origins.add(public)
    if request.host.rsplit(":", 1)[0].lower() in LOOPBACK_HOSTS or request.host.lower() == "[::1]":
        origins.add(_origin_of(request.host_url))
    return {o for o in origins if o}


def is_foreign(origin: str) -> bool:
    return origin.rstrip("/").lower() not in own_origins()


def company_for_key(widget_key: Optional[str]) -> Optional[Company]:
    if not widget_key or not KEY.match(widget_key):
        return None
    if "widget_company" not in g:
        g.widget_company = db.session.scalars(select(Company).where(Company.widget_key == widget_key)).first()
    return g.widget_company


def cors_allowed(company: Optional[Company], origin: Optional[str]) -> bool:
    return bool(origin and company is not None and (not is_foreign(origin) or origin_allowed(company, origin)))


@bp.before_request
def check_key_and_origin():
    if request.endpoint not in ENDPOINTS:
        return None
    company = company_for_key((request.view_args or {}).get("widget_key"))
    if company is None:
        raise ApiError(401, "This chat widget key is not valid. Check the data-widget-key of the script tag.",
                       "invalid_widget_key")
    origin = request.headers.get("Origin")
    if origin and not cors_allowed(company, origin):
        refused_origins.record(company, origin)  # shown in settings, one click allows it
        raise ApiError(403, "This website is not allowed to use this chat widget. Add its origin to the "
                            "widget's allowed origins in the dashboard settings.", "origin_not_allowed")
    if request.method == "OPTIONS":
        response = make_response("", 204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
        return response
    return None


@bp.after_request
def cors_headers(response):
    origin = request.headers.get("Origin")
    if request.endpoint in ENDPOINTS:
        response.headers["Vary"] = "Origin"
        company = company_for_key((request.view_args or {}).get("widget_key"))
        if cors_allowed(company, origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# ----------------------------------------------------------------------------- rate limits
def _body() -> dict:
    body = request.get_json(silent=True) if request.method == "POST" else None
    return body if isinstance(body, dict) else {}


def session_identity() -> str:
    session_id = _body().get("session_id") or request.args.get("session_id")
    who = session_id if isinstance(session_id, str) and SESSION_ID.match(session_id) else \
        "ip:" + (request.remote_addr or "unknown")
    return f"widget:{(request.view_args or {}).get('widget_key')}:{who}"


def ip_identity() -> str:
    return "widget-ip:" + (request.remote_addr or "unknown")


def write_limit() -> str:
    return current_app.config["WIDGET_RATE_LIMIT"]


def ip_limit() -> str:
    return current_app.config["WIDGET_IP_RATE_LIMIT"]


def read_limit() -> str:
    return current_app.config["WIDGET_POLL_RATE_LIMIT"]


def _preflight() -> bool:
    return request.method == "OPTIONS"


def limited_write(view):
    """Sending, feedback and hand-off: per visitor session, and per client address."""
    view = limiter.limit(write_limit, key_func=session_identity, exempt_when=_preflight, scope="widget-session")(view)
    return limiter.limit(ip_limit, key_func=ip_identity, exempt_when=_preflight, scope="widget-ip")(view)


def limited_read(view):
    return limiter.limit(read_limit, key_func=session_identity, exempt_when=_preflight, scope="widget-read")(view)


# ----------------------------------------------------------------------------- payloads
def parsed(model: type[Body], data: dict) -> Body:
    """``data`` validated by one of the API's schemas, or 422 in words for the visitor."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise invalid_request(err, PROBLEMS) from None


def source_json(source: dict) -> dict:
    found = {"document_id": source.get("document_id"), "title": source.get("title"), "page": source.get("page")}
    if source.get("url"):  # a web page: the widget links it
        found["url"] = source["url"]
    return found


def message_json(message: Message) -> dict:
    return {"id": message.id, "role": message.role, "content": message.content,
            "sources": [source_json(s) for s in (message.sources or [])] if message.role == "assistant" else [],
            "answered": message.answered, "feedback": message.feedback,
            "created_at": message.created_at.isoformat()}


# ----------------------------------------------------------------------------- routes
@bp.get("/widget.js")
def script():
    response = send_from_directory(STATIC, "widget.js", mimetype="text/javascript", max_age=300)
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/widget/<widget_key>/config", methods=["GET", "OPTIONS"])
@limited_read
def config(widget_key: str):
    company = g.widget_company
    return jsonify({"title": company.widget_title or company.name, "company_name": company.name,
                    "color": company.widget_color or "#4f46e5", "greeting": company.widget_greeting or ""})


@bp.route("/widget/<widget_key>/messages", methods=["GET", "OPTIONS"])
@limited_read
def messages(widget_key: str):
    """The visitor's conversation (``?session_id=``), or only what came after ``?after=<message id>``."""
    query = parsed(WidgetMessagesQuery, request.args.to_dict())
    conversation = web_sessions.find_session(g.widget_company, query.session_id)
    if conversation is None:
        return jsonify({"status": None, "messages": []})
    rows = threads.messages(conversation, query.after, last=HISTORY_LIMIT)
    return jsonify({"status": conversation.status, "messages": [message_json(m) for m in rows]})


@bp.route("/widget/<widget_key>/messages", methods=["POST"])
@limited_write
def send(widget_key: str):
    """Server-sent events: start, delta…, done (or error). No AI reply while a person has taken over."""
    body = parsed(WidgetMessageIn, _body())
    return chat_stream(g.widget_company, body.message, body.session_id, body.name)


@bp.route("/widget/<widget_key>/feedback", methods=["POST", "OPTIONS"])
@limited_write
def feedback(widget_key: str):
    body = parsed(WidgetFeedbackIn, _body())
    conversation = web_sessions.find_session(g.widget_company, body.session_id)
    if conversation is None:
        raise NotFound("Conversation not found.")
    message = replies.set_feedback(conversation, body.message_id, body.value)
    db.session.commit()
    return jsonify({"message_id": message.id, "feedback": message.feedback})


@bp.route("/widget/<widget_key>/handoff", methods=["POST", "OPTIONS"])
@limited_write
def handoff(widget_key: str):
    """The visitor asks for a person: the AI stops answering this conversation and staff see it waiting."""
    body = parsed(WidgetSessionIn, _body())
    conversation = web_sessions.open_session(g.widget_company, body.session_id)
    note = handover.visitor_asks_for_a_person(conversation)
    db.session.commit()
    return jsonify({"session_id": conversation.customer_id, "conversation_id": conversation.id,
                    "status": conversation.status, "message": message_json(note) if note else None})
