"""Web chat, shared by the API (secret key) and the widget (public key): a session is a conversation."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Iterator, Optional

from sqlalchemy import select

from rag_engine import ProviderError

from . import conversations
from .errors import ApiError
from .extensions import db
from .models import Company, Conversation, Message

log = logging.getLogger(__name__)
UNAVAILABLE = "The assistant is temporarily unavailable. Your message was saved; please try again shortly."


def open_session(company: Company, session_id: Optional[str], customer_name: Optional[str] = None) -> Conversation:
    """The web conversation of ``session_id`` (created when new or unknown to this company)."""
    session_id = session_id or secrets.token_urlsafe(16)
    return conversations.get_or_create_conversation(company, "web", session_id, customer_name=customer_name)


def post_message(company: Company, text: str, session_id: Optional[str], customer_name: Optional[str] = None):
    """Store the visitor's message and answer it now. Returns (conversation, message, reply | None)."""
    conversation = open_session(company, session_id, customer_name)
    message, _ = conversations.record_customer_message(conversation, text.strip())
    db.session.commit()
    try:
        reply = conversations.answer_message(message)
    except ProviderError:
        db.session.rollback()
        log.warning("LLM provider failed answering message %s", message.id)
        raise ApiError(503, UNAVAILABLE, "assistant_unavailable")
    db.session.commit()
    return conversation, message, reply


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def stream_message(company: Company, text: str, session_id: Optional[str],
                   customer_name: Optional[str] = None) -> Iterator[str]:
    """Server-sent events: start, delta…, done (or error). The message is stored before streaming."""
    conversation = open_session(company, session_id, customer_name)
    message, _ = conversations.record_customer_message(conversation, text.strip())
    db.session.commit()
    start = {"conversation_id": conversation.id, "session_id": conversation.customer_id, "message_id": message.id}

    def events() -> Iterator[str]:
        yield sse("start", start)
        # The body streams after the view returned, possibly in a new session: re-read by id.
        message_now = db.session.get(Message, start["message_id"])
        conversation_now = db.session.get(Conversation, start["conversation_id"])
        reply = None
        try:
            for kind, value in conversations.stream_answer_message(message_now):
                if kind == "delta":
                    yield sse("delta", {"text": value})
                else:
                    reply = value
            db.session.commit()
        except ProviderError:
            db.session.rollback()
            yield sse("error", {"code": "assistant_unavailable", "message": UNAVAILABLE})
            return
        yield sse("done", reply_payload(conversation_now, reply))

    return events()


def reply_payload(conversation: Conversation, reply: Optional[Message]) -> dict:
    return {
        "reply_id": reply.id if reply else None,
        "response": reply.content if reply else None,
        "sources": reply.sources if reply else [],
        "answered": reply.answered if reply else None,
        "handed_off": conversation.status == "handed_off",
    }


def company_conversation(company: Company, conversation_id: str) -> Conversation:
    conversation = db.session.scalars(select(Conversation).where(
        Conversation.id == conversation_id, Conversation.company_id == company.id)).first()
    if conversation is None:
        raise ApiError(404, "Conversation not found.")
    return conversation


def set_feedback(conversation: Conversation, message_id: str, value: str) -> Message:
    message = db.session.scalars(select(Message).where(
        Message.id == message_id, Message.conversation_id == conversation.id,
        Message.company_id == conversation.company_id)).first()
    if message is None or message.role != "assistant":
        raise ApiError(404, "Message not found in this conversation.")
    message.feedback = value
    db.session.commit()
    return message
