"""PDF → blocks, from the text layer's layout: fonts, sizes and the gaps between lines.

Few PDFs carry an outline, but nearly all mark headings with a larger or bolder font, or set
them apart as a short line between paragraph gaps; that is what is read here (``pdf_text``
gives each line's font size, boldness and baseline, from PDFium). Lines repeated at the same
place on most pages (running headers and footers) are dropped.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from typing import List, Optional

from ..errors import IngestError
from .blocks import BULLET, HEADING, ITEM, TEXT, Block, one_line
from .pdf_text import ENCRYPTED, Line, PdfText

__all__ = ["ENCRYPTED", "Line", "PdfPages", "read_pdf"]

SENTENCE_END = re.compile(r"[.!?:;,]$")


def read_pdf(data: bytes) -> List[Block]:
    pages = PdfPages(data)
    try:
        return pages.blocks([pages.extract(index) for index in range(len(pages))])
    finally:
        pages.close()


class PdfPages:
    """A PDF read page by page, so that a caller can work on the first pages while later ones are
    read. Blocks need every page (running lines, the body size and the heading sizes are
    document-wide), so ``blocks`` of a prefix is only a preview. ``close`` frees the document
    (garbage collection would too, later)."""

    def __init__(self, data: bytes):
        self.document = PdfText(data)

    def __len__(self) -> int:
        return len(self.document)

    def extract(self, index: int) -> List[Line]:
        return self.document.lines(index)

    def close(self) -> None:
        self.document.close()

    @staticmethod
    def blocks(pages: List[List[Line]], *, final: bool = True) -> List[Block]:
        """The blocks of ``pages``; ``final``: these are all the pages (an empty result is an error)."""
        blocks = _blocks(_drop_running_lines(pages))
        if not blocks and final:
            raise IngestError(
                "no_text",
                "This PDF has no extractable text (it may be a scanned image). Upload a PDF with a text layer, or paste the text.",
            )
        return blocks


def _drop_running_lines(pages: List[List[Line]]) -> List[List[Line]]:
    if len(pages) < 4:
        return pages
    seen = Counter()
    for page in pages:
        for key in {(re.sub(r"\d+", "#", line.text), round(line.y)) for line in page}:
            seen[key] += 1
    running = {key for key, count in seen.items() if count >= max(3, len(pages) // 2)}
    return [[line for line in page if (re.sub(r"\d+", "#", line.text), round(line.y)) not in running] for page in pages]


def _blocks(pages: List[List[Line]]) -> List[Block]:
    lines = [line for page in pages for line in page]
    if not lines:
        return []
    sizes = Counter()
    for line in lines:
        sizes[line.size] += len(line.text)
    body = sizes.most_common(1)[0][0]
    gaps = [a.y - b.y for page in pages for a, b in zip(page, page[1:]) if 0 < a.y - b.y < 3 * max(body, 1)]
    spacing = statistics.median(gaps) if gaps else body * 1.2
    heading_sizes = sorted({line.size for line in lines if line.size > body + 0.5}, reverse=True)
    # A paragraph's lines are about this long until its last: a page ending on a shorter line ends a paragraph.
    full_line = 0.7 * statistics.median(len(line.text) for line in lines if abs(line.size - body) <= 0.5)

    def styled_level(line: Line) -> Optional[int]:
        if line.size > body + 0.5:
            return heading_sizes.index(line.size) + 1
        if line.bold and line.size >= body - 0.5:
            return len(heading_sizes) + 1
        return None

    plain_level = len(heading_sizes) + 2
    blocks: List[Block] = []
    paragraph: List[Line] = []

    def flush():
        if paragraph:
            text = _join(paragraph)
            bullet = BULLET.match(text)
            kind = ITEM if bullet else TEXT
            if bullet:
                text = text[bullet.end():].strip()
            for piece, page in _by_page(text, paragraph) if kind == TEXT else [(text, paragraph[0].page)]:
                blocks.append(Block(kind, piece, page))
            paragraph.clear()

    for page in pages:
        for index, line in enumerate(page):
            previous = page[index - 1] if index else None
            following = page[index + 1] if index + 1 < len(page) else None
            gap_before = previous is None or previous.y - line.y > 1.4 * spacing or previous.y < line.y
            gap_after = following is None or line.y - following.y > 1.4 * spacing or following.y > line.y
            level = styled_level(line)
            words = len(line.text.split())
            if level is not None and words <= 20 and not line.text.endswith("."):
                flush()
                if blocks and blocks[-1].kind == HEADING and blocks[-1].level == level and blocks[-1].page == line.page \
                        and not gap_before:
                    blocks[-1].text += " " + line.text  # a heading wrapped over two lines
                else:
                    blocks.append(Block(HEADING, line.text, line.page, level))
                continue
            if gap_before and gap_after and words <= 8 and not SENTENCE_END.search(line.text) \
                    and (line.text[:1].isupper() or line.text[:1].isdigit()) and not BULLET.match(line.text):
                flush()
                blocks.append(Block(HEADING, line.text, line.page, plain_level))
                continue
            # A paragraph running over a page break continues (no gap: it starts a new page), but not
            # after a sentence's end or a short line (a heading-like line the page ends on: "Once The IRO
            # Decides"), nor after a list item when the page opens on a capital: items carry no full stop,
            # and that is the text after the list ("• Any other relevant information" | "It is …").
            page_top_after_sentence = previous is None and paragraph and (
                re.search(r"[.!?:]$", paragraph[-1].text) or len(paragraph[-1].text) < full_line
                or (BULLET.match(paragraph[0].text) and line.text[:1].isupper()))
            if (gap_before and previous is not None) or page_top_after_sentence or BULLET.match(line.text):
                flush()
            paragraph.append(line)
    flush()
    return blocks


# Where the next sentence starts: after a full stop (and a closing quote or bracket), before a capital.
NEXT_SENTENCE = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“(]?[A-Z0-9])")


def _by_page(text: str, lines: List[Line]) -> List[tuple]:
    """A paragraph running over a page break, as (text, page) pieces: the sentences that start on a
    later page cite that page ("… may not cover the full cost" is on p. 34, though its paragraph
    began on p. 33). A sentence stays whole, with the page where it starts."""
    breaks = [i for i in range(1, len(lines)) if lines[i].page != lines[i - 1].page]
    if not breaks:
        return [(text, lines[0].page)]
    # Where the later page's text begins in ``text`` (joining runs left to right, so a prefix joins alike).
    starts = {i: len(_join(lines[:i])) for i in breaks}
    cuts = []  # (offset where a piece starts, its page)
    for i in breaks:
        found = NEXT_SENTENCE.search(text, starts[i])
        if found is not None and (not cuts or found.end() > cuts[-1][0]):
            # the page of the line the next sentence starts on
            page = next(lines[j].page for j in reversed(breaks) if starts[j] <= found.end())
            cuts.append((found.end(), page))
    bounds = [(0, lines[0].page)] + cuts
    pieces = [(text[a:b].strip(), page) for (a, page), (b, _) in zip(bounds, bounds[1:] + [(len(text), None)])]
    return [(piece, page) for piece, page in pieces if piece]


def _join(lines: List[Line]) -> str:
    """Join wrapped lines, mending words hyphenated at a line end ("out-\\nof-pocket" stays hyphenated)."""
    text = ""
    for line in lines:
        piece = line.text.strip()
        if not text:
            text = piece
        elif text.endswith("-") and not text.endswith(" -"):
            text += piece
        else:
            text += " " + piece
    return one_line(text)
