"""A customer's message, stored once in its conversation — the first step every channel shares.

Web chat answers inline (the visitor is waiting on the request); email goes through ``accept``
and WhatsApp through ``store_chat_message`` + ``queue_answer``, which queue an ``answer_message``
job. Either way the message is stored first, deduplicated by the provider's message id (unique
per channel), and answered at most once (see ``services/replies.py``).
"""

from __future__ import annotations

import functools
import logging
from typing import NamedTuple, Optional

from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import IntegrityError

from rag_engine import Answer

from ..domain_errors import ForeignMessageId
from ..infra import queues
from ..infra.extensions import db
from ..infra.models import Company, Conversation, Message, new_id, now
from ..infra.text import clean_text
from . import replies

log = logging.getLogger(__name__)


def find_conversation(company: Company, channel: str, customer_id: str) -> Optional[Conversation]:
    return db.session.scalars(
        select(Conversation)
        .where(Conversation.company_id == company.id, Conversation.channel == channel,
               Conversation.customer_id == customer_id)
        .order_by(Conversation.last_message_at.desc())
    ).first()


def get_or_create_conversation(company: Company, channel: str, customer_id: str, *, customer_name: str = None,
                               thread_key: str = None, subject: str = None) -> Conversation:
    """The customer's one conversation on ``channel`` (web, WhatsApp), created by whichever of several
    concurrent first messages gets there first: a unique index makes the others fetch it."""
    customer_id, customer_name = clean_text(customer_id)[:254], clean_text(customer_name)[:200] or None
    conversation = find_conversation(company, channel, customer_id)
    if conversation is None:
        try:
            with db.session.begin_nested():  # waits for a concurrent insert of the same customer to end
                conversation = start_conversation(company, channel, customer_id, customer_name=customer_name,
                                                  thread_key=thread_key, subject=subject)
        except IntegrityError:  # it committed first: use its conversation
            conversation = find_conversation(company, channel, customer_id)
            if conversation is None:
                raise
    elif customer_name and not conversation.customer_name:
        conversation.customer_name = customer_name
    return conversation


def start_conversation(company: Company, channel: str, customer_id: str, *, customer_name: str = None,
                       thread_key: str = None, subject: str = None) -> Conversation:
    """A new conversation even if the customer has others (email: one conversation per thread)."""
    conversation = Conversation(company_id=company.id, channel=channel, customer_id=clean_text(customer_id)[:254],
                                customer_name=clean_text(customer_name)[:200] or None,
                                external_thread_key=clean_text(thread_key)[:512] or None,
                                subject=clean_text(subject)[:500] or None)
    db.session.add(conversation)
    db.session.flush()
    return conversation


def find_received(channel: str, channel_message_id: str) -> Optional[Message]:
    """The stored message with this provider id (the dedup key), whichever company it belongs to."""
    return db.session.scalars(select(Message).where(
        Message.channel == channel, Message.channel_message_id == channel_message_id)).first()


def record_customer_message(conversation: Conversation, content: str, *,
                            channel_message_id: Optional[str] = None) -> tuple[Message, bool]:
    """Store a customer's message. Returns (message, created); a redelivery returns the stored one.

    Raises ForeignMessageId when the provider id is already stored for another company.
    """
    def stored_duplicate() -> Optional[Message]:
        existing = find_received(conversation.channel, channel_message_id)
        if existing is not None and existing.company_id != conversation.company_id:
            raise ForeignMessageId(f"{conversation.channel} message {channel_message_id} belongs to another company")
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


def accept(conversation: Conversation, content: str, channel_message_id: str, meta: dict,
           canned_reply: Optional[str] = None) -> tuple[Message, bool]:
    """Store a message of an asynchronous channel once and queue its answer. Returns (message, created).

    ``canned_reply``: answer with this text instead of the AI (e.g. a photo with no text), still
    stored as the message's one reply and delivered through the same outbound queue. Both are
    queued when the caller commits. A redelivery stores nothing: it only queues again an answer
    that is still missing, at once (the message was committed by whoever stored it; the job id is
    deterministic and the job answers at most once, so this never answers twice). The caller
    should roll back then: a conversation opened for the redelivery is not wanted.
    """
    message, created = record_customer_message(conversation, content, channel_message_id=channel_message_id)
    if not created:
        if replies.existing_reply(message) is None and replies.ai_may_answer(message):
            queues.enqueue_now(queues.enqueue_answer, message.id)
        return message, False
    message.channel_meta = meta
    if replies.existing_reply(message) is not None or not replies.ai_may_answer(message):
        return message, True
    if canned_reply is not None:
        reply = replies.save_reply(message, Answer(text=canned_reply, sources=[], answered=False))
        if reply is not None:  # None: a person took the conversation over meanwhile
            queues.on_commit(queues.enqueue_delivery, reply.id)
    else:
        queues.on_commit(queues.enqueue_answer, message.id)
    return message, True


