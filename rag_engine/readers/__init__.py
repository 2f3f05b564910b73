"""Uploaded bytes → structured blocks (headings, paragraphs, list items, table rows).

The type is detected from the bytes and the file name, never from a client's content type.
Every failure is an IngestError whose message a company admin understands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Iterator, List, Optional, Tuple

from ..errors import IngestError
from .blocks import Block, clean, text_blocks
from .detect import SUPPORTED, decode_text, detect_type
from .limits import check_characters
from .markup import read_html, read_markdown
from .office import read_docx
from .pdf import PdfPages, read_pdf

__all__ = ["Block", "ParsedFile", "SUPPORTED", "detect_type", "parse_bytes", "parse_text", "parse_text_with_previews",
           "parse_with_previews"]


@dataclass
class ParsedFile:
    source_type: str  # pdf | docx | html | markdown | text
    title: str
    blocks: List[Block]


def parse_bytes(data: bytes, filename: str, max_chars: Optional[int] = None) -> ParsedFile:
    """Read ``data`` (a file named ``filename``) into blocks, or raise IngestError (also when its text
    is longer than ``max_chars``)."""
    kind = _kind(data, filename)
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
    return _parsed(kind, filename, blocks, max_chars)


def parse_with_previews(data: bytes, filename: str, max_chars: Optional[int] = None,
                        first_preview: int = 4) -> Iterator[Tuple[ParsedFile, bool]]:
    """``parse_bytes`` that also shows its work: ``(preview, False)`` pairs, then ``(file, True)``.

    A PDF is read page by page; after ``first_preview`` pages, and each time the pages read double,
    the blocks of the pages read so far are yielded as a preview (a guess: headings, running lines
    and the body size are only known from every page), so their chunks can be embedded while later
    pages are read. The final file is exactly ``parse_bytes``'s. Other formats parse fast: no previews.
    """
    kind = _kind(data, filename)
    if kind != "pdf":
        yield parse_bytes(data, filename, max_chars), True
        return
    pdf = PdfPages(data)
    pages: list = []
    next_preview = first_preview
    try:
        for index in range(len(pdf)):
            pages.append(pdf.extract(index))
            if len(pages) == next_preview and len(pages) < len(pdf):
                next_preview *= 2
                blocks = PdfPages.blocks(pages, final=False)
                if blocks and (max_chars is None or _characters(blocks) <= max_chars):
                    yield ParsedFile(source_type=kind, title=_title(filename), blocks=blocks), False
    finally:
        pdf.close()
    yield _parsed(kind, filename, pdf.blocks(pages), max_chars), True


def _kind(data: bytes, filename: str) -> str:
    if not data or not data.strip():
        raise IngestError("empty", "This file is empty.")
    return detect_type(data, filename)


def _parsed(kind: str, filename: str, blocks: List[Block], max_chars: Optional[int]) -> ParsedFile:
    if not any(b.text.strip() for b in blocks):
        raise IngestError("empty", "This file contains no text.")
    if max_chars is not None:
        check_characters((b.text for b in blocks), max_chars)
    return ParsedFile(source_type=kind, title=_title(filename), blocks=blocks)


def _title(filename: str) -> str:
    # The file name is the title staff recognise and customers see cited ("manual.pdf, p. 4").
    return PurePath(filename or "").name or "Untitled"


def _characters(blocks: List[Block]) -> int:
    return sum(len(b.text) for b in blocks)


def parse_text(text: str, title: str, max_chars: Optional[int] = None) -> ParsedFile:
    if max_chars is not None:
        check_characters([text or ""], max_chars)
    blocks = text_blocks(clean(text or ""))
    if not blocks:
        raise IngestError("empty", "The text is empty.")
    return ParsedFile(source_type="text", title=title or "Untitled", blocks=blocks)


def parse_text_with_previews(text: str, title: str, max_chars: Optional[int] = None
                             ) -> Iterator[Tuple[ParsedFile, bool]]:
    """``parse_text`` in ``parse_with_previews``' form (pasted text is quick to read: no previews)."""
    yield parse_text(text, title, max_chars), True
