"""Who answers a conversation: the AI ("active"), a person ("handed_off"), or nobody ("resolved").

Each change leaves a system note in the thread, which a web visitor sees in the widget.
"""

from __future__ import annotations

from typing import Optional

from ..infra.extensions import db
from ..infra.models import Conversation, Message

STATUSES = ("active", "handed_off", "resolved")
# Notes shown in the thread when staff change who answers.
STAFF_NOTES = {
    "handed_off": "A member of our team has joined the conversation.",
    "active": "The AI assistant is answering again.",
    "resolved": "This conversation was marked as resolved.",
}
VISITOR_NOTE = "You asked to talk to a person. A member of our team will reply here as soon as possible."


def _note(conversation: Conversation, text: str) -> Message:
    note = Message(conversation_id=conversation.id, company_id=conversation.company_id,
                   channel=conversation.channel, role="system", content=text)
    db.session.add(note)
    return note


def set_status(conversation: Conversation, status: str) -> bool:
    """Staff change who answers. Returns False when the conversation already had that status."""
    if conversation.status == status:
        return False
    conversation.status = status
    _note(conversation, STAFF_NOTES[status])
    return True


def visitor_asks_for_a_person(conversation: Conversation) -> Optional[Message]:
    """The AI stops answering and staff see the conversation waiting; returns the note (None: already)."""
    if conversation.status == "handed_off":
        return None
    conversation.status = "handed_off"
    return _note(conversation, VISITOR_NOTE)
