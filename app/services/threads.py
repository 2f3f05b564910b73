"""A conversation's messages in order — all of them, or only those after one the reader already has
(the widget and the staff thread poll that way)."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import select

from ..infra.extensions import db
from ..infra.models import Conversation, Message


def messages(conversation: Conversation, after: Optional[str] = None, last: Optional[int] = None) -> list[Message]:
    """Oldest first; ``after``: only messages newer than that one (ignored when it is not in this
    conversation); ``last``: at most that many, the newest."""
    query = select(Message).where(Message.conversation_id == conversation.id,
                                  Message.company_id == conversation.company_id)
    if after:
        anchor = db.session.scalars(select(Message).where(Message.id == after,
                                                          Message.conversation_id == conversation.id)).first()
        if anchor is not None:
            query = query.where(Message.created_at > anchor.created_at)
    if last is None:
        return list(db.session.scalars(query.order_by(Message.created_at)))
    newest = db.session.scalars(query.order_by(Message.created_at.desc()).limit(last)).all()
    return list(reversed(newest))
