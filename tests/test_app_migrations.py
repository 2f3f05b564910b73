"""The app's Alembic migrations: they build what the models describe, and the document registry move goes both ways."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa


def test_the_migrations_build_what_the_models_describe(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.infra.extensions import db

    def the_apps(name, kind, parent):  # the engine's tables live in the same database
        return kind != "table" or name in db.metadata.tables

    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": the_apps})
        assert compare_metadata(context, db.metadata) == []


def test_content_facts_come_back_from_the_engine_registry_on_downgrade(app, client, make_company, run_jobs):
    from flask_migrate import downgrade, upgrade

    from app.infra.extensions import db

    _, _, headers = make_company()
    content = "Gift cards never expire."
    doc = client.post("/api/knowledge/documents/upload/", headers=headers,
                      json={"title": "Gift cards", "content": content}).get_json()
    run_jobs()
    with app.app_context():
        directory = app.extensions["migrate"].directory
        db.session.remove()
        downgrade(directory=directory, revision="d4ed3001b377")
        with db.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT source_type, content_hash, chunk_count FROM documents WHERE id = :id"),
                               {"id": doc["id"]}).one()
        assert tuple(row) == ("text", hashlib.sha256(content.encode()).hexdigest(), 1)
        upgrade(directory=directory)
    assert client.get(f"/api/knowledge/documents/{doc['id']}/", headers=headers).get_json()["chunk_count"] == 1
