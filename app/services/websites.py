"""Website sources: added (checked, stored, queued for their first sync), synced now or on their
schedule, removed with all their documents; and what a sync job records as it goes.

The syncing itself is rag_engine's (``KnowledgeBase.import_url``); the app schedules it on the
crawl queue and records its progress and per-page outcome for the staff pages and the API.
Like every service, these only flush: the caller commits, and queued jobs go out then.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select

from rag_engine.web import MODES, ImportProgress, ImportResult, PageResult, UnsafeURLError, WebImportError
from rag_engine.web.guard import resolve
from rag_engine.web.urls import normalize_url

from ..domain_errors import NotFound, UploadRejected
from ..infra import queues
from ..infra.extensions import db
from ..infra.models import Company, KnowledgeSource, SourcePage, new_id, now
from ..infra.web import default_sync_hours, web_options

MAX_PAGES_LIMIT = 10_000
MAX_DEPTH_LIMIT = 10
IN_KNOWLEDGE_BASE = ("created", "replaced", "unchanged", "missing")


def check_url(url: str) -> str:
    """The URL's one spelling, or UploadRejected (not http(s), credentials, an internal address)."""
    try:
        normalized = normalize_url(url)
        parts = urlsplit(normalized)
        options = web_options()
        resolve(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80),
                options.allow_private_addresses, options.allowed_networks)
    except UnsafeURLError as err:
        raise UploadRejected(err.message, "unsafe_url") from None
    except WebImportError as err:
        raise UploadRejected(err.message, "invalid_url") from None
    return normalized


def add_source(company: Company, url: str, mode: str = "page", *, max_pages: int = 200, max_depth: int = 3,
               sync_interval_hours: Optional[int] = None) -> tuple[KnowledgeSource, bool]:
    """A new source, queued for its first sync; the same URL and mode again returns the existing one."""
    if mode not in MODES:
        raise UploadRejected(f"Choose one of: {', '.join(MODES)}.", "invalid_mode")
    if not 1 <= max_pages <= MAX_PAGES_LIMIT or not 0 <= max_depth <= MAX_DEPTH_LIMIT:
        raise UploadRejected(f"Pages must be between 1 and {MAX_PAGES_LIMIT}, depth between 0 and "
                             f"{MAX_DEPTH_LIMIT}.", "invalid_limits")
    hours = default_sync_hours() if sync_interval_hours is None else sync_interval_hours
    if not 0 <= hours <= 24 * 365:
        raise UploadRejected("The sync interval must be between 0 (never) and 8760 hours.", "invalid_interval")
    url = check_url(url)
    existing = db.session.scalars(select(KnowledgeSource).where(
        KnowledgeSource.company_id == company.id, KnowledgeSource.mode == mode, KnowledgeSource.url == url)).first()
    if existing is not None:
        return existing, False
    source = KnowledgeSource(id=new_id(), company_id=company.id, url=url, mode=mode, max_pages=max_pages,
                             max_depth=max_depth, sync_interval_hours=hours, status="queued")
    db.session.add(source)
    db.session.flush()
    queues.on_commit(queues.enqueue_source_sync, source.id)
    return source, True


def owned_source(company_id: str, source_id: str) -> KnowledgeSource:
    source = db.session.scalars(select(KnowledgeSource).where(
        KnowledgeSource.id == source_id, KnowledgeSource.company_id == company_id)).first()
    if source is None or source.status == "removing":
        raise NotFound("Source not found.")
    return source


def company_sources(company_id: str) -> list[KnowledgeSource]:
    return db.session.scalars(select(KnowledgeSource).where(
        KnowledgeSource.company_id == company_id, KnowledgeSource.status != "removing")
        .order_by(KnowledgeSource.created_at.desc())).all()


def source_pages(source: KnowledgeSource, status: Optional[str] = None, limit: int = 500,
                 offset: int = 0) -> tuple[list[SourcePage], int]:
    query = select(SourcePage).where(SourcePage.source_id == source.id, SourcePage.company_id == source.company_id)
    if status:
        query = query.where(SourcePage.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(SourcePage.url).limit(limit).offset(offset)).all()
    return rows, int(total or 0)


def request_sync(source: KnowledgeSource) -> bool:
    """Sync now ("sync now", or its schedule). False when it is already queued or running."""
    if source.status in ("queued", "syncing", "removing"):
        return False
    source.status, source.attempts = "queued", 0
    queues.on_commit(queues.enqueue_source_sync, source.id)
    return True


