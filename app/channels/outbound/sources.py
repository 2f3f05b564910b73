"""The sources of an AI answer, as a reply on WhatsApp or by email names them."""

from __future__ import annotations

from typing import NamedTuple, Optional

from ...infra.models import Message


class Cited(NamedTuple):
    title: str
    page: Optional[int]
    url: Optional[str]  # the web page, for knowledge imported from a website


def sources_of(message: Message) -> list[Cited]:
    """Distinct (title, page, url) of an AI answer's sources; none for staff messages or fallback replies."""
    if message.role != "assistant" or not message.answered:
        return []
    found: list[Cited] = []
    for source in message.sources or []:
        url = source.get("url") if str(source.get("url") or "").startswith(("https://", "http://")) else None
        item = Cited((source.get("title") or "").strip() or "document", source.get("page") or None, url)
        if item not in found:
            found.append(item)
    return found
