"""Import a website into a tenant's knowledge base — a page, a sitemap or a crawl — and keep it in sync.

Calling ``import_url`` again for the same source is a sync:

- known pages are fetched with their ETag / Last-Modified (``304 Not Modified``: nothing read,
  nothing embedded); a page whose main text is the same (content hash) is not embedded again;
  a changed page is replaced atomically (``KnowledgeBase.ingest`` with the page's stable
  document id: ``page_document_id(tenant, source, url)``);
- a page answering 404/410 is kept once ("missing") and removed at the second sync in a row
  that finds it gone; pages dropped from a (fully read) sitemap, now disallowed by robots.txt,
  or no longer reached by the crawl are removed; new pages are added;
- every page is written on its own (document, then its record), so a sync killed half-way
  leaves each page either old or new, and the next sync starts over from the records: pages
  already done come back "unchanged" without an embedding. A source is locked while it syncs.

Pages are fetched and extracted by a small thread pool (at most ``per_host`` requests in
flight per host, ``delay`` apart, robots.txt honoured); the calling thread embeds and writes.
"""

from __future__ import annotations

import heapq
import logging
import re
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from posixpath import basename
from typing import Callable, Dict, List, Optional, Set
from urllib.parse import unquote, urlsplit

from ..errors import IngestError
from ..tenants import validate_tenant
from .errors import WebImportError
from .extract import ExtractedPage, decode_html, extract_page
from .fetch import FetchResult, Fetcher
from .options import WebOptions
from .robots import Robots
from .sitemap import SitemapListing, read_sitemaps
from .state import PageRecord, PageState
from .types import ImportProgress, ImportResult, PageResult
from .urls import SKIPPED_EXTENSIONS, Scope, extension, normalize_url

log = logging.getLogger(__name__)
MODES = ("page", "sitemap", "crawl")
GONE = (404, 410)
MISSES_BEFORE_REMOVAL = 2
SOURCE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
EXTENSIONS = {"pdf": ".pdf", "docx": ".docx", "markdown": ".md", "text": ".txt", "html": ".html"}
ProgressCallback = Callable[[ImportProgress], None]


