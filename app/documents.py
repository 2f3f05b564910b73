"""Knowledge documents: accept an upload (validate, store, enqueue) and delete one everywhere."""

from __future__ import annotations

import hashlib
import logging
from typing import Optional

from sqlalchemy import select

from rag_engine import DocumentNotFoundError, IngestError
from rag_engine.readers import detect_type

from .errors import ApiError
from .extensions import db
from .kb import get_kb
from .models import Company, Document, new_id
from .queues import enqueue_ingest
from .storage import delete_original, save_original
from .text import clean_text

log = logging.getLogger(__name__)


def accept_upload(company: Company, data: bytes, filename: str, title: Optional[str] = None) -> tuple[Document, bool]:
    """Validate and store an upload, then queue its ingestion. Returns (document, created).

    The same content uploaded again (and not failed) returns the existing document.
    """
    filename = clean_text(filename).strip() or "upload"
    title = clean_text(title or "").strip() or filename
    if not data or not data.strip():
        raise ApiError(422, "The file is empty.", "empty_file")
    try:
        source_type = detect_type(data, filename)
    except IngestError as err:
        raise ApiError(415 if err.code == "unsupported_type" else 422, err.message, err.code) from None
    content_hash = hashlib.sha256(data).hexdigest()
    existing = db.session.scalars(select(Document).where(
        Document.company_id == company.id, Document.content_hash == content_hash,
        Document.status != "failed")).first()
    if existing is not None:
        return existing, False
    document = Document(id=new_id(), company_id=company.id, title=title[:255], source_type=source_type,
                        filename=filename[:255], size_bytes=len(data), content_hash=content_hash, status="pending",
                        storage_path="")
    document.storage_path = save_original(company.id, document.id, filename, data)
    db.session.add(document)
    db.session.commit()  # stored first: a lost enqueue is recovered by the worker at start-up
    enqueue_ingest(document.id)
    return document, True


def request_reindex(document: Document) -> None:
    document.status, document.error_message, document.attempts = "pending", None, 0
    document.chunks_done = document.chunks_total = 0
    db.session.commit()
    enqueue_ingest(document.id)


def delete_document(company: Company, document: Document) -> None:
    try:
        get_kb().delete_document(company.tenant_id, document.id)
    except DocumentNotFoundError:
        pass  # never ingested (pending or failed)
    delete_original(company.id, document.id)
    db.session.delete(document)
    db.session.commit()


def company_document(company: Company, document_id: str) -> Document:
    """The company's document, or 404 (another company's id looks exactly like a missing one)."""
    document = db.session.scalars(select(Document).where(Document.id == document_id,
                                                         Document.company_id == company.id)).first()
    if document is None:
        raise ApiError(404, "Document not found.")
    return document
