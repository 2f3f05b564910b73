"""Results of a website import, page by page."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional

# What happened to a page in one import (or sync):
#   created / replaced / unchanged — it is in the knowledge base (unchanged: nothing embedded)
#   missing — 404/410 once: kept, removed if still gone at the next sync
#   removed — its document was deleted (gone twice, dropped from the sitemap, disallowed, moved…)
#   skipped — not knowledge (robots.txt, noindex, not a supported type, a duplicate)
#   failed — could not be fetched or read this time (kept if it was there before)
STATUSES = ("created", "replaced", "unchanged", "missing", "removed", "skipped", "failed")


@dataclass(frozen=True)
class PageResult:
    url: str
    status: str
    title: str = ""
    document_id: Optional[str] = None
    reason: str = ""
    http_status: Optional[int] = None
    chunk_count: int = 0
    depth: int = 0
    kind: str = ""  # html | pdf | docx | markdown | text

    def to_dict(self) -> dict:
        return {"url": self.url, "status": self.status, "title": self.title, "document_id": self.document_id,
                "reason": self.reason, "http_status": self.http_status, "chunk_count": self.chunk_count,
                "depth": self.depth, "kind": self.kind}


@dataclass
class ImportProgress:
    found: int = 0  # URLs queued so far (bounded by max_pages)
    done: int = 0  # pages handled
    counts: Dict[str, int] = field(default_factory=dict)  # per status
    page: Optional[PageResult] = None  # the page just handled


@dataclass
class ImportResult:
    source_id: str
    url: str
    mode: str
    pages: List[PageResult] = field(default_factory=list)
    complete: bool = True  # False when stopped early, or the sitemap could not be read in full
    stopped: bool = False
    errors: List[str] = field(default_factory=list)  # source-level problems (sitemap, start page)
    seconds: float = 0.0
    requests: int = 0  # HTTP requests sent (robots.txt, sitemaps, pages, redirect hops)
    embedded_chunks: int = 0  # chunks embedded (created or replaced pages only)
    timings: Dict[str, float] = field(default_factory=dict)  # seconds in kb.ingest: parse / split / embed / write

    @property
    def counts(self) -> Dict[str, int]:
        found = Counter(page.status for page in self.pages)
        return {status: found.get(status, 0) for status in STATUSES}

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items() if v)
        return f"<ImportResult {self.mode} {self.url}: {counts or 'nothing'}{'' if self.complete else ' (incomplete)'}>"
