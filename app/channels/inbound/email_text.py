"""The new text of an email: what the customer wrote, without the quoted history or the signature.

mail-parser-reply finds where the quoted history starts ("On … wrote:", "Am … schrieb", Outlook's
"From: … Sent: …" block, "-----Original Message-----", in the languages below). Of its signature
detection only the unambiguous kinds are used — the "-- " delimiter and "Sent from my …" — because
a closing such as "Thanks, Maria" is part of what the customer wrote.
"""

from __future__ import annotations

import re
from itertools import takewhile
from typing import Optional

from mailparser_reply import EmailReplyParser

LANGUAGES = ["en", "de", "fr", "es", "nl", "it"]
SIGNATURE_STARTS = ("--", "__", "Sent from my", "Get Outlook for")
_parser = EmailReplyParser(languages=LANGUAGES)


def new_text(body: Optional[str]) -> str:
    """The part of a plain-text body above the quoted history, without a delimited signature."""
    if not body or not body.strip():
        return ""
    reply = _parser.read(body).replies[0]
    if reply.headers:  # the body starts with a quote header: nothing new was written
        return ""
    text = reply.content
    if reply.signatures.startswith(SIGNATURE_STARTS) and reply.signatures in text:
        text = text[:text.rfind(reply.signatures)]
    lines = takewhile(lambda line: not line.startswith(">"), text.splitlines())  # quoted, without a header
    return "\n".join(lines).strip()


def html_to_text(markup: Optional[str]) -> str:
    """The visible text of an HTML body, without quoted blocks (Gmail, Outlook, Thunderbird)."""
    if not markup:
        return ""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style", "head", "blockquote"]):
        tag.decompose()
    for tag in soup.select(".gmail_quote, .gmail_signature, #appendonsend, #divRplyFwdMsg, .moz-cite-prefix"):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    text = soup.get_text("\n")
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()
