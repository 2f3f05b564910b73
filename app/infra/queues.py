"""Redis, the queues and the job ids: declared here, once.

Queues are named by kind of work. Job functions live in the ``workers`` package and are named
by dotted path, so the web app never imports worker code. Job ids are deterministic where a
retry or a redelivered webhook could otherwise enqueue the same work twice.

Services queue work with ``on_commit``: the job is queued when the view or job that owns the
unit of work commits (a job must find the rows it is about), and never if it rolls back. A job
lost between the commit and Redis is queued again by the worker's start-up recovery.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

import redis
from flask import current_app
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import event

from .extensions import db

log = logging.getLogger(__name__)

INGEST, ANSWER, OUTBOUND, CRAWL = "ingest", "answer", "outbound", "crawl"
# A worker takes the next job from the first non-empty queue in this order. Delivery first: a reply
# that is ready goes out before the next answer is computed, so a burst of questions does not hold
# every reply back until the whole backlog is answered. Ingestion before answers: they read it.
QUEUE_NAMES = (OUTBOUND, INGEST, ANSWER)
# Website syncs run on their own queue, served by their own worker(s) (`flask --app app worker --queue crawl`):
# one company's 5,000-page crawl holds a crawl worker for its whole length, never an upload's or a chat's.
CRAWL_QUEUES = (CRAWL,)
JOB_TIMEOUTS = {INGEST: 3600, ANSWER: 300, OUTBOUND: 120, CRAWL: 6 * 3600}
RETRY = Retry(max=3, interval=[10, 30, 90])  # transient failures: network, database, provider
ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
# A Redis that is down must not hold a request for long: fail fast, the callers have a fallback.
CONNECTION_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 10, "health_check_interval": 30}

def connect(url: Optional[str], data_dir: Path) -> redis.Redis:
    """REDIS_URL, or the embedded Redis shared by every process using ``data_dir`` (infra/embedded_redis.py)."""
    if url:
        return redis.Redis.from_url(url, **CONNECTION_OPTIONS)
    from .embedded import redis_client

    return redis_client(data_dir, **CONNECTION_OPTIONS)  # started at its first connection


def limiter_storage_uri(url: Optional[str], conn: redis.Redis) -> str:
    """Flask-Limiter's storage: the same Redis (its unix-socket URL spelling), else memory."""
    if url:
        return "redis+unix://" + url[len("unix://"):] if url.startswith("unix://") else url
    socket = conn.connection_pool.connection_kwargs.get("path")
    return f"redis+unix://{socket}" if socket else "memory://"


def connection() -> redis.Redis:
    return current_app.extensions["redis"]


def get_queue(name: str, conn: Optional[redis.Redis] = None) -> Queue:
    return Queue(name, connection=conn or connection(), serializer=JSONSerializer,
                 default_timeout=JOB_TIMEOUTS[name])


def enqueue_once(queue_name: str, func: str, job_id: str, *args, retry: bool = True) -> Optional[Job]:
    """Enqueue ``func(*args)`` as ``job_id`` unless a job with that id is already waiting or running."""
    queue = get_queue(queue_name)
    try:
        existing = Job.fetch(job_id, connection=queue.connection, serializer=JSONSerializer)
        if existing.get_status(refresh=False) in ACTIVE:
            return None
    except NoSuchJobError:
        pass
    return queue.enqueue(func, *args, job_id=job_id, retry=RETRY if retry else None,
                         result_ttl=3600, failure_ttl=7 * 24 * 3600)


def enqueue_new(queue_name: str, func: str, job_id: str, *args) -> Job:
    """Enqueue work about a row the transaction that just committed created: no job can have its id yet,
    so ``enqueue_once``'s look-up is skipped and the job is written in one Redis round trip (a webhook
    burst waits on it). Should a redelivery have queued it meanwhile, the id is queued twice and the
    job's second run finds its work done (every job is safe to run twice)."""
    queue = get_queue(queue_name)
    with queue.connection.pipeline() as pipe:
        job = queue.enqueue(func, *args, job_id=job_id, retry=RETRY, result_ttl=3600, failure_ttl=7 * 24 * 3600,
                            pipeline=pipe)
        pipe.execute()
    return job