def default_source_id(tenant_id: str, mode: str, url: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rag-engine-web-source:{tenant_id}:{mode}:{url}"))


def page_document_id(tenant_id: str, source_id: str, url: str) -> str:
    """The stable document id of a page: the same URL in the same source is always the same document."""
    return "web-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"rag-engine-web:{tenant_id}:{source_id}:{url}"))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _file_name(url: str, kind: str) -> str:
    name = unquote(basename(urlsplit(url).path.rstrip("/"))) or "index"
    return name if name.lower().endswith(EXTENSIONS[kind]) or kind == "html" else name + EXTENSIONS[kind]


@dataclass
class _Visit:
    url: str
    depth: int
    record: Optional[PageRecord]
    robots: str = ""  # "disallowed" | "unreachable" | ""
    fetch: Optional[FetchResult] = None
    page: Optional[ExtractedPage] = None


def import_url(kb, tenant_id: str, url: str, *, mode: str = "page", max_pages: int = 200, max_depth: int = 3,
               source_id: Optional[str] = None, options: Optional[WebOptions] = None,
               progress: Optional[ProgressCallback] = None, should_stop: Optional[Callable[[], bool]] = None,
               force: bool = False, path_prefix: Optional[str] = None, lock_wait: float = 0.0) -> ImportResult:
    """Import (or sync) ``url`` into ``tenant_id``'s knowledge base; see the module's docstring.

    ``mode``: "page" (that page), "sitemap" (the sitemap at ``url``, or the site's sitemaps) or
    "crawl" (links from ``url``, same host and path prefix, up to ``max_depth`` clicks away).
    At most ``max_pages`` pages are fetched. ``progress`` is called after each page;
    ``should_stop()`` returning True ends the import early (nothing is removed then).
    ``force`` re-embeds every page (e.g. after changing the embedding model). A source syncs in
    one process at a time: SyncInProgressError, after waiting up to ``lock_wait`` seconds.
    """
    validate_tenant(tenant_id)
    if mode not in MODES:
        raise WebImportError("invalid_mode", f"mode must be one of {', '.join(MODES)}, not {mode!r}.")
    if int(max_pages) < 1 or int(max_depth) < 0:
        raise WebImportError("invalid_limits", "max_pages must be at least 1 and max_depth at least 0.")
    start = normalize_url(url)
    source_id = source_id or default_source_id(tenant_id, mode, start)
    if not SOURCE_ID_PATTERN.fullmatch(source_id):
        raise WebImportError("invalid_source_id", "source_id must be 1-128 letters, digits, '_', '.', ':' or '-'.")
    options = options or WebOptions.from_env()
    state = PageState(kb.store.engine, kb.settings.table_name)
    state.setup()
    with state.lock(tenant_id, source_id, wait=lock_wait > 0, timeout=lock_wait), Fetcher(options) as fetcher:
        run = _Import(kb, state, fetcher, tenant_id, source_id, start, mode, int(max_pages), int(max_depth),
                      progress, should_stop, force, path_prefix)
        return run.run()


def web_pages(kb, tenant_id: str, source_id: str) -> List[PageRecord]:
    state = PageState(kb.store.engine, kb.settings.table_name)
    return list(state.pages(tenant_id, source_id).values())


def remove_source(kb, tenant_id: str, source_id: str, *, timeout: float = 120.0) -> int:
    """Delete every document of a source and its records; waits for a running sync to stop first."""
    from ..errors import DocumentNotFoundError

    state = PageState(kb.store.engine, kb.settings.table_name)
    removed = 0
    with state.lock(tenant_id, source_id, wait=True, timeout=timeout):
        for record in state.pages(tenant_id, source_id).values():
            if record.document_id:
                try:
                    kb.delete_document(tenant_id, record.document_id)
                    removed += 1
                except DocumentNotFoundError:
                    pass
            state.forget(tenant_id, source_id, record.url)
    return removed


class _Import:
    def __init__(self, kb, state: PageState, fetcher: Fetcher, tenant_id: str, source_id: str, start: str, mode: str,
                 max_pages: int, max_depth: int, progress, should_stop, force: bool, path_prefix: Optional[str]):
        self.kb, self.state, self.fetcher = kb, state, fetcher
        self.tenant_id, self.source_id, self.start, self.mode = tenant_id, source_id, start, mode
        self.max_pages, self.max_depth = max_pages, max_depth
        self.progress, self.should_stop, self.force = progress, should_stop, force
        self.scope = Scope.of(start, path_prefix)
        self.path_prefix = path_prefix
        self.robots = Robots(fetcher)
        self.result = ImportResult(source_id, start, mode)
        self.known: Dict[str, PageRecord] = {}
        self.queued: Set[str] = set()  # every URL queued (or reached) in this run
        self.seen: Set[str] = set()  # page keys (canonical URLs) handled in this run
        self.listed: Set[str] = set()  # sitemap mode: the URLs the sitemaps list (on this host)
        self._frontier: list = []
        self._order = 0

    # ------------------------------------------------------------------ the run
    def run(self) -> ImportResult:
        started = time.monotonic()
        self.known = self.state.pages(self.tenant_id, self.source_id)
        if self.mode == "sitemap":
            listing: SitemapListing = read_sitemaps(self.start, self.fetcher, self.robots)
            self.result.errors.extend(listing.errors)
            self.result.complete = listing.complete
            for page_url in listing.urls:
                if self.scope.same_host(page_url):
                    self.listed.add(page_url)
                    self._add(page_url, 0)
            if not listing.urls and listing.errors:
                self._record(PageResult(self.start, "failed", reason="The sitemap could not be read."))
        else:
            self._add(self.start, 0)
        if self.mode == "crawl":
            root = next((r for r in self.known.values() if r.depth == 0), None)
            if root is not None and root.url != self.start:  # the start redirected last time (http → https…)
                self.scope = Scope.of(root.url, self.path_prefix)
            for record in self.known.values():  # known pages first: a sync fetches them all
                if self.scope.contains(record.url) and record.depth <= self.max_depth:
                    self._add(record.url, record.depth)
        self._loop()
        if self.result.complete and not self.result.stopped:
            self._remove_stale()
        self.result.seconds = round(time.monotonic() - started, 3)
        self.result.requests = self.fetcher.requests
        log.info("web import %s/%s %s: %s in %.1f s", self.tenant_id, self.source_id, self.start,
                 self.result.counts, self.result.seconds)
        return self.result

    def _add(self, url: str, depth: int) -> None:
        if url in self.queued:
            return
        if len(self.queued) >= self.max_pages:
            return
        self.queued.add(url)
        self._order += 1
        heapq.heappush(self._frontier, (depth, self._order, url))

    def _loop(self) -> None:
        workers = self.fetcher.options.concurrency
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="web-fetch") as pool:
            inflight: dict = {}
            while self._frontier or inflight:
                if not self.result.stopped and self.should_stop is not None and self.should_stop():
                    self.result.stopped, self.result.complete = True, False
                while not self.result.stopped and self._frontier and len(inflight) < workers:
                    depth, _, url = heapq.heappop(self._frontier)
                    inflight[pool.submit(self._visit, url, depth)] = url
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    inflight.pop(future)
                    visit = future.result()
                    if not self.result.stopped:
                        self._handle(visit)

    # ------------------------------------------------------------------ in a fetch thread
    def _visit(self, url: str, depth: int) -> _Visit:
        record = self.known.get(url)
        visit = _Visit(url, depth, record)
        visit.robots = self.robots.refusal(url)
        if visit.robots:
            return visit
        headers = {}
        if record is not None and record.document_id and not self.force:
            if record.etag:
                headers["If-None-Match"] = record.etag
            if record.last_modified:
                headers["If-Modified-Since"] = record.last_modified
        visit.fetch = self.fetcher.get(url, headers=headers)
        if visit.fetch.final_url != url and visit.fetch.ok:
            visit.robots = self.robots.refusal(visit.fetch.final_url)
            if visit.robots:
                return visit
        if visit.fetch.ok and visit.fetch.kind == "html":
            html = decode_html(visit.fetch.content, visit.fetch.headers.get("content-type", ""))
            visit.page = extract_page(html, visit.fetch.final_url, visit.fetch.headers.get("x-robots-tag", ""))
        return visit

    # ------------------------------------------------------------------ in the calling thread
    def _handle(self, visit: _Visit) -> None:
        url, depth, record, fetch = visit.url, visit.depth, visit.record, visit.fetch
        if visit.robots == "disallowed":
            if record is not None:
                self._remove(record, "Disallowed by the site's robots.txt.")
            else:
                self._record(PageResult(url, "skipped", reason="Disallowed by the site's robots.txt.", depth=depth))
            return
        if visit.robots == "unreachable":
            self._record(PageResult(url, "failed", reason="The site's robots.txt could not be read; nothing was "
                                                          "fetched (try again later).", depth=depth))
            return
        if fetch.error:
            status = "skipped" if fetch.error == "unsupported_type" else "failed"
            self._record(PageResult(url, status, reason=fetch.reason, http_status=fetch.status or None, depth=depth))
            return
        if fetch.status == 304 and record is not None:
            self._not_modified(record, depth)
            return
        if fetch.status in GONE:
            self._gone(url, record, fetch.status, depth)
            return
        if fetch.status != 200:
            self._record(PageResult(url, "failed", reason=f"The site answered HTTP {fetch.status}.",
                                    http_status=fetch.status, depth=depth))
            return
        self._fetched(visit)

    def _fetched(self, visit: _Visit) -> None:
        url, depth, fetch, page = visit.url, visit.depth, visit.fetch, visit.page
        final = fetch.final_url
        if self.mode == "crawl":
            if depth == 0 and url == self.start and final != url:  # the site's own spelling of the start
                self.scope = Scope.of(final, self.path_prefix)
            if not self.scope.contains(final):
                self._record(PageResult(url, "skipped", reason=f"Redirects outside the imported site ({final}).",
                                        http_status=fetch.status, depth=depth))
                return
        key = final
        if page is not None and page.canonical and urlsplit(page.canonical).netloc == urlsplit(final).netloc \
                and (self.mode != "crawl" or self.scope.contains(page.canonical)):
            key = page.canonical
        self.queued.add(final)
        if page is not None and self.mode == "crawl" and depth < self.max_depth:
            for link in page.links:
                if self.scope.contains(link) and extension(link) not in SKIPPED_EXTENSIONS:
                    self._add(link, depth + 1)
        if key != final and self.mode != "page":
            # A copy that names its canonical page: the canonical page's own fetch is what gets indexed,
            # whichever of the two arrives first (else the stored text and ETag flip between syncs).
            self._record(PageResult(url, "skipped", reason=f"The same page as {key}.", http_status=200,
                                    depth=depth))
            self._moved(url, key)
            if key not in self.seen:
                self._add(key, depth)
            return
        self.queued.add(key)
        if key in self.seen:  # reached before through another URL (a redirect, a canonical link)
            if url != key:
                self._record(PageResult(url, "skipped", reason=f"The same page as {key}.", http_status=200,
                                        depth=depth))
                self._moved(url, key)
            return
        self.seen.add(key)
        known = self.known.get(key)
        if page is not None:
            if page.noindex:
                if known is not None:
                    self._remove(known, "The page asks not to be indexed (noindex).")
                else:
                    self._record(PageResult(url, "skipped", reason="The page asks not to be indexed (noindex).",
                                            http_status=200, depth=depth))
                return
            if not page.text_found:
                self._record(PageResult(key, "failed", reason="No text was found on this page.", http_status=200,
                                        depth=depth, kind="html"))
                return
            data, filename, title, kind = page.html.encode("utf-8"), "page.html", page.title, "html"
        else:
            kind = fetch.kind
            filename = _file_name(final, kind)
            data, title = fetch.content, filename
        document_id = page_document_id(self.tenant_id, self.source_id, key)
        try:
            ingested = self.kb.ingest(self.tenant_id, data=data, filename=filename, title=title,
                                      document_id=document_id, url=key, force=self.force)
            for step, seconds in ingested.timings.items():
                self.result.timings[step] = round(self.result.timings.get(step, 0.0) + seconds, 4)
        except IngestError as err:
            self._record(PageResult(key, "failed", title=title, reason=err.message, http_status=200, depth=depth,
                                    kind=kind))
            return
        changed = ingested.status != "unchanged"
        self.state.save(self.tenant_id, self.source_id, PageRecord(
            key, document_id, ingested.title, kind, fetch.etag, fetch.last_modified, depth,
            page.links if (page is not None and self.mode == "crawl") else [], 0, ingested.status, "", _now(),
            _now() if changed or known is None else known.changed_at))
        if changed:
            self.result.embedded_chunks += ingested.chunk_count
        self._record(PageResult(key, ingested.status, ingested.title, document_id, http_status=200,
                                chunk_count=ingested.chunk_count, depth=depth, kind=kind))
        if url != key and self.mode != "page":  # a redirect to the page
            self._record(PageResult(url, "skipped", reason=f"The same page as {key}.", http_status=200, depth=depth))
        self._moved(url, key)

    def _not_modified(self, record: PageRecord, depth: int) -> None:
        if record.url in self.seen:  # already handled through another URL that leads to it
            return
        record.misses, record.fetched_at, record.status, record.reason = 0, _now(), "unchanged", ""
        record.depth = min(record.depth, depth)
        self.state.save(self.tenant_id, self.source_id, record)
        self.seen.add(record.url)
        if self.mode == "crawl" and depth < self.max_depth:
            for link in record.links:
                if self.scope.contains(link) and extension(link) not in SKIPPED_EXTENSIONS:
                    self._add(link, depth + 1)
        self._record(PageResult(record.url, "unchanged", record.title, record.document_id, http_status=304,
                                depth=depth, kind=record.kind))

    def _gone(self, url: str, record: Optional[PageRecord], http_status: int, depth: int) -> None:
        if record is None:
            self._record(PageResult(url, "failed", reason=f"Not found (HTTP {http_status}).",
                                    http_status=http_status, depth=depth))
            return
        self.seen.add(url)
        record.misses += 1
        if record.misses >= MISSES_BEFORE_REMOVAL:
            self._remove(record, f"Gone (HTTP {http_status}) at {record.misses} syncs in a row.", http_status)
            return
        record.fetched_at, record.status = _now(), "missing"
        record.reason = f"Not found (HTTP {http_status}); removed if still gone at the next sync."
        self.state.save(self.tenant_id, self.source_id, record)
        self._record(PageResult(url, "missing", record.title, record.document_id, record.reason, http_status,
                                depth=depth, kind=record.kind))

    def _moved(self, url: str, key: str) -> None:
        """``url`` was a page of its own and now is ``key`` (a redirect or a canonical URL): drop the old one."""
        if url != key and url in self.known and url not in self.seen:
            self.seen.add(url)
            self._remove(self.known[url], f"Moved to {key}.")

    def _remove(self, record: PageRecord, reason: str, http_status: Optional[int] = None) -> None:
        from ..errors import DocumentNotFoundError

        if record.document_id:
            try:
                self.kb.delete_document(self.tenant_id, record.document_id)
            except DocumentNotFoundError:
                pass
        self.state.forget(self.tenant_id, self.source_id, record.url)
        self._record(PageResult(record.url, "removed", record.title, record.document_id, reason, http_status,
                                depth=record.depth, kind=record.kind))

    def _remove_stale(self) -> None:
        """Known pages this complete run never reached: dropped from the sitemap, out of the crawl's reach."""
        why = {"sitemap": "No longer in the sitemap.", "crawl": "No longer reached by the crawl.",
               "page": "The source now points at another page."}[self.mode]
        if self.mode == "page" and not self.seen:
            return  # the page itself failed: keep what we had
        for url, record in list(self.known.items()):
            if url not in self.queued and url not in self.seen:
                beyond = url in self.listed or (self.mode == "crawl" and self.scope.contains(url))
                self._remove(record, "Beyond the source's page limit." if beyond else why)

    def _record(self, page: PageResult) -> None:
        self.result.pages.append(page)
        if self.progress is not None:
            counts = self.result.counts
            self.progress(ImportProgress(found=len(self.queued), done=len(self.result.pages), counts=counts,
                                         page=page))
