"""Plain result objects of the public API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional


@dataclass(frozen=True)
class IngestResult:
    document_id: str
    title: str
    chunk_count: int
    status: str  # "created" | "unchanged" | "replaced"
    timings: dict = field(default_factory=dict, compare=False)  # busy s: parse/split/embed/write (overlapping)


@dataclass(frozen=True)
class DocumentInfo:
    document_id: str
    title: str
    source_type: str
    chunk_count: int
    content_hash: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    document_id: str
    title: str
    text: str
    score: float  # fused score (higher is better); see vector_score for the cosine similarity
    page: Optional[int] = None
    vector_score: Optional[float] = None  # cosine similarity, when the vector leg found it
    text_score: Optional[float] = None  # full-text rank, when the text leg found it
    section: str = ""  # heading path inside the document ("Out-of-network › Copays")
    pages: Optional[tuple] = None  # the page of each line of ``text``, when the chunk spans pages
    url: Optional[str] = None  # the web page the chunk came from (documents imported from a website)


@dataclass(frozen=True)
class Source:
    document_id: str
    title: str
    page: Optional[int]
    chunk_id: str
    score: float
    snippet: str = ""
    url: Optional[str] = None  # the web page cited, for documents imported from a website

    def to_dict(self) -> dict:
        found = {
            "document_id": self.document_id,
            "title": self.title,
            "page": self.page,
            "chunk_id": self.chunk_id,
            "score": round(float(self.score), 4),
            "snippet": self.snippet,
        }
        if self.url:
            found["url"] = self.url
        return found


@dataclass(frozen=True)
class Answer:
    text: str
    sources: list[Source]
    answered: bool  # False when the engine fell back to the tenant's "I don't know" message
    question: str = ""  # the standalone question used for retrieval (after condensing)