# ----------------------------------------------------------------------------- webhooks under load
class Stored(NamedTuple):
    message_id: str
    conversation_id: str
    conversation_status: str  # after this message: "resolved" became "active"


def store_chat_message(company_id: str, channel: str, customer_id: str, content: str, channel_message_id: str,
                       meta: dict, customer_name: Optional[str] = None) -> Optional[Stored]:
    """Store a message of a one-conversation-per-customer channel (WhatsApp) in one statement.

    The customer's conversation is inserted or updated in an upsert on the unique index (concurrent
    first messages meet there; a resolved conversation becomes active; the row stays locked until the
    commit), and the message is inserted with it unless its provider id is stored already. None: it is
    (a redelivery, or another company's id): nothing is stored, and the caller must roll back (the
    upsert touched the conversation). ``accept`` does the same with the ORM in about ten statements;
    this is the hot path of a webhook burst.
    """
    row = db.session.execute(_chat_statement(), {
        "conversation": new_id(), "message": new_id(), "company_id": company_id, "channel": channel,
        "customer_id": clean_text(customer_id)[:254], "customer_name": clean_text(customer_name)[:200] or None,
        "stamp": now(), "content": clean_text(content), "channel_message_id": channel_message_id,
        "channel_meta": meta}).first()
    return Stored(*row) if row else None


@functools.cache
def _chat_statement():
    """``store_chat_message``'s statement, in SQL: the conversation's upsert feeds the message's insert, so a
    webhook makes one round trip to the database before its commit, not two. SQLAlchemy does not cache the
    compiled form of PostgreSQL's INSERT … ON CONFLICT construct (its ``Insert`` has no cache key): built
    with it, the statements were compiled again for every webhook, a quarter of a webhook's CPU
    (profiled). A text statement is compiled once. Ids are made here as the models' defaults would."""
    conversations, messages = Conversation.__table__, Message.__table__
    # The message is stamped by the database once the conversation's row is locked (its insert reads the
    # upsert's row): a customer's messages are ordered as they commit.
    return text(f"""
        WITH conversation AS (
            INSERT INTO {conversations.name} (id, company_id, channel, customer_id, customer_name, status,
                                              created_at, updated_at, last_message_at)
            VALUES (:conversation, :company_id, :channel, :customer_id, :customer_name, 'active', :stamp, :stamp,
                    :stamp)
            ON CONFLICT (company_id, channel, customer_id) WHERE channel != 'email' DO UPDATE SET
                customer_name = coalesce({conversations.name}.customer_name, excluded.customer_name),
                status = CASE WHEN {conversations.name}.status = 'resolved' THEN 'active'
                              ELSE {conversations.name}.status END,
                updated_at = excluded.updated_at, last_message_at = excluded.last_message_at
            RETURNING {conversations.name}.id, {conversations.name}.status)
        INSERT INTO {messages.name} (id, conversation_id, company_id, channel, role, content, sources,
                                     channel_message_id, delivery_status, attempts, channel_meta, created_at, updated_at)
        SELECT :message, conversation.id, :company_id, :channel, 'customer', :content, CAST('[]' AS JSON),
               :channel_message_id, 'received', 0, CAST(:channel_meta AS JSON), clock_timestamp(), clock_timestamp()
        FROM conversation
        ON CONFLICT ON CONSTRAINT uq_messages_channel_message_id DO NOTHING
        RETURNING {messages.name}.id, {messages.name}.conversation_id,
                  (SELECT status FROM conversation)""").bindparams(
        bindparam("stamp", type_=conversations.c.created_at.type),
        bindparam("channel_meta", type_=messages.c.channel_meta.type))


def queue_answer(stored: Stored, canned_reply: Optional[str] = None) -> None:
    """Queue the answer to a message ``store_chat_message`` just stored (when the caller commits), unless a
    person has taken the conversation over (the worker checks that again when it answers).
    ``canned_reply``: as in ``accept``."""
    if stored.conversation_status == "handed_off":
        return
    if canned_reply is None:
        queues.on_commit(queues.enqueue_new_answer, stored.message_id)
        return
    message = db.session.get(Message, stored.message_id)
    reply = replies.save_reply(message, Answer(text=canned_reply, sources=[], answered=False))
    if reply is not None:  # None: a person took the conversation over meanwhile
        queues.on_commit(queues.enqueue_delivery, reply.id)


def redelivered(channel: str, channel_message_id: str, company_id: str) -> bool:
    """A provider delivered a stored message again: queue at once its answer if it is still missing (the
    job id is deterministic and the job answers at most once). False: the id is another company's."""
    message = find_received(channel, channel_message_id)
    if message is None or message.company_id != company_id:
        return False
    if replies.existing_reply(message) is None and replies.ai_may_answer(message):
        queues.enqueue_now(queues.enqueue_answer, message.id)
    return True
