"""HTML and Markdown → blocks: h1–h6 / # headings, list items, table rows with their header."""

from __future__ import annotations

import re
from typing import List

from .blocks import HEADING, ITEM, TEXT, Block, clean, one_line, table_rows, text_blocks

SKIPPED_TAGS = ["script", "style", "noscript", "template", "svg", "head", "nav", "footer", "form", "button", "iframe"]
BLOCK_TAGS = {"p", "div", "section", "article", "main", "blockquote", "pre", "dd", "dt", "td", "th", "figcaption",
              "address", "summary", "details", "header", "aside", "body"}


def read_html(text: str) -> List[Block]:
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(SKIPPED_TAGS):
        tag.decompose()
    blocks: List[Block] = []
    pending: List[str] = []

    def flush():
        line = one_line(" ".join(pending))
        if line:
            blocks.append(Block(TEXT, line))
        pending.clear()

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if child.strip() and type(child).__name__ == "NavigableString":
                    pending.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if re.fullmatch(r"h[1-6]", name):
                flush()
                heading = one_line(child.get_text(" "))
                if heading:
                    blocks.append(Block(HEADING, heading, None, int(name[1])))
            elif name == "li":
                flush()
                nested = child.find(["ul", "ol"])
                if nested is not None:
                    nested.extract()
                item = one_line(child.get_text(" "))
                if item:
                    blocks.append(Block(ITEM, item))
                if nested is not None:
                    walk(nested)
            elif name == "table":
                flush()
                rows = [[one_line(cell.get_text(" ")) for cell in row.find_all(["th", "td"])]
                        for row in child.find_all("tr")]
                blocks.extend(table_rows(rows))
            elif name == "br":
                flush()
            elif name in BLOCK_TAGS or name in ("ul", "ol", "dl"):
                flush()
                walk(child)
                flush()
            else:
                walk(child)

    walk(soup)
    flush()
    return blocks


MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$")
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def read_markdown(text: str) -> List[Block]:
    blocks: List[Block] = []
    lines = clean(text).splitlines()
    buffer: List[str] = []
    table: List[List[str]] = []

    def flush_text():
        if buffer:
            blocks.extend(text_blocks("\n".join(buffer)))
            buffer.clear()

    def flush_table():
        if table:
            blocks.extend(table_rows(table))
            table.clear()

    for line in lines:
        heading = MARKDOWN_HEADING.match(line)
        if TABLE_LINE.match(line):
            flush_text()
            if not TABLE_RULE.match(line):
                table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        flush_table()
        if heading:
            flush_text()
            blocks.append(Block(HEADING, _plain(heading.group(2)), None, len(heading.group(1))))
        elif TABLE_RULE.match(line):
            continue
        else:
            buffer.append(_plain(line))
    flush_table()
    flush_text()
    return [b for b in blocks if b.text]


def _plain(line: str) -> str:
    """Markdown inline syntax off: links keep their text, emphasis and code marks go."""
    line = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", line)
    line = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)
    return re.sub(r"(\*\*|__|`)", "", line)
