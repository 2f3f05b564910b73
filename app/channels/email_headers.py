"""Email headers both directions read or write: message ids (threading) and subjects."""

from __future__ import annotations

import re
from typing import Optional

MAX_REFERENCES = 20
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|antw|vs|tr|wg|r)\s*(\[\d+\])?\s*:\s*)+", re.I)


def message_ids(value: Optional[str]) -> list[str]:
    """RFC 5322 message ids ("<a@b>") in a header value, in order."""
    if not value:
        return []
    found = re.findall(r"<[^<>\s]+>", value)
    return found or [f"<{token.strip('<>')}>" for token in value.split() if "@" in token]


def clean_subject(subject: Optional[str]) -> str:
    """The subject without its "Re:"/"Fwd:"/"AW:" prefixes."""
    return _REPLY_PREFIX.sub("", subject or "").strip()


def reply_subject(subject: Optional[str]) -> str:
    return f"Re: {clean_subject(subject) or 'Your message'}"
