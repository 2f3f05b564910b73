"""Website sources: the sync job (crawl queue), the removal job, start-up recovery and the schedule.

A sync runs rag_engine's ``import_url`` (which fetches, extracts, embeds, and remembers ETags
and hashes) and records its progress page by page: counters on the source, one row per page.
It stops at the next page when the source is being removed. A worker killed mid-sync leaves
the source in "syncing" with a stale heartbeat: recovery queues it again, and the sync restarts
from the engine's records (pages done before come back unchanged, nothing embedded twice).

The schedule: a crawl worker queues the sources whose ``next_sync_at`` has come every minute
(``flask --app app knowledge sync-due`` does the same once, for cron).
"""

from __future__ import annotations

import logging
import threading
import time

from rq import get_current_job
from sqlalchemy import select

from app.infra.extensions import db
from app.infra.kb import get_kb
from app.infra.models import Company, KnowledgeSource
from app.infra.queues import enqueue_source_removal, enqueue_source_sync
from app.infra.web import web_options
from app.services import websites
from rag_engine.web import SyncInProgressError, WebImportError

from .context import app_context, get_app, worker_identity

log = logging.getLogger(__name__)
MAX_SYNC_ATTEMPTS = 5
STOP_CHECK_SECONDS = 2.0
SCHEDULE_EVERY_SECONDS = 60.0
LOCK_WAIT_SECONDS = 30.0  # a killed worker's lock goes with its connection, within moments


def _retries_left() -> bool:
    job = get_current_job()
    return bool(job is not None and job.retries_left)


def sync_source(source_id: str) -> str:
    with app_context():
        source = db.session.get(KnowledgeSource, source_id)
        if source is None or source.status == "removing":
            return "gone"
        if source.attempts >= MAX_SYNC_ATTEMPTS:
            websites.fail_sync(source, "The sync was interrupted too many times. Use “Sync now” to try again.")
            source.attempts = 0
            db.session.commit()
            return "failed"
        company = db.session.get(Company, source.company_id)
        websites.start_sync(source, worker_identity())
        db.session.commit()
        last_check = [time.monotonic()]

        def progress(update) -> None:
            websites.record_progress(source, update)
            db.session.commit()

        def should_stop() -> bool:
            if time.monotonic() - last_check[0] < STOP_CHECK_SECONDS:
                return False
            last_check[0] = time.monotonic()
            status = db.session.scalar(select(KnowledgeSource.status).where(KnowledgeSource.id == source_id))
            return status in (None, "removing")

        try:
            result = get_kb().import_url(
                company.tenant_id, source.url, mode=source.mode, max_pages=source.max_pages,
                max_depth=source.max_depth, source_id=source.id, options=web_options(), progress=progress,
                should_stop=should_stop, lock_wait=LOCK_WAIT_SECONDS)
        except SyncInProgressError:  # another worker is still on it: try again later
            db.session.rollback()
            source = db.session.get(KnowledgeSource, source_id)
            websites.fail_sync(source, "Another sync of this source is running; retrying…", retrying=True)
            db.session.commit()
            log.info("source %s is being synced elsewhere", source_id)
            raise
        except WebImportError as err:  # the source itself is unusable: no retry
            db.session.rollback()
            source = db.session.get(KnowledgeSource, source_id)
            websites.fail_sync(source, err.message)
            db.session.commit()
            return "failed"
        except Exception:
            db.session.rollback()
            source = db.session.get(KnowledgeSource, source_id)
            if source is not None and source.status != "removing":
                retrying = _retries_left()
                websites.fail_sync(source, "The sync failed because of a temporary error"
                                           + ("; retrying…" if retrying else ". Use “Sync now” to try again."),
                                   retrying=retrying)
                db.session.commit()
            log.exception("syncing source %s failed", source_id)
            raise
        db.session.expire_all()
        source = db.session.get(KnowledgeSource, source_id)
        if source is None or source.status == "removing":
            return "gone"  # the removal job deletes what this sync wrote
        websites.finish_sync(source, result)
        db.session.commit()
        log.info("source %s synced: %s in %.1f s", source_id, result.counts, result.seconds)
        return source.status


def remove_source(source_id: str) -> str:
    """Delete a source's documents (after any running sync of it stops), then the source."""
    with app_context():
        source = db.session.get(KnowledgeSource, source_id)
        if source is None:
            return "gone"
        company = db.session.get(Company, source.company_id)
        tenant_id = company.tenant_id
        db.session.commit()  # no transaction held while waiting for the sync to stop
        try:
            removed = get_kb().remove_web_source(tenant_id, source_id)
        except SyncInProgressError:
            log.warning("source %s: the running sync did not stop in time; retrying", source_id)
            raise
        source = db.session.get(KnowledgeSource, source_id)
        if source is not None:
            db.session.delete(source)
            db.session.commit()
        log.info("source %s removed with %d documents", source_id, removed)
        return "removed"


# ----------------------------------------------------------------------------- schedule (recovery: recovery.py)
def schedule_due() -> int:
    count = websites.schedule_due_syncs()
    db.session.commit()  # the sync jobs are queued now
    if count:
        log.info("queued %d scheduled website syncs", count)
    return count


def run_scheduler(stop: threading.Event, every: float = SCHEDULE_EVERY_SECONDS) -> threading.Thread:
    """A daemon thread queueing due syncs every ``every`` seconds until ``stop`` is set."""

    def loop() -> None:
        while not stop.is_set():
            try:
                with get_app().app_context():
                    schedule_due()
                    db.session.remove()
            except Exception:
                log.exception("scheduling website syncs failed")
            stop.wait(every)

    thread = threading.Thread(target=loop, name="source-scheduler", daemon=True)
    thread.start()
    return thread
