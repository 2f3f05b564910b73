"""What the asynchronous channels (WhatsApp, email) share on the way in: store once, then queue.

Both channels follow the same path as the web chat (app/conversations.py): the customer's message
is stored first, deduplicated by the provider's message id, then an ``answer_message`` job is
queued (workers/jobs.py answers with the knowledge base and queues the delivery).
"""

from __future__ import annotations

import logging
from typing import Optional

from sqlalchemy import select

from rag_engine import Answer

from .. import conversations
from ..extensions import db
from ..models import Conversation, Message
from ..queues import enqueue_answer, enqueue_delivery

log = logging.getLogger(__name__)


class InvalidPayload(ValueError):
    """The provider's request lacks what every real delivery carries (e.g. a message id)."""


def accept(conversation: Conversation, content: str, channel_message_id: str, meta: dict,
           canned_reply: Optional[str] = None) -> tuple[Optional[Message], bool]:
    """Store a customer message once and queue its answer. Returns (message, created); the message
    is None when the provider id already belongs to another company.

    ``canned_reply``: answer with this text instead of the AI (e.g. a photo with no text), still
    stored as the message's one reply and delivered through the same outbound queue.
    A redelivery stores nothing; it only re-queues an answer that is still missing (the job id is
    deterministic and the job answers at most once, so this never answers twice).
    """
    channel = conversation.channel
    try:
        message, created = conversations.record_customer_message(conversation, content,
                                                                 channel_message_id=channel_message_id)
    except conversations.ForeignMessageIdError:
        db.session.rollback()
        log.warning("%s message id %s is already stored for another company: ignored", channel, channel_message_id)
        return None, False
    if not created:
        db.session.rollback()  # drop a conversation a concurrent duplicate may have made us open
        message = db.session.get(Message, message.id)
    else:
        message.channel_meta = meta
        db.session.commit()
    if conversations.existing_reply(message) is not None or not conversations.ai_may_answer(message):
        db.session.commit()
        return message, created
    if canned_reply is not None:
        reply = conversations.save_reply(message, Answer(text=canned_reply, sources=[], answered=False))
        db.session.commit()
        enqueue_delivery(reply.id)
    else:
        db.session.commit()
        enqueue_answer(message.id)
    return message, created


def sources_of(message: Message) -> list[tuple[str, Optional[int]]]:
    """Distinct (title, page) of an AI answer's sources; none for staff messages or fallback replies."""
    if message.role != "assistant" or not message.answered:
        return []
    found: list[tuple[str, Optional[int]]] = []
    for source in message.sources or []:
        item = ((source.get("title") or "").strip() or "document", source.get("page") or None)
        if item not in found:
            found.append(item)
    return found


def customer_message_for(message: Message) -> Optional[Message]:
    """The customer message a reply answers: its reply_to, else (staff) the latest one before it."""
    if message.reply_to_id:
        return db.session.get(Message, message.reply_to_id)
    return db.session.scalars(
        select(Message).where(Message.conversation_id == message.conversation_id, Message.role == "customer",
                              Message.created_at <= message.created_at)
        .order_by(Message.created_at.desc())).first()
