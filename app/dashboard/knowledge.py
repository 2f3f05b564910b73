"""Knowledge page: upload (files or pasted text), live status per document, delete, re-index;
its websites section is knowledge_sources.py."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from pydantic import ValidationError

from ..domain_errors import UploadRejected
from ..infra.extensions import db
from ..infra.models import Document
from ..schemas import TextDocumentIn
from ..services import uploads
from ..services.library import DocumentView, company_documents
from ..services.websites import company_sources
from .blueprint import bp, current_company, owned
from .knowledge_sources import labels

MAX_TITLE = 255
# What a missing field of the pasted-text form is told (validated by the API's TextDocumentIn, app/schemas.py).
PASTED_TEXT_PROBLEMS = {"title": "Give the pasted text a title.", "content": "The pasted text is empty."}


def document_json(document: DocumentView) -> dict:
    return {"id": document.id, "title": document.title, "filename": document.filename,
            "source_type": document.source_type, "size_bytes": document.size_bytes, "status": document.status,
            "progress": document.progress, "chunk_count": document.chunk_count,
            "error_message": document.error_message,
            "created_at": document.created_at.isoformat() if document.created_at else None}


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.get("/knowledge")
def knowledge():
    company = current_company()
    return render_template("dashboard/knowledge.html", company=company, documents=company_documents(company),
                           sources=company_sources(company.id), active_page="knowledge", **labels())


@bp.get("/knowledge/documents.json")
def documents_json():
    return jsonify({"documents": [document_json(d) for d in company_documents(current_company())]})


def _accept(company, data: bytes, filename: str, title: str) -> dict:
    """One upload as its own unit of work: stored and queued, or refused in words."""
    try:
        document, created = uploads.accept_upload(company, data, filename, title)
    except UploadRejected as err:
        db.session.rollback()
        return {"filename": filename, "ok": False, "error": err.message}
    db.session.commit()
    return {"filename": filename, "ok": True, "created": created, "document": document_json(document)}


def _pasted_text(company) -> list[dict]:
    content = (request.form.get("text_content") or "").strip()
    title = (request.form.get("text_title") or "").strip()[:MAX_TITLE]
    if not (content or title):
        return []
    try:
        pasted = TextDocumentIn(title=title, content=content)
    except ValidationError as err:
        problem = err.errors()[0]
        field = str(problem["loc"][0])
        said = PASTED_TEXT_PROBLEMS[field] if problem["type"] == "string_too_short" else f"The {field} is too long."
        return [{"filename": title or "Pasted text", "ok": False, "error": said}]
    return [_accept(company, pasted.content.encode("utf-8"), pasted.filename, pasted.title)]


@bp.post("/knowledge/upload")
def upload():
    """Files (field ``files``, several allowed) and/or pasted text (``text_title`` + ``text_content``)."""
    company = current_company()
    results = [_accept(company, upload_file.read(), upload_file.filename, upload_file.filename)
               for upload_file in request.files.getlist("files") if upload_file and upload_file.filename]
    results += _pasted_text(company)
    if not results:
        results.append({"filename": "", "ok": False, "error": "Choose one or more files, or paste some text."})
    if wants_json():  # one result per file, each with "ok" and the document or the error in words
        return jsonify({"results": results})
    for result in results:
        if result["ok"]:
            verb = "Uploaded" if result["created"] else "Already in your knowledge base:"
            flash(f"{verb} {result['document']['title']}", "success")
        else:
            flash(f"{result['filename'] or 'Upload'}: {result['error']}", "error")
    return redirect(url_for("dashboard.knowledge"))


@bp.post("/knowledge/<document_id>/reindex")
def reindex(document_id: str):
    document = owned(Document, document_id)
    if document.status in ("pending", "processing"):
        flash(f"{document.title} is already being processed.", "info")
    else:
        uploads.request_reindex(document)
        db.session.commit()
        flash(f"Re-indexing {document.title}.", "success")
    return redirect(url_for("dashboard.knowledge"))


@bp.post("/knowledge/<document_id>/delete")
def delete(document_id: str):
    company = current_company()
    document = owned(Document, document_id)
    title = document.title
    uploads.delete_document(company, document)
    db.session.commit()
    flash(f"Deleted {title}.", "success")
    return redirect(url_for("dashboard.knowledge"))
