"""Knowledge page, websites: add a page, a sitemap or a crawl; live progress; sync now; remove; a source's pages."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for

from ..domain_errors import DomainError
from ..infra.extensions import db
from ..services import websites
from .blueprint import bp, current_company

MODE_LABELS = {"page": "Single page", "sitemap": "Sitemap", "crawl": "Crawl"}
SOURCE_LABELS = {"queued": "Queued", "syncing": "Syncing", "idle": "Synced", "failed": "Failed",
                 "removing": "Removing"}
PAGE_LABELS = {"created": "Added", "replaced": "Updated", "unchanged": "Unchanged", "missing": "Missing",
               "skipped": "Skipped", "failed": "Failed"}
BADGES = {"queued": "pending", "syncing": "processing", "idle": "completed", "failed": "failed",
          "created": "completed", "replaced": "completed", "unchanged": "plain", "missing": "pending",
          "skipped": "plain", "failed_page": "failed"}
INTERVALS = {"24": "Every day", "168": "Every week", "0": "Only when I ask"}
PAGES_SHOWN = 500


def source_json(source) -> dict:
    return {"id": source.id, "url": source.url, "mode": source.mode, "status": source.status,
            "status_label": SOURCE_LABELS.get(source.status, source.status),
            "pages_found": source.pages_found, "pages_done": source.pages_done,
            "pages_changed": source.pages_changed, "pages_unchanged": source.pages_unchanged,
            "pages_failed": source.pages_failed, "page_count": source.page_count, "last_error": source.last_error}


def _int(name: str, default: int) -> int:
    try:
        return int(request.form.get(name) or default)
    except ValueError:
        return -1


@bp.get("/knowledge/sources.json")
def sources_json():
    return jsonify({"sources": [source_json(s) for s in websites.company_sources(current_company().id)]})


@bp.post("/knowledge/sources")
def add_source():
    company = current_company()
    try:
        source, created = websites.add_source(
            company, request.form.get("url") or "", request.form.get("mode") or "page",
            max_pages=_int("max_pages", 200), max_depth=_int("max_depth", 3),
            sync_interval_hours=_int("sync_interval_hours", 24))
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("dashboard.knowledge") + "#websites")
    db.session.commit()
    flash(f"Importing {source.url} — pages appear as they are read." if created
          else f"{source.url} is already a source.", "success" if created else "info")
    return redirect(url_for("dashboard.knowledge") + "#websites")


@bp.post("/knowledge/sources/<source_id>/sync")
def sync_source(source_id: str):
    source = websites.owned_source(current_company().id, source_id)
    queued = websites.request_sync(source)
    db.session.commit()
    flash(f"Syncing {source.url}." if queued else f"{source.url} is already being synced.", "success" if queued else "info")
    return redirect(request.referrer or url_for("dashboard.knowledge"))


@bp.post("/knowledge/sources/<source_id>/delete")
def remove_source(source_id: str):
    source = websites.owned_source(current_company().id, source_id)
    websites.request_removal(source)
    db.session.commit()
    flash(f"Removed {source.url} and its pages.", "success")
    return redirect(url_for("dashboard.knowledge") + "#websites")


@bp.get("/knowledge/sources/<source_id>")
def source_pages(source_id: str):
    company = current_company()
    source = websites.owned_source(company.id, source_id)
    status = request.args.get("status") if request.args.get("status") in PAGE_LABELS else None
    pages, total = websites.source_pages(source, status, PAGES_SHOWN)
    return render_template("dashboard/source.html", company=company, source=source, pages=pages, total=total, status=status,
                           shown=PAGES_SHOWN, active_page="knowledge", **labels())


def labels() -> dict:
    return {"MODE_LABELS": MODE_LABELS, "SOURCE_LABELS": SOURCE_LABELS, "PAGE_LABELS": PAGE_LABELS,
            "SOURCE_BADGES": BADGES, "SYNC_INTERVALS": INTERVALS}
