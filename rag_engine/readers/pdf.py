"""PDF → blocks, from the text layer's layout: fonts, sizes and the gaps between lines.

Few PDFs carry an outline, but nearly all mark headings with a larger or bolder font, or set
them apart as a short line between paragraph gaps; that is what is read here (pypdf's text
visitor gives each run's font, size and position). Lines repeated at the same place on most
pages (running headers and footers) are dropped.
"""

from __future__ import annotations

import io
import re
import statistics
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import List, Optional

from ..errors import IngestError
from .blocks import BULLET, HEADING, ITEM, TEXT, Block, one_line

BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.I)
SENTENCE_END = re.compile(r"[.!?:;,]$")


@dataclass
class Line:
    text: str
    y: float
    size: float
    bold: bool
    page: int


def read_pdf(data: bytes) -> List[Block]:
    pages = PdfPages(data)
    return pages.blocks([pages.extract(index) for index in range(len(pages))])


class PdfPages:
    """A PDF read page by page (the costly part: pypdf's text visitor), so that a caller can work on
    the first pages while later ones are read. Blocks need every page (running lines, the body size
    and the heading sizes are document-wide), so ``blocks`` of a prefix is only a preview."""

    def __init__(self, data: bytes):
        from pypdf import PdfReader

        with _corrupt_as_ingest_error():
            self.reader = PdfReader(io.BytesIO(data))
            if self.reader.is_encrypted:
                try:
                    if not self.reader.decrypt(""):  # many "encrypted" PDFs open with an empty password
                        raise IngestError("encrypted", ENCRYPTED)
                except IngestError:
                    raise
                except Exception:
                    raise IngestError("encrypted", ENCRYPTED) from None
            self.count = len(self.reader.pages)

    def __len__(self) -> int:
        return self.count

    def extract(self, index: int) -> List[Line]:
        with _corrupt_as_ingest_error():
            return _lines(self.reader.pages[index], index + 1)

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


ENCRYPTED = "This PDF is password-protected. Remove the password and upload it again."


@contextmanager
def _corrupt_as_ingest_error():
    from pypdf.errors import PdfReadError

    try:
        yield
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError,
            ZeroDivisionError) as exc:
        raise IngestError("corrupt", "This PDF could not be read; it may be damaged. Try saving it again as PDF.") from exc


def _lines(page, number: int) -> List[Line]:
    runs: list = []

    def visit(text, cm, tm, font, size):
        if not text:
            return
        name = str(font.get("/BaseFont", "")) if font else ""
        height = abs(float(size or 0) * float(tm[3] or tm[0] or 1) * float(cm[3] or cm[0] or 1))
        runs.append((text, float(tm[5]) * float(cm[3] or 1) + float(cm[5]), height, bool(BOLD.search(name))))

    page.extract_text(visitor_text=visit)
    lines: List[Line] = []
    parts: list = []

    def flush():
        text = one_line("".join(p[0] for p in parts))
        if text:
            styled = [p for p in parts if p[0].strip()]
            chars = sum(len(p[0].strip()) for p in styled) or 1
            size = max((p[2] for p in styled), default=0.0)
            bold = sum(len(p[0].strip()) for p in styled if p[3]) / chars > 0.6
            lines.append(Line(text, styled[0][1] if styled else 0.0, round(size, 1), bold, number))
        parts.clear()

    for text, y, size, bold in runs:
        pieces = text.split("\n")
        for i, piece in enumerate(pieces):
            if i > 0:
                flush()
            if piece:
                parts.append((piece, y, size, bold))
    flush()
    return lines


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
            blocks.append(Block(kind, text, paragraph[0].page))
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
            # A paragraph running over a page break continues (no gap: it starts a new page).
            page_top_after_sentence = previous is None and paragraph and re.search(r"[.!?:]$", paragraph[-1].text)
            if (gap_before and previous is not None) or page_top_after_sentence or BULLET.match(line.text):
                flush()
            paragraph.append(line)
    flush()
    return blocks


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
