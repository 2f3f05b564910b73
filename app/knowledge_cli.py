"""`flask --app app knowledge …`: website sources from the command line.

    flask --app app knowledge import-url acme https://help.acme.example/ --crawl --max-pages 500
    flask --app app knowledge import-url acme https://acme.example/sitemap.xml --sitemap --wait
    flask --app app knowledge sources acme
    flask --app app knowledge sync acme <source id>
    flask --app app knowledge remove-source acme <source id>
    flask --app app knowledge sync-due            # queue every sync that is due (for cron)

Syncs run on the crawl queue: start a worker for it with `flask --app app worker --queue crawl`.
"""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .domain_errors import DomainError
from .infra.extensions import db
from .infra.models import Company, KnowledgeSource
from .services import websites

knowledge = AppGroup("knowledge", help="Website sources of knowledge: import, list, sync, remove.")


def _company(slug: str) -> Company:
    company = db.session.scalars(select(Company).where(Company.slug == slug)).first()
    if company is None:
        raise click.ClickException(f"No company with slug {slug!r}")
    return company


def _describe(source: KnowledgeSource) -> str:
    synced = source.last_synced_at.strftime("%Y-%m-%d %H:%M") if source.last_synced_at else "never"
    upcoming = source.next_sync_at.strftime("%Y-%m-%d %H:%M") if source.next_sync_at else "—"
    return (f"{source.id}  {source.mode:7} {source.status:8} pages={source.page_count} "
            f"found={source.pages_found} done={source.pages_done} unchanged={source.pages_unchanged} "
            f"failed={source.pages_failed}  last={synced} next={upcoming}  {source.url}"
            + (f"\n    {source.last_error}" if source.last_error else ""))


@knowledge.command("import-url")
@click.argument("slug")
@click.argument("url")
@click.option("--sitemap", "mode", flag_value="sitemap", help="Import the pages a sitemap (or sitemap index) lists.")
@click.option("--crawl", "mode", flag_value="crawl", help="Follow links from the URL (same host and path).")
@click.option("--page", "mode", flag_value="page", default=True, help="Only this page (the default).")
@click.option("--max-pages", default=200, show_default=True, type=int)
@click.option("--max-depth", default=3, show_default=True, type=int)
@click.option("--sync-every", "sync_interval_hours", type=int, default=None,
              help="Hours between syncs (0: only when asked; default WEB_SYNC_INTERVAL_HOURS or 24).")
@click.option("--wait", is_flag=True, help="Wait for the first sync to finish (a crawl worker must be running).")
def import_url(slug: str, url: str, mode: str, max_pages: int, max_depth: int, sync_interval_hours, wait: bool):
    """Add a website source to a company and queue its first sync."""
    company = _company(slug)
    try:
        source, created = websites.add_source(company, url, mode, max_pages=max_pages, max_depth=max_depth,
                                              sync_interval_hours=sync_interval_hours)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    if not created:
        websites.request_sync(source)
    db.session.commit()
    click.echo(f"{'Added' if created else 'Syncing again'}: {source.id} ({source.mode}) {source.url}")
    if wait:
        _wait(source.id)


def _wait(source_id: str, timeout: float = 6 * 3600) -> None:
    deadline, shown = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        db.session.expire_all()
        source = db.session.get(KnowledgeSource, source_id)
        line = f"{source.status}: found {source.pages_found}, done {source.pages_done}, " \
               f"unchanged {source.pages_unchanged}, failed {source.pages_failed}"
        if line != shown:
            click.echo(line)
            shown = line
        if source.status in ("idle", "failed"):
            click.echo(_describe(source))
            if source.status == "failed":
                raise click.ClickException(source.last_error or "The sync failed")
            return
        time.sleep(1.0)
    raise click.ClickException("Still syncing; see `flask --app app knowledge sources`")


@knowledge.command("sources")
@click.argument("slug")
def list_sources(slug: str):
    """A company's website sources with their last sync."""
    for source in websites.company_sources(_company(slug).id):
        click.echo(_describe(source))


@knowledge.command("sync")
@click.argument("slug")
@click.argument("source_id")
@click.option("--wait", is_flag=True)
def sync(slug: str, source_id: str, wait: bool):
    """Sync a source now."""
    try:
        source = websites.owned_source(_company(slug).id, source_id)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    queued = websites.request_sync(source)
    db.session.commit()
    click.echo("Sync queued" if queued else f"Already {source.status}")
    if wait:
        _wait(source.id)


@knowledge.command("remove-source")
@click.argument("slug")
@click.argument("source_id")
def remove_source(slug: str, source_id: str):
    """Remove a source and all its documents."""
    try:
        source = websites.owned_source(_company(slug).id, source_id)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    websites.request_removal(source)
    db.session.commit()
    click.echo(f"Removing {source.url} and its documents")


@knowledge.command("sync-due")
def sync_due():
    """Queue every source whose scheduled sync is due (crawl workers also do this every minute)."""
    count = websites.schedule_due_syncs()
    db.session.commit()
    click.echo(f"Queued {count} syncs")
