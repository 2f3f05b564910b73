"""Knowledge page: upload (files or pasted text), live status per document, delete, re-index."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from .dashboard import bp, current_company, owned
from .documents import accept_upload, delete_document, request_reindex
from .errors import ApiError
from .extensions import db
from .models import Document

MAX_TITLE = 255


def document_json(document: Document) -> dict:
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
    documents = db.session.scalars(select(Document).where(Document.company_id == company.id)
                                   .order_by(Document.created_at.desc())).all()
    return render_template("dashboard/knowledge.html", company=company, documents=documents,
                           active_page="knowledge")


@bp.get("/knowledge/documents.json")
def documents_json():
    company = current_company()
    documents = db.session.scalars(select(Document).where(Document.company_id == company.id)
                                   .order_by(Document.created_at.desc())).all()
    return jsonify({"documents": [document_json(d) for d in documents]})


def _accept(company, data: bytes, filename: str, title: str) -> dict:
    try:
        document, created = accept_upload(company, data, filename, title)
    except ApiError as err:
        db.session.rollback()
        return {"filename": filename, "ok": False, "error": err.message}
    return {"filename": filename, "ok": True, "created": created, "document": document_json(document)}


@bp.post("/knowledge/upload")
def upload():
    """Files (field ``files``, several allowed) and/or pasted text (``text_title`` + ``text_content``)."""
    company = current_company()
    results = []
    for upload_file in request.files.getlist("files"):
        if not upload_file or not upload_file.filename:
            continue
        results.append(_accept(company, upload_file.read(), upload_file.filename, upload_file.filename))
    content = (request.form.get("text_content") or "").strip()
    text_title = (request.form.get("text_title") or "").strip()[:MAX_TITLE]
    if content or text_title:
        if not text_title:
            results.append({"filename": "Pasted text", "ok": False, "error": "Give the pasted text a title."})
        elif not content:
            results.append({"filename": text_title, "ok": False, "error": "The pasted text is empty."})
        else:
            filename = text_title if text_title.lower().endswith((".txt", ".md")) else f"{text_title}.txt"
            results.append(_accept(company, content.encode("utf-8"), filename, text_title))
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
        request_reindex(document)
        flash(f"Re-indexing {document.title}.", "success")
    return redirect(url_for("dashboard.knowledge"))


@bp.post("/knowledge/<document_id>/delete")
def delete(document_id: str):
    company = current_company()
    document = owned(Document, document_id)
    title = document.title
    delete_document(company, document)
    flash(f"Deleted {title}.", "success")
    return redirect(url_for("dashboard.knowledge"))
