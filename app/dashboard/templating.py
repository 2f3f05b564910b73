"""What the staff pages' templates use besides the icons (templates/icons.html): labels and filters."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Optional

from flask_login import current_user
from sqlalchemy import func, select

from ..infra.extensions import db
from ..infra.models import Conversation
from .blueprint import bp

CHANNEL_ICONS = {"web": "monitor", "whatsapp": "phone", "email": "mail"}
CHANNEL_LABELS = {"web": "Web chat", "whatsapp": "WhatsApp", "email": "Email"}
STATUS_LABELS = {"active": "AI answering", "handed_off": "Human", "resolved": "Resolved",
                 "pending": "Queued", "processing": "Processing", "completed": "Ready", "failed": "Failed"}


def ago(value: Optional[datetime]) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    seconds = int((datetime.now(timezone.utc) - value).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds // size
            if unit == "day":
                return "yesterday" if n == 1 else (f"{n} days ago" if n < 30 else value.strftime("%d %b %Y"))
            return f"{n} {unit} ago"
    return "just now"


def filesize(n: Optional[int]) -> str:
    n = n or 0
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def display_name(conversation: Conversation) -> str:
    if conversation.customer_name:
        return conversation.customer_name
    if conversation.channel == "web":
        return "Visitor #" + (re.sub(r"[^A-Za-z0-9]", "", conversation.customer_id)[:5].upper() or "?")
    return conversation.customer_id.removeprefix("whatsapp:")


def waiting_count() -> int:
    """Conversations waiting for a person (the sidebar badge)."""
    return db.session.scalar(select(func.count()).select_from(Conversation).where(
        Conversation.company_id == current_user.company_id, Conversation.status == "handed_off"))


@bp.app_context_processor
def template_helpers():
    return {"CHANNEL_ICONS": CHANNEL_ICONS, "CHANNEL_LABELS": CHANNEL_LABELS, "STATUS_LABELS": STATUS_LABELS,
            "display_name": display_name, "waiting_count": waiting_count}


bp.add_app_template_filter(ago, "ago")
bp.add_app_template_filter(filesize, "filesize")
