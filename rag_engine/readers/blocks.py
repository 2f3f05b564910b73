"""The structure every reader produces: a flat list of blocks in reading order.

A block is a heading (with its level), a paragraph, a list item or a table row (already
labelled with its header row). Pages are kept per block so a citation can name the page of
the sentence it quotes, even when a chunk runs across a page break.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional

HEADING, TEXT, ITEM, ROW = "heading", "text", "item", "row"


@dataclass
class Block:
    kind: str  # heading | text | item | row
    text: str
    page: Optional[int] = None
    level: int = 0  # headings only: 1 is the top level


def clean(text: str) -> str:
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t\f\v\u00a0]+", " ", text)
    text = re.sub(r"\n\s*\n\s*\n+", "\n\n", text)
    return text.strip()


def one_line(text: str) -> str:
    return " ".join(text.split())


def table_rows(rows: List[List[str]], page: Optional[int] = None) -> List[Block]:
    """Rows of a table as blocks, each cell labelled with its column's header ("Price: 49 dollars")."""
    rows = [[one_line(c) for c in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    if not body:  # a one-row table is just text
        return [Block(ROW, " · ".join(dict.fromkeys(c for c in header if c)), page)]
    blocks = []
    for row in body:
        cells = []
        for i, cell in enumerate(row):
            if not cell:
                continue
            label = header[i] if i < len(header) else ""
            cells.append(f"{label}: {cell}" if label and label != cell else cell)
        if cells:
            blocks.append(Block(ROW, "; ".join(dict.fromkeys(cells)), page))  # merged cells repeat their text
    return blocks


def text_blocks(text: str, page: Optional[int] = None) -> List[Block]:
    """Plain text: paragraphs split at blank lines; bulleted lines become list items."""
    blocks: List[Block] = []
    for paragraph in re.split(r"\n\s*\n", clean(text)):
        lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        current: List[str] = []
        for line in lines:
            bullet = BULLET.match(line)
            if bullet:
                if current:
                    blocks.append(Block(TEXT, one_line(" ".join(current)), page))
                    current = []
                blocks.append(Block(ITEM, line[bullet.end():].strip(), page))
            elif blocks and blocks[-1].kind == ITEM and not current and blocks[-1].page == page and line[:1].islower():
                blocks[-1].text += " " + line  # a wrapped list item
            else:
                current.append(line)
        if current:
            blocks.append(Block(TEXT, one_line(" ".join(current)), page))
    return blocks


BULLET = re.compile(r"^\s*(?:[•●○◦▪▫■□‣⁃∙·*\-–—]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+")
