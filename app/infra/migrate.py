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
