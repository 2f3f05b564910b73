"""/api/chat/: send a message (JSON or streamed), feedback, conversations and their messages."""

from __future__ import annotations

from flask import Response, g, request, stream_with_context
from pydantic import ValidationError
from sqlalchemy import func, select

from ..chat import company_conversation, post_message, reply_payload, set_feedback, stream_message
from ..cors import allow_cors
from ..errors import ApiError
from ..extensions import db
from ..models import Conversation, Message
from . import bp
from .openapi import responses, spec
from .schemas import (
    ChatIn, ChatOut, ConversationList, ConversationQuery, ErrorBody, FeedbackIn, FeedbackOut, MessageList,
    conversation_out, message_out,
)


@bp.post("/chat/message/")
@spec.validate(json=ChatIn, resp=responses(HTTP_200=ChatOut, HTTP_503=ErrorBody), tags=["chat"])
def chat_message():
    """Ask a question. Pass the returned `session_id` back to continue the conversation."""
    body: ChatIn = request.context.json
    conversation, message, reply = post_message(g.company, body.message, body.session_id, body.customer_name)
    return ChatOut(conversation_id=conversation.id, session_id=conversation.customer_id, message_id=message.id,
                   **reply_payload(conversation, reply))


@bp.post("/chat/message/stream/")
def chat_message_stream():
    """Same as /chat/message/, as server-sent events: `start`, `delta` (token text)…, `done` (sources)."""
    try:
        body = ChatIn.model_validate(request.get_json(silent=True) or {})
    except ValidationError as err:
        raise ApiError(422, "Invalid request: " + "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in err.errors()[:5]))
    events = stream_message(g.company, body.message, body.session_id, body.customer_name)
    return Response(stream_with_context(events), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.post("/chat/conversations/<conversation_id>/feedback/")
@spec.validate(json=FeedbackIn, resp=responses(HTTP_200=FeedbackOut, HTTP_404=ErrorBody), tags=["chat"])
def chat_feedback(conversation_id: str):
    """Thumbs up or down on one AI answer."""
    body: FeedbackIn = request.context.json
    message = set_feedback(company_conversation(g.company, conversation_id), body.message_id, body.value)
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
    conversation = company_conversation(g.company, conversation_id)
    rows = db.session.scalars(select(Message).where(Message.conversation_id == conversation.id,
                                                    Message.company_id == g.company.id)
                              .order_by(Message.created_at)).all()
    return MessageList(conversation_id=conversation.id, messages=[message_out(m) for m in rows])


allow_cors(bp, endpoints={"api.chat_message", "api.chat_message_stream", "api.chat_feedback"})
