"""/api/knowledge/sources/: website sources (a page, a sitemap, a crawl), their pages, sync now, remove."""

from __future__ import annotations

from flask import g, request

from ..infra.extensions import db
from ..schemas import (
    ErrorBody, WebPageList, WebPageQuery, WebSourceIn, WebSourceList, WebSourceOut, web_page_out, web_source_out,
)
from ..services import websites
from .blueprint import bp
from .openapi import responses, spec


@bp.post("/knowledge/sources/")
@spec.validate(json=WebSourceIn, resp=responses(HTTP_200=WebSourceOut, HTTP_202=WebSourceOut), tags=["knowledge"])
def add_source():
    """Import a website: `mode` "page" (that page), "sitemap" (a sitemap or sitemap index, or the
    site's own, found through robots.txt) or "crawl" (links from the URL, same host and path,
    up to `max_pages` pages and `max_depth` clicks). Returns 202 at once; a worker imports it,
    then syncs it every `sync_interval_hours` (default 24). The same URL and mode again returns
    the existing source with 200. Internal addresses are refused (422)."""
    body: WebSourceIn = request.context.json
    source, created = websites.add_source(g.company, body.url, body.mode, max_pages=body.max_pages,
                                          max_depth=body.max_depth, sync_interval_hours=body.sync_interval_hours)
    db.session.commit()
    return web_source_out(source), 202 if created else 200


@bp.get("/knowledge/sources/")
@spec.validate(resp=responses(HTTP_200=WebSourceList), tags=["knowledge"])
def list_sources():
    """The company's website sources, newest first, with their sync progress."""
    sources = websites.company_sources(g.company.id)
    return WebSourceList(sources=[web_source_out(s) for s in sources], total=len(sources))


@bp.get("/knowledge/sources/<source_id>/")
@spec.validate(resp=responses(HTTP_200=WebSourceOut, HTTP_404=ErrorBody), tags=["knowledge"])
def get_source(source_id: str):
    """One source: status (queued/syncing/idle/failed), pages found/done/unchanged/failed, last and next sync."""
    return web_source_out(websites.owned_source(g.company.id, source_id))


@bp.get("/knowledge/sources/<source_id>/pages/")
@spec.validate(query=WebPageQuery, resp=responses(HTTP_200=WebPageList, HTTP_404=ErrorBody), tags=["knowledge"])
def list_source_pages(source_id: str):
    """The source's pages and what its syncs did with each (with the reason when skipped or failed)."""
    source = websites.owned_source(g.company.id, source_id)
    query: WebPageQuery = request.context.query
    pages, total = websites.source_pages(source, query.status, query.per_page, (query.page - 1) * query.per_page)
    return WebPageList(source_id=source.id, pages=[web_page_out(p) for p in pages], page=query.page,
                       per_page=query.per_page, total=total)


@bp.post("/knowledge/sources/<source_id>/sync/")
@spec.validate(resp=responses(HTTP_202=WebSourceOut, HTTP_404=ErrorBody), tags=["knowledge"])
def sync_source(source_id: str):
    """Sync now (a no-op while a sync is queued or running)."""
    source = websites.owned_source(g.company.id, source_id)
    websites.request_sync(source)
    db.session.commit()
    return web_source_out(source), 202


@bp.delete("/knowledge/sources/<source_id>/")
@spec.validate(resp=responses(HTTP_202=None, HTTP_404=ErrorBody), tags=["knowledge"])
def remove_source(source_id: str):
    """Remove a source and all its documents (at once from the lists; its documents within moments)."""
    websites.request_removal(websites.owned_source(g.company.id, source_id))
    db.session.commit()
    return "", 202
