"""DOCX → blocks: heading styles give the outline, list styles the items, tables their rows.

Paragraphs and tables are read in document order (python-docx lists them separately).
"""

from __future__ import annotations

import io
import re
from typing import List

from ..errors import IngestError
from .blocks import HEADING, ITEM, TEXT, Block, one_line, table_rows
from .limits import check_archive

HEADING_STYLE = re.compile(r"^(?:heading\s*(\d)|title)$", re.I)


def read_docx(data: bytes) -> List[Block]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_archive(data)  # sizes and compression ratios, before anything is inflated
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise IngestError("corrupt", "This Word document could not be read; it may be damaged.") from exc
    blocks: List[Block] = []
    for element in document.element.body.iterchildren():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(element, document)
            text = one_line(paragraph.text)
            if not text:
                continue
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            heading = HEADING_STYLE.match(style.strip())
            if heading:
                blocks.append(Block(HEADING, text, None, int(heading.group(1) or 1)))
            elif "list" in style.lower() or element.find(".//{*}numPr") is not None:
                blocks.append(Block(ITEM, text))
            else:
                blocks.append(Block(TEXT, text))
        elif tag == "tbl":
            table = Table(element, document)
            blocks.extend(table_rows([[cell.text for cell in row.cells] for row in table.rows]))
    return blocks
