"""/api/knowledge/documents/: upload (202, ingested by a worker), list, read, delete."""

from __future__ import annotations

from flask import g, request

from ..errors import ApiError
from ..infra.extensions import db
from ..infra.models import Document
from ..schemas import DocumentList, DocumentOut, ErrorBody, TextDocumentIn, document_out
from ..services import library, uploads
from ..services.tenancy import owned
from .blueprint import bp
from .openapi import responses, spec


@bp.post("/knowledge/documents/upload/")
@spec.validate(json=TextDocumentIn, resp=responses(HTTP_200=DocumentOut, HTTP_202=DocumentOut, HTTP_413=ErrorBody,
                                                   HTTP_415=ErrorBody), tags=["knowledge"])
def upload_document():
    """Upload a document: multipart `file` (+ optional `title`), or JSON `{title, content}`.

    Returns 202 at once; a worker ingests it (poll the document for status and progress).
    The same content uploaded again returns the existing document with 200.
    """
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ApiError(422, "Send the document as the multipart field 'file'.")
        data, filename = upload.read(), upload.filename
        title = (request.form.get("title") or "").strip() or filename
    else:
        body: TextDocumentIn = request.context.json
        data, title = body.content.encode("utf-8"), body.title.strip()
        filename = body.filename
    document, created = uploads.accept_upload(g.company, data, filename, title)
    db.session.commit()
    return document_out(document), 202 if created else 200


@bp.get("/knowledge/documents/")
@spec.validate(resp=responses(HTTP_200=DocumentList), tags=["knowledge"])
def list_documents():
    """The company's documents, newest first, with status and progress."""
    documents = library.company_documents(g.company)
    return DocumentList(documents=[document_out(d) for d in documents], total=len(documents))


@bp.get("/knowledge/documents/<document_id>/")
@spec.validate(resp=responses(HTTP_200=DocumentOut, HTTP_404=ErrorBody), tags=["knowledge"])
def get_document(document_id: str):
    """One document: status (pending/processing/completed/failed), progress, error in words."""
    return document_out(library.describe(g.company, owned(Document, g.company.id, document_id)))


@bp.delete("/knowledge/documents/<document_id>/")
@spec.validate(resp=responses(HTTP_204=None, HTTP_404=ErrorBody), tags=["knowledge"])
def remove_document(document_id: str):
    """Delete a document, its original file and all its chunks."""
    uploads.delete_document(g.company, owned(Document, g.company.id, document_id))
    db.session.commit()
    return "", 204
