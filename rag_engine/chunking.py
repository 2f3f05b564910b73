"""Blocks → chunks that know where they sit.

A chunk never crosses a heading: it holds blocks of one section, packed up to ``chunk_size``
tokens (a paragraph longer than that is split at sentences by LlamaIndex's SentenceSplitter).
Each chunk carries its context — the document's title and heading path, e.g.
"Northwind Standard Benefits Details › Out-of-network › Copays" — which is embedded and
full-text indexed with it, while the stored text stays clean: one block per line, list items
as "- item". ``pages`` gives the page of each line, so a citation names the page of the
sentence it quotes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import TextNode
from llama_index.core.utils import get_tokenizer

from .readers.blocks import HEADING, ITEM, Block

# Metadata every chunk carries; only "context" is embedded (and shown to the LLM).
CHUNK_METADATA_KEYS = ["tenant_id", "document_id", "title", "source_type", "page", "pages", "chunk_index", "section"]
CONTEXT_SEPARATOR = " › "


def display_title(title: str) -> str:
    """"Northwind_Standard_Benefits_Details.pdf" → "Northwind Standard Benefits Details"."""
    stem = re.sub(r"\.(pdf|docx|html?|md|markdown|txt|text)$", "", title or "", flags=re.I)
    return " ".join(re.sub(r"[_]+", " ", stem).split()) or (title or "")


@dataclass
class _Chunk:
    section: str
    lines: List[Tuple[str, Optional[int]]] = field(default_factory=list)
    tokens: int = 0


class StructureChunker:
    def __init__(self, chunk_size: int, chunk_overlap: int):
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.tokenizer = get_tokenizer()
        self.splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)

    def count(self, text: str) -> int:
        return len(self.tokenizer(text))

    def chunk(self, blocks: List[Block]) -> List[_Chunk]:
        chunks: List[_Chunk] = []
        path: List[Tuple[int, str]] = []
        current: Optional[_Chunk] = None
        for block in blocks:
            if block.kind == HEADING:
                while path and path[-1][0] >= block.level:
                    path.pop()
                path.append((block.level, block.text))
                current = None
                continue
            section = CONTEXT_SEPARATOR.join(text for _, text in path)
            line = f"- {block.text}" if block.kind == ITEM else block.text
            for piece in self._pieces(line):
                tokens = self.count(piece)
                if current is None or current.section != section or current.tokens + tokens > self.chunk_size:
                    carried = self._overlap(current) if current is not None and current.section == section else []
                    current = _Chunk(section, list(carried), sum(self.count(t) for t, _ in carried))
                    chunks.append(current)
                current.lines.append((piece, block.page))
                current.tokens += tokens
        return [c for c in chunks if c.lines]

    def _pieces(self, line: str) -> List[str]:
        if self.count(line) <= self.chunk_size:
            return [line]
        return [p for p in self.splitter.split_text(line) if p.strip()]

    def _overlap(self, chunk: _Chunk) -> List[Tuple[str, Optional[int]]]:
        # The last line again when it is short (a list's intro, a closing sentence): context, not bulk.
        if self.chunk_overlap and chunk.lines and self.count(chunk.lines[-1][0]) <= self.chunk_overlap:
            return [chunk.lines[-1]]
        return []


def build_nodes(blocks: List[Block], *, tenant_id: str, document_id: str, title: str, source_type: str,
                content_hash: str, chunk_size: int, chunk_overlap: int) -> List[TextNode]:
    """Chunks as LlamaIndex TextNodes with tenant, document, page(s) and context in their metadata."""
    nodes: List[TextNode] = []
    doc_title = display_title(title)
    for index, chunk in enumerate(StructureChunker(chunk_size, chunk_overlap).chunk(blocks)):
        pages = [page for _, page in chunk.lines]
        context = CONTEXT_SEPARATOR.join(p for p in (doc_title, chunk.section) if p)
        node = TextNode(
            # Deterministic ids: the same content re-ingested gets the same chunk ids.
            id_=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{document_id}/{content_hash}/{index}")),
            text="\n".join(text for text, _ in chunk.lines),
            metadata={
                "tenant_id": tenant_id, "document_id": document_id, "title": title, "source_type": source_type,
                "page": pages[0], "pages": pages if any(p != pages[0] for p in pages) else None,
                "chunk_index": index, "section": chunk.section, "context": context,
            },
            excluded_embed_metadata_keys=list(CHUNK_METADATA_KEYS),
            excluded_llm_metadata_keys=list(CHUNK_METADATA_KEYS),
            metadata_template="{value}",
            text_template="{metadata_str}\n{content}",
        )
        nodes.append(node)
    return nodes


def settled(nodes: List[TextNode], blocks: List[Block]) -> List[TextNode]:
    """The chunks of a document's first pages that its later pages should not change: those before
    the page where the last block read so far starts (that block may go on over the next page)."""
    if not blocks or blocks[-1].page is None:
        return []
    last = blocks[-1].page
    return [n for n in nodes if max(n.metadata["pages"] or [n.metadata["page"]], key=lambda p: p or 0) < last]
