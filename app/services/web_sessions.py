"""Web chat sessions, shared by the API (secret key) and the widget (public key).

A visitor's session id is the customer id of one web conversation; an unknown or missing one
opens a new conversation. The visitor's message is stored (and committed by the edge) before the
AI answers, so a provider failure never loses it.
"""

from __future__ import annotations

import secrets
from typing import Optional

from ..infra.models import Company, Conversation, Message
from . import intake

CHANNEL = "web"


def open_session(company: Company, session_id: Optional[str], customer_name: Optional[str] = None) -> Conversation:
    """The web conversation of ``session_id`` (created when new or unknown to this company)."""
    session_id = session_id or secrets.token_urlsafe(16)
    return intake.get_or_create_conversation(company, CHANNEL, session_id, customer_name=customer_name)


def find_session(company: Company, session_id: Optional[str]) -> Optional[Conversation]:
    return intake.find_conversation(company, CHANNEL, session_id) if session_id else None


def post(company: Company, text: str, session_id: Optional[str],
         customer_name: Optional[str] = None) -> tuple[Conversation, Message]:
    """Store the visitor's message in their session's conversation."""
    conversation = open_session(company, session_id, customer_name)
    message, _ = intake.record_customer_message(conversation, text.strip())
    return conversation, message


def reply_payload(conversation: Conversation, reply: Optional[Message]) -> dict:
    return {
        "reply_id": reply.id if reply else None,
        "response": reply.content if reply else None,
        "sources": reply.sources if reply else [],
        "answered": reply.answered if reply else None,
        "handed_off": conversation.status == "handed_off",
    }
