"""/api/chat/: send a message (JSON or streamed), feedback, conversations and their messages."""

from __future__ import annotations

from flask import g, request
from pydantic import ValidationError
from sqlalchemy import func, select

from ..cors import allow_cors
from ..errors import invalid_request
from ..infra.extensions import db
from ..infra.models import Conversation
from ..schemas import (
    ChatIn, ChatOut, ConversationList, ConversationQuery, ErrorBody, FeedbackIn, FeedbackOut, MessageList,
    conversation_out, message_out,
)
from ..services import replies, threads, web_sessions
from ..services.tenancy import owned
from ..sse import chat_stream
from .blueprint import bp
from .openapi import responses, spec


@bp.post("/chat/message/")
@spec.validate(json=ChatIn, resp=responses(HTTP_200=ChatOut, HTTP_503=ErrorBody), tags=["chat"])
def chat_message():
    """Ask a question. Pass the returned `session_id` back to continue the conversation."""
    body: ChatIn = request.context.json
    conversation, message = web_sessions.post(g.company, body.message, body.session_id, body.customer_name)
    db.session.commit()  # kept even if the assistant fails below
    reply = replies.answer(message)
    db.session.commit()
    return ChatOut(conversation_id=conversation.id, session_id=conversation.customer_id, message_id=message.id,
                   **web_sessions.reply_payload(conversation, reply))


@bp.post("/chat/message/stream/")
def chat_message_stream():
    """Same as /chat/message/, as server-sent events: `start`, `delta` (token text)…, `done` (sources)."""
    try:
        body = ChatIn.model_validate(request.get_json(silent=True) or {})
    except ValidationError as err:
        raise invalid_request(err) from None
    return chat_stream(g.company, body.message, body.session_id, body.customer_name)


@bp.post("/chat/conversations/<conversation_id>/feedback/")
@spec.validate(json=FeedbackIn, resp=responses(HTTP_200=FeedbackOut, HTTP_404=ErrorBody), tags=["chat"])
def chat_feedback(conversation_id: str):
    """Thumbs up or down on one AI answer."""
    body: FeedbackIn = request.context.json
    message = replies.set_feedback(owned(Conversation, g.company.id, conversation_id), body.message_id, body.value)
    db.session.commit()
    return FeedbackOut(message_id=message.id, feedback=message.feedback)


@bp.get("/chat/conversations/")
@spec.validate(query=ConversationQuery, resp=responses(HTTP_200=ConversationList), tags=["chat"])
def list_conversations():
    """The company's conversations, most recent first; filter by channel and status."""
    query: ConversationQuery = request.context.query
    where = [Conversation.company_id == g.company.id]
    if query.channel:
        where.append(Conversation.channel == query.channel)
    if query.status:
        where.append(Conversation.status == query.status)
    total = db.session.scalar(select(func.count()).select_from(Conversation).where(*where))
    rows = db.session.scalars(select(Conversation).where(*where).order_by(Conversation.last_message_at.desc())
                              .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return ConversationList(conversations=[conversation_out(c) for c in rows], page=query.page,
                            per_page=query.per_page, total=total)


@bp.get("/chat/conversations/<conversation_id>/messages/")
@spec.validate(resp=responses(HTTP_200=MessageList, HTTP_404=ErrorBody), tags=["chat"])
def conversation_messages(conversation_id: str):
    """Every message of one conversation, oldest first, with each answer's sources."""
    conversation = owned(Conversation, g.company.id, conversation_id)
    rows = threads.messages(conversation)
    return MessageList(conversation_id=conversation.id, messages=[message_out(m) for m in rows])


allow_cors(bp, endpoints={"api.chat_message", "api.chat_message_stream", "api.chat_feedback"})