# Job ids and the job functions (by path) for each kind of work.
def enqueue_ingest(document_id: str) -> Optional[Job]:
    return enqueue_once(INGEST, "workers.jobs.ingest_document", f"ingest-{document_id}", document_id)


def enqueue_answer(message_id: str) -> Optional[Job]:
    return enqueue_once(ANSWER, "workers.jobs.answer_message", f"answer-{message_id}", message_id)


def answers_waiting(message_ids: list[str]) -> set[str]:
    """Those of ``message_ids`` whose answer job waits to run (queued, or scheduled for a retry): one round trip."""
    if not message_ids:
        return set()
    jobs = Job.fetch_many([f"answer-{m}" for m in message_ids], connection=connection(), serializer=JSONSerializer)
    waiting = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
    return {m for m, job in zip(message_ids, jobs) if job is not None and job.get_status(refresh=False) in waiting}


def enqueue_new_answer(message_id: str) -> Job:
    """``enqueue_answer`` for a message stored by the transaction that just committed."""
    return enqueue_new(ANSWER, "workers.jobs.answer_message", f"answer-{message_id}", message_id)


def enqueue_delivery(message_id: str) -> Optional[Job]:
    return enqueue_once(OUTBOUND, "workers.jobs.deliver_message", f"deliver-{message_id}", message_id)


def enqueue_source_sync(source_id: str) -> Optional[Job]:
    return enqueue_once(CRAWL, "workers.sources.sync_source", f"sync-{source_id}", source_id)


def enqueue_source_removal(source_id: str) -> Optional[Job]:
    # On the ingest queue: a removal must not wait behind other companies' crawls.
    return enqueue_once(INGEST, "workers.sources.remove_source", f"remove-source-{source_id}", source_id)


def enqueue_address_verification(company_id: str) -> Optional[Job]:
    """Mail the code that proves a company receives its pending custom inbound address."""
    return enqueue_once(OUTBOUND, "workers.jobs.send_address_verification", f"verify-address-{company_id}",
                        company_id)


# ----------------------------------------------------------------------------- after the commit
_PENDING = "enqueue_on_commit"


def on_commit(enqueue: Callable[[str], Optional[Job]], object_id: str) -> None:
    """Call ``enqueue(object_id)`` once the current database transaction commits."""
    db.session.info.setdefault(_PENDING, []).append((enqueue, object_id))


def enqueue_now(enqueue: Callable[[str], Optional[Job]], object_id: str) -> Optional[Job]:
    """``enqueue(object_id)``, or None when Redis is unreachable: the row is committed, and the worker's
    recovery (at start, and when Redis is back) queues it then."""
    try:
        return enqueue(object_id)
    except Exception:
        log.warning("could not queue %s(%s) (Redis unreachable?): recovery will", enqueue.__name__, object_id,
                    exc_info=log.isEnabledFor(logging.DEBUG))
        return None


def _enqueue_pending(session) -> None:
    if session.in_nested_transaction():  # a savepoint was released, not the unit of work
        return
    for enqueue, object_id in session.info.pop(_PENDING, []):
        enqueue_now(enqueue, object_id)


def _forget_pending(session, transaction) -> None:
    if transaction.parent is None:  # the unit of work ended without a commit (or already ran them)
        session.info.pop(_PENDING, None)


def listen(session_class) -> None:
    """Attach the on-commit queueing to the app's session class (create_app calls this once)."""
    if not event.contains(session_class, "after_commit", _enqueue_pending):
        event.listen(session_class, "after_commit", _enqueue_pending)
        event.listen(session_class, "after_transaction_end", _forget_pending)
