"""Uploaded documents: accepted (validated, stored, queued for ingestion), re-indexed, deleted everywhere.

The row and the original file are written first and the ingestion job is queued when the caller
commits; a job lost on the way is queued again by the worker's start-up recovery. What the file
holds (type, content hash, chunks) is the engine's to say: rag_engine's ``detect_type`` refuses
what it could not read before anything is stored, and the worker's ingest does the rest.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import select

from rag_engine import DocumentNotFoundError, IngestError, detect_type

from ..domain_errors import UploadRejected
from ..infra import queues
from ..infra.extensions import db
from ..infra.kb import get_kb
from ..infra.models import Company, Document, new_id
from ..infra.storage import delete_original, fit_filename, holds, save_original
from ..infra.text import clean_text
from .library import DocumentView, describe


def accept_upload(company: Company, data: bytes, filename: str,
                  title: Optional[str] = None) -> tuple[DocumentView, bool]:
    """Validate and store an upload, and queue its ingestion. Returns (document, created).

    The same content uploaded again (and not failed) returns the existing document.
    Raises UploadRejected (empty, unsupported type, damaged).
    """
    filename = clean_text(filename).strip() or "upload"
    title = clean_text(title or "").strip() or filename
    if not data or not data.strip():
        raise UploadRejected("The file is empty.", "empty_file")
    try:
        source_type = detect_type(data, filename)
    except IngestError as err:
        raise UploadRejected(err.message, err.code) from None
    existing = _same_upload(company, data)
    if existing is not None:
        return describe(company, existing), False
    document = Document(id=new_id(), company_id=company.id, title=title[:255], filename=fit_filename(filename),
                        size_bytes=len(data), status="pending", storage_path="")
    document.storage_path = save_original(company.id, document.id, filename, data)
    db.session.add(document)
    db.session.flush()
    queues.on_commit(queues.enqueue_ingest, document.id)
    return DocumentView(document, None, source_type), True  # new: the engine holds nothing under its id yet


def _same_upload(company: Company, data: bytes) -> Optional[Document]:
    """The company's document (not failed) whose stored original is exactly ``data``, if any."""
    candidates = db.session.scalars(select(Document).where(
        Document.company_id == company.id, Document.size_bytes == len(data), Document.status != "failed")
        .order_by(Document.created_at))
    return next((document for document in candidates if holds(document.storage_path, data)), None)


def request_reindex(document: Document) -> None:
    """Ingest the stored original again (e.g. after a temporary failure or into a new RAG_TABLE).

    The engine decides: content it already holds under this id stays as it is ("unchanged").
    """
    document.status, document.error_message, document.attempts = "pending", None, 0
    document.chunks_done = document.chunks_total = 0
    queues.on_commit(queues.enqueue_ingest, document.id)


def delete_document(company: Company, document: Document) -> None:
    """Its chunks (rag_engine), its original file, then its row."""
    try:
        get_kb().delete_document(company.tenant_id, document.id)
    except DocumentNotFoundError:
        pass  # never ingested (pending or failed)
    delete_original(company.id, document.id)
    db.session.delete(document)
    db.session.flush()
