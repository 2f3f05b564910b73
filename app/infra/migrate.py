"""The database schema brought up to date (Alembic migrations), once across concurrent processes."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from .extensions import db


def ensure_schema(app: Flask) -> None:
    with app.app_context():
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(hashtext('support-agent-migrations'))"))
            try:
                upgrade(directory=app.extensions["migrate"].directory)
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext('support-agent-migrations'))"))
                conn.commit()


def schema_is_current(app: Flask) -> bool:
    """Whether the database is at the migrations' head (False on a fresh database: no tables yet)."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    extension = app.extensions["migrate"]
    heads = set(ScriptDirectory.from_config(extension.migrate.get_config(extension.directory)).get_heads())
    with app.app_context(), db.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == heads
