"""The sources of an AI answer, as a reply on WhatsApp or by email names them."""

from __future__ import annotations

from typing import Optional

from ...infra.models import Message


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