def request_removal(source: KnowledgeSource) -> None:
    """Hidden at once; its documents are deleted by a job (which first stops a running sync)."""
    source.status = "removing"
    queues.on_commit(queues.enqueue_source_removal, source.id)


def due_sources(at: Optional[datetime] = None) -> list[KnowledgeSource]:
    return db.session.scalars(select(KnowledgeSource).where(
        KnowledgeSource.status.in_(("idle", "failed")), KnowledgeSource.sync_interval_hours > 0,
        KnowledgeSource.next_sync_at.is_not(None), KnowledgeSource.next_sync_at <= (at or now()))).all()


def schedule_due_syncs(at: Optional[datetime] = None) -> int:
    """Queue the sources whose next sync is due; returns how many."""
    due = due_sources(at)
    for source in due:
        request_sync(source)
    return len(due)


# ----------------------------------------------------------------------------- what a sync job records
def start_sync(source: KnowledgeSource, worker_id: str) -> None:
    source.status, source.worker_id, source.heartbeat_at = "syncing", worker_id, now()
    source.sync_started_at, source.last_error = now(), None
    source.attempts += 1
    source.pages_found = source.pages_done = source.pages_changed = 0
    source.pages_unchanged = source.pages_failed = source.pages_removed = 0


def record_progress(source: KnowledgeSource, progress: ImportProgress) -> None:
    counts = progress.counts
    source.pages_found, source.pages_done = progress.found, progress.done
    source.pages_changed = counts.get("created", 0) + counts.get("replaced", 0)
    source.pages_unchanged = counts.get("unchanged", 0)
    source.pages_failed = counts.get("failed", 0)
    source.pages_removed = counts.get("removed", 0)
    source.heartbeat_at = now()
    if progress.page is not None:
        record_page(source, progress.page)


def record_page(source: KnowledgeSource, page: PageResult) -> None:
    if page.status == "removed":
        db.session.execute(delete(SourcePage).where(SourcePage.source_id == source.id, SourcePage.url == page.url))
        return
    row = db.session.scalars(select(SourcePage).where(SourcePage.source_id == source.id,
                                                      SourcePage.url == page.url)).first()
    if row is None:
        row = SourcePage(source_id=source.id, company_id=source.company_id, url=page.url)
        db.session.add(row)
    row.updated_at = now()  # seen by this sync, even when nothing else changed
    if page.status == "failed" and row.document_id:  # it stays in the knowledge base as it was
        row.reason, row.http_status = page.reason, page.http_status
        row.status = "failed"
        return
    row.title, row.kind, row.status, row.reason = page.title or row.title or "", page.kind, page.status, page.reason
    row.http_status, row.document_id = page.http_status, page.document_id or row.document_id
    if page.status != "unchanged" or page.chunk_count:
        row.chunk_count = page.chunk_count


def finish_sync(source: KnowledgeSource, result: ImportResult) -> None:
    if result.complete and source.sync_started_at is not None:  # outcomes of pages no longer reached
        db.session.execute(delete(SourcePage).where(
            SourcePage.source_id == source.id, SourcePage.document_id.is_(None),
            SourcePage.updated_at < source.sync_started_at))
    source.status = "idle"
    source.worker_id, source.attempts = None, 0
    source.last_synced_at = now()
    source.page_count = db.session.scalar(select(func.count()).select_from(SourcePage).where(
        SourcePage.source_id == source.id, SourcePage.document_id.is_not(None))) or 0
    problems = list(result.errors[:3])
    if source.page_count == 0 and result.pages:
        first = next((p for p in result.pages if p.status in ("failed", "skipped")), None)
        if first is not None:
            problems.insert(0, f"Nothing could be imported: {first.reason}")
        source.status = "failed"
    elif result.stopped:
        problems.append("The sync was stopped before the end.")
    source.last_error = " ".join(problems) or None
    schedule_next(source)


def fail_sync(source: KnowledgeSource, message: str, retrying: bool = False) -> None:
    source.status = "queued" if retrying else "failed"
    source.worker_id, source.last_error = None, message
    if not retrying:
        schedule_next(source)


def schedule_next(source: KnowledgeSource) -> None:
    hours = source.sync_interval_hours
    source.next_sync_at = now() + timedelta(hours=hours) if hours > 0 else None
