"""RQ jobs. Each takes ids, re-reads state when it runs, and is safe to run twice.

A job owns its unit of work: the services it calls only flush, and the job commits (progress as
it goes, the outcome at the end) or rolls back and records why it failed.
"""

from __future__ import annotations

import logging
import time

from rq import get_current_job

from app.channels.outbound import deliver
from app.domain_errors import DeliveryRefused
from app.infra.extensions import db
from app.infra.kb import get_kb
from app.infra.models import Company, Document, Message, now
from app.infra.queues import answers_waiting, enqueue_delivery
from app.services import replies
from rag_engine import DocumentNotFoundError, IngestError

from .context import app_context, worker_identity

log = logging.getLogger(__name__)
MAX_INGEST_ATTEMPTS = 5  # counts interrupted runs too (a worker killed mid-job)


def _final_attempt() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left


def _job_tag() -> str:
    job = get_current_job()
    return f"[job {job.id}]" if job else "[inline]"


def ingest_document(document_id: str) -> str:
    with app_context():
        document = db.session.get(Document, document_id)
        if document is None:
            log.info("%s document %s was deleted before ingestion", _job_tag(), document_id)
            return "gone"
        if document.status == "completed":
            return "completed"
        if document.attempts >= MAX_INGEST_ATTEMPTS:
            _fail(document, "Processing was interrupted too many times. Try uploading the file again.")
            return "failed"
        document.status, document.error_message = "processing", None
        document.attempts += 1
        document.worker_id, document.heartbeat_at = worker_identity(), now()
        document.chunks_done = document.chunks_total = 0
        db.session.commit()
        company = db.session.get(Company, document.company_id)
        last_save = [0.0]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - last_save[0] >= 0.5 or done == total:  # throttled: one commit per 0.5 s
                last_save[0] = time.monotonic()
                document.chunks_done, document.chunks_total, document.heartbeat_at = done, total, now()
                db.session.commit()

        try:
            # The engine decides: created, unchanged (it holds this content under this id) or replaced.
            result = get_kb().ingest(company.tenant_id, document.storage_path, filename=document.filename,
                                     title=document.title, document_id=document.id, progress=progress)
        except IngestError as err:  # permanent: the file itself is the problem; no retry
            db.session.rollback()
            _fail(db.session.get(Document, document_id), err.message)
            return "failed"
        except FileNotFoundError:
            db.session.rollback()
            _fail(db.session.get(Document, document_id), "The uploaded file is missing. Upload it again.")
            return "failed"
        except Exception:
            db.session.rollback()
            document = db.session.get(Document, document_id)
            if document is not None:
                if _final_attempt():
                    _fail(document, "Processing failed after several attempts because of a temporary error. "
                                    "Use re-index to try again.")
                else:
                    document.status, document.error_message = "pending", "Retrying after a temporary error…"
                    db.session.commit()
            log.exception("%s ingesting document %s failed", _job_tag(), document_id)
            raise  # RQ retries with backoff

        db.session.expire_all()
        document = db.session.get(Document, document_id)
        if document is None:  # deleted while we were working: drop what we wrote
            try:
                get_kb().delete_document(company.tenant_id, document_id)
            except DocumentNotFoundError:
                pass
            return "gone"
        document.status = "completed"
        document.chunks_done = document.chunks_total = result.chunk_count
        document.processed_at, document.error_message = now(), None
        db.session.commit()
        log.info("%s document %s: %s, %d chunks, %s", _job_tag(), document_id, result.status, result.chunk_count,
                 result.timings)
        return "completed"


def _fail(document: Document, reason: str) -> None:
    document.status, document.error_message = "failed", reason
    document.processed_at = now()
    db.session.commit()
    log.info("document %s failed: %s", document.id, reason)


def answer_message(message_id: str) -> str:
    """Answer a customer's WhatsApp/email message with the AI, then queue the reply's delivery."""
    with app_context():
        message = db.session.get(Message, message_id)
        if message is None or message.role != "customer":
            return "gone"
        # Replies leave in the order the customer wrote. Two messages of one customer arriving at once
        # can have their answer jobs queued the other way round (each webhook queues after its own
        # commit): an earlier message whose job still waits is answered first, here; its own job then
        # finds the reply made. (A message with no job waiting, e.g. one a person handled, is left alone.)
        earlier = [m.id for m in replies.unanswered_before(message)]
        waiting = answers_waiting(earlier)
        for earlier_id in (m for m in earlier if m in waiting):
            _answer(earlier_id, may_fail_it=False)
        return _answer(message_id, may_fail_it=True)


def _answer(message_id: str, may_fail_it: bool) -> str:
    message = db.session.get(Message, message_id)
    if message is None:  # an earlier message deleted meanwhile (its conversation removed)
        return "gone"
    try:
        reply = replies.answer(message)
    except Exception:
        db.session.rollback()
        if may_fail_it and _final_attempt():
            message = db.session.get(Message, message_id)
            message.delivery_status, message.delivery_error = "failed", "The AI could not answer (provider error)."
            db.session.commit()
        raise
    db.session.commit()
    if reply is None:
        return "not answered (handed off to a human)"
    if reply.delivery_status == "queued":
        enqueue_delivery(reply.id)
    return "answered"


def send_address_verification(company_id: str) -> str:
    """Mail a company's pending custom inbound address the code that proves it receives that mail."""
    from app.channels.outbound.email import send_address_verification as send

    with app_context():
        company = db.session.get(Company, company_id)
        if company is None:
            return "gone"
        try:
            sent_to = send(company)
        except DeliveryRefused as err:
            log.warning("%s inbound address verification for %s not sent: %s", _job_tag(), company.slug, err)
            return "refused"
        return "sent" if sent_to else "nothing pending"


def deliver_message(message_id: str) -> str:
    """Send an assistant or staff reply through its conversation's channel."""
    with app_context():
        message = db.session.get(Message, message_id)
        if message is None:
            return "gone"
        if message.delivery_status in ("sent", "delivered", "skipped"):
            return message.delivery_status  # never send twice
        if message.role == "assistant" and message.conversation.status == "handed_off":
            message.delivery_status = "skipped"  # a person took over before it went out: they answer now
            message.delivery_error = "Not sent: a person took the conversation over before it went out."
            db.session.commit()
            return "skipped"
        message.attempts += 1
        db.session.commit()  # counted even if the send fails and is rolled back
        try:
            deliver(message, save_progress=db.session.commit)
        except DeliveryRefused as err:
            db.session.rollback()
            message = db.session.get(Message, message_id)
            message.delivery_status, message.delivery_error = "failed", str(err)
            db.session.commit()
            return "failed"
        except Exception as err:
            db.session.rollback()
            message = db.session.get(Message, message_id)
            message.delivery_error = f"Temporary failure: {type(err).__name__}"
            if _final_attempt():
                message.delivery_status = "failed"
            db.session.commit()
            raise
        message.delivery_status, message.delivery_error = "sent", None
        db.session.commit()
        return "sent"
