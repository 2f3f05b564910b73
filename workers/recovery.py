"""Work interrupted by a dead worker (or a lost Redis) is found and queued again at start-up.

A document in "processing" whose worker process is gone (same host: its pid is dead; any host:
no progress heartbeat for STALE_AFTER) is queued again, up to MAX_INGEST_ATTEMPTS, then marked
failed. Customer messages on async channels with no AI reply, and replies not yet sent, are
queued again too, and so are website syncs left "syncing" (or "queued", or being removed). Job ids
are deterministic, so queueing what is already queued is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.infra.extensions import db
from app.infra.models import Conversation, Document, KnowledgeSource, Message, now
from app.infra.queues import (connection, enqueue_answer, enqueue_delivery, enqueue_ingest, enqueue_source_removal,
                              enqueue_source_sync)

log = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=10)
ASYNC_CHANNELS = ("whatsapp", "email")


def _process_alive(worker_id: str | None) -> bool:
    if not worker_id or ":" not in worker_id:
        return False
    host, pid = worker_id.rsplit(":", 1)
    if host != socket.gethostname():
        return True  # another machine's worker: judged by its heartbeat instead
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def _drop_orphaned_job(job_id: str) -> None:
    """Remove a job its dead worker left in 'started', so it can be queued again."""
    try:
        job = Job.fetch(job_id, connection=connection(), serializer=JSONSerializer)
    except NoSuchJobError:
        return
    if job.get_status(refresh=False) == JobStatus.STARTED:
        job.delete()


def recover_documents() -> int:
    recovered = 0
    for document in db.session.scalars(select(Document).where(Document.status.in_(("pending", "processing")))):
        if document.status == "processing":
            stale = document.heartbeat_at is None or now() - document.heartbeat_at > STALE_AFTER
            if _process_alive(document.worker_id) and not stale:
                continue
            log.warning("document %s was left in processing by %s: queueing it again", document.id,
                        document.worker_id)
            _drop_orphaned_job(f"ingest-{document.id}")
            document.status, document.error_message = "pending", "Processing was interrupted; retrying…"
            db.session.commit()
        if enqueue_ingest(document.id) is not None:
            recovered += 1
    return recovered


def recover_messages() -> int:
    recovered = 0
    reply, later_staff = aliased(Message), aliased(Message)
    staff_answered_since = (
        select(later_staff.id)
        .where(later_staff.conversation_id == Message.conversation_id, later_staff.role == "staff",
               later_staff.created_at > Message.created_at)
        .exists()
    )
    unanswered = db.session.scalars(
        select(Message).join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(reply, reply.reply_to_id == Message.id)
        .where(Message.role == "customer", Message.channel.in_(ASYNC_CHANNELS), reply.id.is_(None),
               Message.delivery_status == "received", Conversation.status != "handed_off",
               ~staff_answered_since)  # a human already took care of it
    ).all()
    for message in unanswered:
        if enqueue_answer(message.id) is not None:
            recovered += 1
    undelivered = db.session.scalars(select(Message).where(
        Message.role.in_(("assistant", "staff")), Message.channel.in_(ASYNC_CHANNELS),
        Message.delivery_status == "queued")).all()
    for message in undelivered:
        if enqueue_delivery(message.id) is not None:
            recovered += 1
    return recovered


def recover_sources() -> int:
    """Queue again: syncs left "syncing" by a dead worker, "queued" ones lost with Redis, removals."""
    recovered = 0
    for source in db.session.scalars(select(KnowledgeSource).where(
            KnowledgeSource.status.in_(("queued", "syncing", "removing")))).all():
        if source.status == "removing":
            recovered += enqueue_source_removal(source.id) is not None
            continue
        if source.status == "syncing":
            stale = source.heartbeat_at is None or now() - source.heartbeat_at > STALE_AFTER
            if _process_alive(source.worker_id) and not stale:
                continue
            log.warning("source %s was left syncing by %s: queueing it again", source.id, source.worker_id)
            _drop_orphaned_job(f"sync-{source.id}")
            source.status, source.last_error = "queued", "The sync was interrupted; restarting…"
            db.session.commit()
        recovered += enqueue_source_sync(source.id) is not None
    return recovered


def recover_interrupted_work() -> dict:
    counts = {"documents": recover_documents(), "messages": recover_messages(), "sources": recover_sources()}
    if any(counts.values()):
        log.info("recovered interrupted work: %s", counts)
    return counts
