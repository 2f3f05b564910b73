"""The embeddable chat widget: ``/widget.js`` and its endpoints under ``/widget/<widget key>/``.

    <script src="https://<host>/widget.js" data-widget-key="wk_..." async></script>

The widget key is public (it is in the customer's page source); it only names the company. What
protects a company is (1) the allowed-origin check — a browser request from an origin that is not
on the company's allow-list is refused with 403, and an empty allow-list allows no foreign origin
(the app's own origin, e.g. the dashboard's preview page, is always fine) — and (2) rate limits per
visitor session and per client address. The widget uses no cookies, so it is exempt from CSRF.
A visitor's session id is a random token kept in their browser's localStorage; it is the only key
to their conversation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from flask import (Blueprint, Response, current_app, g, jsonify, make_response, request, send_from_directory,
                   stream_with_context)
from sqlalchemy import select

from . import chat, conversations
from .cors import origin_allowed
from .errors import ApiError
from .extensions import db, limiter
from .models import Company, Conversation, Message

bp = Blueprint("widget", __name__)

STATIC = Path(__file__).resolve().parent.parent / "static"
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEY = re.compile(r"^wk_[A-Za-z0-9_-]{8,37}$")
MAX_MESSAGE = 4000
MAX_NAME = 200
HISTORY_LIMIT = 200
HANDOFF_NOTE = "You asked to talk to a person. A member of our team will reply here as soon as possible."
ENDPOINTS = {"widget.config", "widget.messages", "widget.send", "widget.feedback", "widget.handoff"}


# ----------------------------------------------------------------------------- origin and key checks
def _origin_of(url: Optional[str]) -> Optional[str]:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def own_origins() -> set[str]:
    origins = {_origin_of(request.host_url)}
    public = _origin_of(current_app.config.get("PUBLIC_BASE_URL"))
    if public:
        origins.add(public)
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
    return current_app.config.get("WIDGET_IP_RATE_LIMIT") or "120/minute"


def read_limit() -> str:
    return current_app.config.get("WIDGET_POLL_RATE_LIMIT") or "240/minute"


def _preflight() -> bool:
    return request.method == "OPTIONS"


def limited_write(view):
    """Sending, feedback and hand-off: per visitor session, and per client address."""
    view = limiter.limit(write_limit, key_func=session_identity, exempt_when=_preflight, scope="widget-session")(view)
    return limiter.limit(ip_limit, key_func=ip_identity, exempt_when=_preflight, scope="widget-ip")(view)


def limited_read(view):
    return limiter.limit(read_limit, key_func=session_identity, exempt_when=_preflight, scope="widget-read")(view)


# ----------------------------------------------------------------------------- payloads
def source_json(source: dict) -> dict:
    return {"document_id": source.get("document_id"), "title": source.get("title"), "page": source.get("page")}


def message_json(message: Message) -> dict:
    return {"id": message.id, "role": message.role, "content": message.content,
            "sources": [source_json(s) for s in (message.sources or [])] if message.role == "assistant" else [],
            "answered": message.answered, "feedback": message.feedback,
            "created_at": message.created_at.isoformat()}


def _session_id(body: dict, required: bool) -> Optional[str]:
    session_id = body.get("session_id")
    if session_id in (None, ""):
        if required:
            raise ApiError(422, "session_id is required.")
        return None
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        raise ApiError(422, "session_id must be 16 to 64 letters, digits, '-' or '_'.")
    return session_id


def visitor_conversation(company: Company, session_id: Optional[str]) -> Optional[Conversation]:
    if not session_id:
        return None
    return conversations.find_conversation(company, "web", session_id)


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
    session_id = request.args.get("session_id") or None
    if session_id is not None and not SESSION_ID.match(session_id):
        raise ApiError(422, "session_id must be 16 to 64 letters, digits, '-' or '_'.")
    conversation = visitor_conversation(g.widget_company, session_id)
    if conversation is None:
        return jsonify({"status": None, "messages": []})
    query = select(Message).where(Message.conversation_id == conversation.id,
                                  Message.company_id == conversation.company_id)
    after = request.args.get("after")
    if after:
        anchor = db.session.scalars(select(Message).where(Message.id == after,
                                                          Message.conversation_id == conversation.id)).first()
        if anchor is not None:
            query = query.where(Message.created_at > anchor.created_at)
    rows = db.session.scalars(query.order_by(Message.created_at.desc()).limit(HISTORY_LIMIT)).all()
    return jsonify({"status": conversation.status, "messages": [message_json(m) for m in reversed(rows)]})


@bp.route("/widget/<widget_key>/messages", methods=["POST"])
@limited_write
def send(widget_key: str):
    """Server-sent events: start, delta…, done (or error). No AI reply while a person has taken over."""
    body = _body()
    text = body.get("message")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(422, "Write a message first.")
    if len(text) > MAX_MESSAGE:
        raise ApiError(422, f"The message is too long (at most {MAX_MESSAGE} characters).")
    name = body.get("name") if isinstance(body.get("name"), str) else None
    events = chat.stream_message(g.widget_company, text, _session_id(body, required=False),
                                 (name or "").strip()[:MAX_NAME] or None)
    return Response(stream_with_context(events), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.route("/widget/<widget_key>/feedback", methods=["POST", "OPTIONS"])
@limited_write
def feedback(widget_key: str):
    body = _body()
    if body.get("value") not in ("up", "down") or not isinstance(body.get("message_id"), str):
        raise ApiError(422, "Send message_id and value 'up' or 'down'.")
    conversation = visitor_conversation(g.widget_company, _session_id(body, required=True))
    if conversation is None:
        raise ApiError(404, "Conversation not found.")
    message = chat.set_feedback(conversation, body["message_id"][:64], body["value"])
    return jsonify({"message_id": message.id, "feedback": message.feedback})


@bp.route("/widget/<widget_key>/handoff", methods=["POST", "OPTIONS"])
@limited_write
def handoff(widget_key: str):
    """The visitor asks for a person: the AI stops answering this conversation and staff see it waiting."""
    body = _body()
    conversation = chat.open_session(g.widget_company, _session_id(body, required=False))
    note = None
    if conversation.status != "handed_off":
        conversation.status = "handed_off"
        note = Message(conversation_id=conversation.id, company_id=conversation.company_id, channel="web",
                       role="system", content=HANDOFF_NOTE)
        db.session.add(note)
    db.session.commit()
    return jsonify({"session_id": conversation.customer_id, "conversation_id": conversation.id,
                    "status": conversation.status, "message": message_json(note) if note else None})
