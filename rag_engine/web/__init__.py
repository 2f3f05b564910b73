"""Knowledge from websites: a page, a sitemap or a crawl, imported and kept in sync.

    from rag_engine import KnowledgeBase
    from rag_engine.web import WebOptions
    kb = KnowledgeBase.from_env()
    result = kb.import_url("acme", "https://help.acme.com/", mode="crawl", max_pages=200, max_depth=3)
    result.counts            # {'created': 57, 'unchanged': 0, 'failed': 1, …}
    [p for p in result.pages if p.status == "failed"]      # PageResult(url, status, reason, …)
    kb.import_url("acme", "https://help.acme.com/", mode="crawl")   # again: a sync

Modules: urls (spelling and scope), guard (no internal addresses), fetch (one polite, bounded
GET), robots, sitemap, extract (main text → HTML for the reader), state (what a sync
remembers), sync (the import itself).
"""

from .errors import SyncInProgressError, UnsafeURLError, WebImportError
from .options import WebOptions
from .state import PageRecord
from .sync import MODES, default_source_id, import_url, page_document_id, remove_source, web_pages
from .types import ImportProgress, ImportResult, PageResult

__all__ = [
    "import_url", "remove_source", "web_pages", "default_source_id", "page_document_id", "MODES", "WebOptions",
    "ImportResult", "ImportProgress", "PageResult", "PageRecord", "WebImportError", "UnsafeURLError",
    "SyncInProgressError",
]
