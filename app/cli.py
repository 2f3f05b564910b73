"""`flask --app app …` commands: companies, users, queues."""

from __future__ import annotations

import functools
import logging

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from .domain_errors import ChannelTaken
from .infra.extensions import db
from .infra.models import ApiKey, Company, Document, User
from .services import channel_addresses
from .services.companies import create_company

companies = AppGroup("companies", help="Create and configure companies (tenants).")
users = AppGroup("users", help="Create staff users.")
queues_cli = AppGroup("queues", help="Queue health and failed jobs.")


def needs_schema(command):
    """Commands that read or write the tables: on the embedded database (no DATABASE_URL) the schema is
    created or upgraded first; on a configured database, a one-line hint says what to run."""
    @functools.wraps(command)
    def wrapped(*args, **kwargs):
        from flask import current_app

        from .infra.embedded import is_embedded_database
        from .infra.migrate import ensure_schema, schema_is_current

        app = current_app._get_current_object()
        if not schema_is_current(app):
            if not is_embedded_database(app):
                raise click.ClickException("The database has no (or an older) schema: run "
                                           "`flask --app app init-db` first.")
            click.echo("Preparing the embedded database (first run)…", err=True)
            logging.getLogger("alembic").setLevel(logging.WARNING)
            ensure_schema(app)
        return command(*args, **kwargs)

    return wrapped


def company_by_slug(slug: str) -> Company:
    company = db.session.scalars(select(Company).where(Company.slug == slug)).first()
    if company is None:
        raise click.ClickException(f"No company with slug {slug!r}")
    return company


@companies.command("create")
@click.argument("name")
@needs_schema
def companies_create(name: str) -> None:
    """Create a company; prints its new API key alone on the last line (shown once)."""
    if not name.strip():
        raise click.ClickException("The company name is empty")
    company, key = create_company(name)
    db.session.commit()
    click.echo(f"Created company {company.name!r} (slug: {company.slug}, id: {company.id})")
    click.echo(f"Widget key (public): {company.widget_key}")
    address = channel_addresses.platform_address(company)
    if address:
        click.echo(f"Inbound email address: {address}")
    click.echo("API key (shown once, store it now):")
    click.echo(key)


@companies.command("list")
@needs_schema
def companies_list() -> None:
    for company in db.session.scalars(select(Company).order_by(Company.created_at)):
        click.echo(f"{company.slug}\t{company.name}\t{company.id}")


@companies.command("set")
@click.argument("slug")
@click.option("--name")
@click.option("--personality")
@click.option("--fallback-message")
@click.option("--whatsapp-number", help="e.g. whatsapp:+14155238886 ('' for none: the platform default)")
@click.option("--twilio-account-sid")
@click.option("--twilio-auth-token")
@click.option("--inbound-email", help="a custom address customers write to, e.g. support@acme.example, taken as "
                                     "proven (staff must prove one set in settings)")
@click.option("--postmark-token", "postmark_server_token")
@click.option("--postmark-from", "postmark_from_email", help="the sender address of replies")
@click.option("--allowed-origin", "allowed_origins", multiple=True, help="origin allowed to use the widget/chat API")
@needs_schema
def companies_set(slug: str, **values) -> None:
    """Set a company's AI and channel settings (credentials are never printed)."""
    company = company_by_slug(slug)
    origins = values.pop("allowed_origins")
    if origins:
        company.allowed_origins = [o.rstrip("/") for o in origins]
    changed = [k for k, v in values.items() if v is not None]
    try:  # a number or address another company (or the platform) uses is refused here too
        if values["whatsapp_number"] is not None:
            channel_addresses.set_whatsapp_number(company, values.pop("whatsapp_number"))
        if values["inbound_email"] is not None:  # the operator's word is the proof
            channel_addresses.set_inbound_address(company, values.pop("inbound_email"))
    except ChannelTaken as err:
        raise click.ClickException(err.message) from None
    for key, value in values.items():
        if value is not None:
            setattr(company, key, value)
    db.session.commit()
    click.echo(f"Updated {company.slug}: {', '.join(changed + (['allowed_origins'] if origins else [])) or 'nothing'}")


@companies.command("api-key")
@click.argument("slug")
@click.option("--name", default="cli")
@needs_schema
def companies_api_key(slug: str, name: str) -> None:
    """Issue another API key; prints it alone on the last line."""
    _, key = ApiKey.issue(company_by_slug(slug), name)
    db.session.commit()
    click.echo(key)


@companies.command("reindex")
@click.argument("slug")
@needs_schema
def companies_reindex(slug: str) -> None:
    """Queue every document of a company for ingestion again (e.g. after changing the embedding model)."""
    from .services.uploads import request_reindex

    company = company_by_slug(slug)
    documents = db.session.scalars(select(Document).where(Document.company_id == company.id)).all()
    for document in documents:
        request_reindex(document)
    from .services.websites import company_sources, request_sync

    sources = [source for source in company_sources(company.id) if request_sync(source)]
    db.session.commit()  # the ingestion jobs are queued now
    click.echo(f"Queued {len(documents)} documents of {company.slug} for re-indexing"
               + (f", and {len(sources)} website sources for a sync" if sources else ""))


@users.command("create")
@click.option("--company", "slug", required=True)
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(["owner", "agent"]), default="owner", show_default=True)
@needs_schema
def users_create(slug: str, email: str, password: str, role: str) -> None:
    """Create a staff user who can log in to the dashboard."""
    if len(password) < 8:
        raise click.ClickException("The password must have at least 8 characters")
    email = email.strip().lower()
    if db.session.scalars(select(User).where(User.email == email)).first() is not None:
        raise click.ClickException(f"A user with email {email} already exists")
    user = User(company_id=company_by_slug(slug).id, email=email, role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {role} {email}")


@queues_cli.command("health")
def queues_health() -> None:
    """Jobs waiting, running, scheduled and failed per queue, and the workers alive."""
    from rq import Worker

    from .infra.queues import CRAWL_QUEUES, QUEUE_NAMES, connection, get_queue

    for name in QUEUE_NAMES + CRAWL_QUEUES:
        q = get_queue(name)
        click.echo(f"{name:9} queued={q.count} started={q.started_job_registry.count} "
                   f"scheduled={q.scheduled_job_registry.count} failed={q.failed_job_registry.count}")
    workers = Worker.all(connection=connection())
    click.echo(f"workers={len(workers)} " + " ".join(f"{w.name}({w.get_state()})" for w in workers))


@queues_cli.command("failed")
@click.option("--requeue", is_flag=True, help="Queue the failed jobs again.")
def queues_failed(requeue: bool) -> None:
    """List failed jobs with their reason."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from .infra.queues import CRAWL_QUEUES, QUEUE_NAMES, connection, get_queue

    for name in QUEUE_NAMES + CRAWL_QUEUES:
        registry = get_queue(name).failed_job_registry
        for job_id in registry.get_job_ids():
            job = Job.fetch(job_id, connection=connection(), serializer=JSONSerializer)
            reason = (job.latest_result().exc_string.strip().splitlines() or ["?"])[-1] if job.latest_result() else "?"
            click.echo(f"{name}\t{job_id}\t{reason}")
            if requeue:
                registry.requeue(job_id)


@click.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from flask import current_app

    from .infra.migrate import ensure_schema

    ensure_schema(current_app._get_current_object())
    click.echo("Database schema is up to date")


def register_cli(app: Flask) -> None:
    app.cli.add_command(companies)
    app.cli.add_command(users)
    app.cli.add_command(queues_cli)
    app.cli.add_command(init_db)
    from .knowledge_cli import knowledge

    app.cli.add_command(knowledge)
