"""Uploaded bytes → structured blocks (headings, paragraphs, list items, table rows).

The type is detected from the bytes and the file name, never from a client's content type.
Every failure is an IngestError whose message a company admin understands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import List, Optional

from ..errors import IngestError
from .blocks import Block, clean, text_blocks
from .detect import SUPPORTED, decode_text, detect_type
from .limits import check_characters
from .markup import read_html, read_markdown
from .office import read_docx
from .pdf import read_pdf

__all__ = ["Block", "ParsedFile", "SUPPORTED", "detect_type", "parse_bytes", "parse_text"]


@dataclass
class ParsedFile:
    source_type: str  # pdf | docx | html | markdown | text
    title: str
    blocks: List[Block]


def parse_bytes(data: bytes, filename: str, max_chars: Optional[int] = None) -> ParsedFile:
    """Read ``data`` (a file named ``filename``) into blocks, or raise IngestError (also when its text
    is longer than ``max_chars``)."""
    if not data or not data.strip():
        raise IngestError("empty", "This file is empty.")
    kind = detect_type(data, filename)
    if kind == "pdf":
        blocks = read_pdf(data)
    elif kind == "docx":
        blocks = read_docx(data)
    elif kind == "html":
        blocks = read_html(decode_text(data))
    elif kind == "markdown":
        blocks = read_markdown(decode_text(data))
    else:
        blocks = text_blocks(decode_text(data))
    if not any(b.text.strip() for b in blocks):
        raise IngestError("empty", "This file contains no text.")
    if max_chars is not None:
        check_characters((b.text for b in blocks), max_chars)
    # The file name is the title staff recognise and customers see cited ("manual.pdf, p. 4").
    return ParsedFile(source_type=kind, title=PurePath(filename or "").name or "Untitled", blocks=blocks)


def parse_text(text: str, title: str, max_chars: Optional[int] = None) -> ParsedFile:
    if max_chars is not None:
        check_characters([text or ""], max_chars)
    blocks = text_blocks(clean(text or ""))
    if not blocks:
        raise IngestError("empty", "The text is empty.")
    return ParsedFile(source_type="text", title=title or "Untitled", blocks=blocks)
