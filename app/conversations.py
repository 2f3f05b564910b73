"""The one path every channel shares: receive → persist → (enqueue) → answer → send.

Web chat answers inline (the visitor is waiting on the request); WhatsApp and email enqueue
``answer_message`` jobs. Either way the customer message is stored first, deduplicated by the
provider's message id, and answered at most once (``Message.reply_to_id`` is unique).
"""

from __future__ import annotations

import logging
from typing import Iterator, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rag_engine import Answer

from .extensions import db
from .kb import get_kb
from .models import Company, Conversation, Message, now
from .text import clean_text

log = logging.getLogger(__name__)
HISTORY_MESSAGES = 12


def find_conversation(company: Company, channel: str, customer_id: str) -> Optional[Conversation]:
    return db.session.scalars(
        select(Conversation)
        .where(Conversation.company_id == company.id, Conversation.channel == channel,
               Conversation.customer_id == customer_id)
        .order_by(Conversation.last_message_at.desc())
    ).first()


def get_or_create_conversation(company: Company, channel: str, customer_id: str, *, customer_name: str = None,
                               thread_key: str = None, subject: str = None) -> Conversation:
    customer_id, customer_name = clean_text(customer_id), clean_text(customer_name) or None
    conversation = find_conversation(company, channel, customer_id)
    if conversation is None:
        conversation = start_conversation(company, channel, customer_id, customer_name=customer_name,
                                          thread_key=thread_key, subject=subject)
    elif customer_name and not conversation.customer_name:
        conversation.customer_name = customer_name
    return conversation


def start_conversation(company: Company, channel: str, customer_id: str, *, customer_name: str = None,
                       thread_key: str = None, subject: str = None) -> Conversation:
    """A new conversation even if the customer has others (email: one conversation per thread)."""
    conversation = Conversation(company_id=company.id, channel=channel, customer_id=customer_id,
                                customer_name=customer_name, external_thread_key=thread_key, subject=subject)
    db.session.add(conversation)
    db.session.flush()
    return conversation


class ForeignMessageIdError(Exception):
    """A provider message id already stored for another company: never touched, never answered."""


def find_received(channel: str, channel_message_id: str) -> Optional[Message]:
    """The stored message with this provider id (the dedup key), whichever company it belongs to."""
    return db.session.scalars(select(Message).where(
        Message.channel == channel, Message.channel_message_id == channel_message_id)).first()


def record_customer_message(conversation: Conversation, content: str, *,
                            channel_message_id: Optional[str] = None) -> tuple[Message, bool]:
    """Store a customer's message. Returns (message, created); a redelivery returns the stored one.

    Raises ForeignMessageIdError when the provider id is already stored for another company.
    """
    def stored_duplicate() -> Optional[Message]:
        existing = find_received(conversation.channel, channel_message_id)
        if existing is not None and existing.company_id != conversation.company_id:
            raise ForeignMessageIdError(f"{conversation.channel} message {channel_message_id} belongs to another company")
        return existing

    if channel_message_id:
        existing = stored_duplicate()
        if existing is not None:
            return existing, False
    message = Message(conversation_id=conversation.id, company_id=conversation.company_id,
                      channel=conversation.channel, role="customer", content=clean_text(content),
                      channel_message_id=channel_message_id, delivery_status="received")
    try:
        with db.session.begin_nested():  # a concurrent redelivery may win the unique key
            db.session.add(message)
    except IntegrityError:
        return stored_duplicate(), False
    if conversation.status == "resolved":
        conversation.status = "active"  # the customer wrote again
    conversation.last_message_at = now()
    return message, True


def history_before(message: Message) -> list[dict]:
    rows = db.session.scalars(
        select(Message)
        .where(Message.conversation_id == message.conversation_id, Message.company_id == message.company_id,
               Message.created_at < message.created_at, Message.role.in_(("customer", "assistant", "staff")))
        .order_by(Message.created_at.desc()).limit(HISTORY_MESSAGES)
    ).all()
    return [{"role": m.role, "content": m.content} for m in reversed(rows)]


def existing_reply(message: Message) -> Optional[Message]:
    return db.session.scalars(select(Message).where(Message.reply_to_id == message.id)).first()


def ai_may_answer(message: Message) -> bool:
    """Re-checked when the answer is produced, not only when it was requested."""
    db.session.refresh(message.conversation)
    return message.role == "customer" and message.conversation.status != "handed_off"


def answer_kwargs(company: Company) -> dict:
    return {"company_name": company.name, "personality": company.personality or "",
            "fallback_message": company.fallback_message or None}


def save_reply(message: Message, answer: Answer) -> Message:
    """Store the AI reply to ``message``; if another process already did, keep theirs."""
    reply = Message(conversation_id=message.conversation_id, company_id=message.company_id, channel=message.channel,
                    role="assistant", content=answer.text, sources=[s.to_dict() for s in answer.sources],
                    answered=answer.answered, reply_to_id=message.id,
                    delivery_status="sent" if message.channel == "web" else "queued")
    try:
        with db.session.begin_nested():
            db.session.add(reply)
    except IntegrityError:
        return existing_reply(message)
    message.conversation.last_message_at = now()
    return reply


def answer_message(message: Message) -> Optional[Message]:
    """The AI reply to a customer message (created now, or the one that already exists)."""
    reply = existing_reply(message)
    if reply is not None or not ai_may_answer(message):
        return reply
    company = db.session.get(Company, message.company_id)
    answer = get_kb().answer(company.tenant_id, message.content, history=history_before(message),
                             **answer_kwargs(company))
    return save_reply(message, answer)


def stream_answer_message(message: Message) -> Iterator[tuple[str, object]]:
    """Yield ("delta", text)… then ("reply", Message) — the streamed twin of answer_message."""
    reply = existing_reply(message)
    if reply is None and ai_may_answer(message):
        company = db.session.get(Company, message.company_id)
        stream = get_kb().stream_answer(company.tenant_id, message.content, history=history_before(message),
                                        **answer_kwargs(company))
        for delta in stream:
            yield "delta", delta
        reply = save_reply(message, stream.to_answer())
    elif reply is not None:
        yield "delta", reply.content
    yield "reply", reply


def add_staff_message(conversation: Conversation, content: str) -> Message:
    message = Message(conversation_id=conversation.id, company_id=conversation.company_id,
                      channel=conversation.channel, role="staff", content=clean_text(content),
                      delivery_status="sent" if conversation.channel == "web" else "queued")
    db.session.add(message)
    conversation.last_message_at = now()
    return message
