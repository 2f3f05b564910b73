"""A company's documents as staff and API clients see them: the app's row joined with the engine's registry.

The app's row is the upload and its ingestion (title given, stored file, size, status, error);
the engine's registry (rag_engine) is the truth for what was indexed: title, type, chunk count.
A document the engine does not hold yet (pending, failed, or being ingested for the first time)
shows the title it was uploaded under, the type rag_engine detects in its stored original, and
no chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sqlalchemy import select

from rag_engine import DocumentInfo, DocumentNotFoundError, IngestError, detect_type

from ..infra.extensions import db
from ..infra.kb import get_kb
from ..infra.models import Company, Document
from ..infra.storage import read_head

TYPE_SNIFF_BYTES = 64 * 1024  # rag_engine's detect_type decides from the start of a file, no further than this


@dataclass(frozen=True)
class DocumentView:
    row: Document
    indexed: Optional[DocumentInfo]  # the engine's registry entry; None until it holds the document
    detected_type: str = ""  # for a document the engine does not hold

    @property
    def title(self) -> str:
        return self.indexed.title if self.indexed else self.row.title

    @property
    def source_type(self) -> str:
        return self.indexed.source_type if self.indexed else self.detected_type

    @property
    def chunk_count(self) -> int:
        return self.indexed.chunk_count if self.indexed else 0

    # The app's own facts.
    id = property(lambda self: self.row.id)
    filename = property(lambda self: self.row.filename)
    size_bytes = property(lambda self: self.row.size_bytes)
    status = property(lambda self: self.row.status)
    progress = property(lambda self: self.row.progress)
    error_message = property(lambda self: self.row.error_message)
    created_at = property(lambda self: self.row.created_at)
    updated_at = property(lambda self: self.row.updated_at)
    processed_at = property(lambda self: self.row.processed_at)


def describe(company: Company, document: Document, detected_type: Optional[str] = None) -> DocumentView:
    """One document, with the engine's facts (``detected_type``: already known, e.g. at upload)."""
    try:
        indexed = get_kb().get_document(company.tenant_id, document.id)
    except DocumentNotFoundError:
        indexed = None
    return _view(document, indexed, detected_type)


def company_documents(company: Company) -> list[DocumentView]:
    """The company's documents, newest first (one read of the app's table, one of the engine's registry)."""
    rows = db.session.scalars(select(Document).where(Document.company_id == company.id)
                              .order_by(Document.created_at.desc())).all()
    indexed = {info.document_id: info for info in get_kb().list_documents(company.tenant_id)} if rows else {}
    return [_view(row, indexed.get(row.id)) for row in rows]


def _view(document: Document, indexed: Optional[DocumentInfo], detected_type: Optional[str] = None) -> DocumentView:
    if indexed is None and detected_type is None:
        detected_type = _detected_type(document)
    return DocumentView(document, indexed, detected_type or "")


def _detected_type(document: Document) -> str:
    try:
        return detect_type(read_head(document.storage_path, TYPE_SNIFF_BYTES), document.filename)
    except (OSError, IngestError):
        return ""  # the original is gone, or no longer readable: the row's error says why
