"""Replies to a customer: the AI's (at most one per message, whatever retries happen) and staff's.

The AI answers from the company's knowledge base with the conversation's recent history, only
while no person has taken the conversation over — checked when the answer is produced, not only
when it was requested. ``Message.reply_to_id`` is unique, so two processes answering the same
message keep one reply.
"""

from __future__ import annotations

import logging
from typing import Iterator, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rag_engine import Answer, ProviderError

from ..domain_errors import AssistantUnavailable, NotFound
from ..infra.extensions import db
from ..infra.kb import get_kb
from ..infra.models import Company, Conversation, Message, now
from ..infra.text import MAX_QUESTION_CHARS, clean_text

log = logging.getLogger(__name__)
HISTORY_MESSAGES = 12


def history_before(message: Message) -> list[dict]:
    rows = db.session.scalars(
        select(Message)
        .where(Message.conversation_id == message.conversation_id, Message.company_id == message.company_id,
               Message.created_at < message.created_at, Message.role.in_(("customer", "assistant", "staff")))
        .order_by(Message.created_at.desc()).limit(HISTORY_MESSAGES)
    ).all()
    return [{"role": m.role, "content": m.content} for m in reversed(rows)]


def unanswered_before(message: Message, limit: int = 20) -> list[Message]:
    """The conversation's customer messages stored before ``message`` with no reply yet, oldest first."""
    replied = select(Message.reply_to_id).where(Message.conversation_id == message.conversation_id,
                                                Message.reply_to_id.is_not(None))
    return db.session.scalars(
        select(Message)
        .where(Message.conversation_id == message.conversation_id, Message.company_id == message.company_id,
               Message.role == "customer", Message.created_at < message.created_at, Message.id.not_in(replied))
        .order_by(Message.created_at).limit(limit)
    ).all()


def existing_reply(message: Message) -> Optional[Message]:
    return db.session.scalars(select(Message).where(Message.reply_to_id == message.id)).first()


def ai_may_answer(message: Message) -> bool:
    """Re-checked when the answer is produced, not only when it was requested."""
    db.session.refresh(message.conversation)
    return message.role == "customer" and message.conversation.status != "handed_off"


def _answer_kwargs(company: Company) -> dict:
    return {"company_name": company.name, "personality": company.personality or "",
            "fallback_message": company.fallback_message or None}


def save_reply(message: Message, answer: Answer) -> Optional[Message]:
    """Store the AI reply to ``message``; if another process already did, keep theirs.

    None when a person has taken the conversation over, even a moment ago: the conversation's row is
    locked and its status read again here, so a takeover commits either before this check (no AI reply)
    or after this reply (which then came before the takeover) — never an AI answer after a takeover.
    """
    conversation = db.session.scalars(
        select(Conversation).where(Conversation.id == message.conversation_id)
        .with_for_update(key_share=True).execution_options(populate_existing=True)).one()
    if conversation.status == "handed_off":
        return existing_reply(message)
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


def answer(message: Message) -> Optional[Message]:
    """The AI reply to a customer message (created now, or the one that already exists).

    None while a person has taken the conversation over. Raises AssistantUnavailable.
    """
    reply = existing_reply(message)
    if reply is not None or not ai_may_answer(message):
        return reply
    company = db.session.get(Company, message.company_id)
    try:
        result = get_kb().answer(company.tenant_id, message.content[:MAX_QUESTION_CHARS],
                                 history=history_before(message),
                                 **_answer_kwargs(company))
    except ProviderError:
        log.warning("LLM provider failed answering message %s", message.id)
        raise AssistantUnavailable() from None
    return save_reply(message, result)


def stream(message: Message) -> Iterator[tuple[str, object]]:
    """Yield ("delta", text)… then ("reply", Message | None) — the streamed twin of ``answer``."""
    reply = existing_reply(message)
    if reply is None and ai_may_answer(message):
        company = db.session.get(Company, message.company_id)
        try:
            streamed = get_kb().stream_answer(company.tenant_id, message.content[:MAX_QUESTION_CHARS],
                                              history=history_before(message),
                                              **_answer_kwargs(company))
            for delta in streamed:
                yield "delta", delta
        except ProviderError:
            log.warning("LLM provider failed streaming the answer to message %s", message.id)
            raise AssistantUnavailable() from None
        reply = save_reply(message, streamed.to_answer())
    elif reply is not None:
        yield "delta", reply.content
    yield "reply", reply


def add_staff_message(conversation: Conversation, content: str) -> Message:
    """A person's reply; web visitors read it from the widget, other channels get it delivered."""
    message = Message(conversation_id=conversation.id, company_id=conversation.company_id,
                      channel=conversation.channel, role="staff", content=clean_text(content),
                      delivery_status="sent" if conversation.channel == "web" else "queued")
    db.session.add(message)
    conversation.last_message_at = now()
    conversation.updated_at = now()
    return message


def set_feedback(conversation: Conversation, message_id: str, value: str) -> Message:
    """Thumbs up or down on one AI answer of ``conversation``."""
    message = db.session.scalars(select(Message).where(
        Message.id == message_id, Message.conversation_id == conversation.id,
        Message.company_id == conversation.company_id)).first()
    if message is None or message.role != "assistant":
        raise NotFound("Message not found in this conversation.")
    message.feedback = value
    return message
