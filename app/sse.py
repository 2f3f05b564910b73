"""A web chat message answered as server-sent events — shared by the API and the widget.

Events: ``start`` {conversation_id, session_id, message_id}, ``delta`` {text}…, then ``done``
(the reply and its sources) or ``error`` {code, message}. The visitor's message is committed
before the first event; the reply is committed when the stream ends (this edge owns both).
"""

from __future__ import annotations

import json
from typing import Iterator, Optional

from flask import Response, stream_with_context

from .domain_errors import AssistantUnavailable
from .infra.extensions import db
from .infra.models import Company, Conversation, Message
from .services import replies, web_sessions


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def chat_stream(company: Company, text: str, session_id: Optional[str], customer_name: Optional[str]) -> Response:
    conversation, message = web_sessions.post(company, text, session_id, customer_name)
    db.session.commit()
    start = {"conversation_id": conversation.id, "session_id": conversation.customer_id, "message_id": message.id}
    return Response(stream_with_context(_events(start)), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _events(start: dict) -> Iterator[str]:
    yield sse("start", start)
    # The body streams after the view returned, possibly in a new session: re-read by id.
    message = db.session.get(Message, start["message_id"])
    conversation = db.session.get(Conversation, start["conversation_id"])
    reply = None
    try:
        for kind, value in replies.stream(message):
            if kind == "delta":
                yield sse("delta", {"text": value})
            else:
                reply = value
        db.session.commit()
    except AssistantUnavailable as err:
        db.session.rollback()
        yield sse("error", {"code": err.code, "message": err.message})
        return
    yield sse("done", web_sessions.reply_payload(conversation, reply))
