"""Shared fixtures: a real PostgreSQL + pgvector (embedded unless TEST_DATABASE_URL is set),
the real offline embedding model, and a fresh knowledge base (its own tables) per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def postgres_url():
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    from rag_engine.database import embedded_server, sqlalchemy_url

    base = Path(tempfile.mkdtemp(prefix="pgtest-"))
    server = embedded_server(base / "pgdata")
    yield sqlalchemy_url(server.get_uri())
    server.cleanup()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def embed_model():
    from rag_engine.embeddings import LocalMiniLMEmbedding

    return LocalMiniLMEmbedding()


@pytest.fixture
def make_kb(postgres_url, embed_model):
    """Build KnowledgeBases on fresh tables: make_kb(llm=..., top_k=...)."""
    from rag_engine import KnowledgeBase, Settings
    from rag_engine.embeddings import MINILM_DIM, MINILM_NAME

    made = []

    def factory(table_name=None, llm=None, **overrides):
        settings = Settings(database_url=postgres_url, table_name=table_name or f"t{uuid.uuid4().hex[:12]}")
        if overrides:
            settings = settings.with_overrides(**overrides)
        kb = KnowledgeBase(settings, embed_model=embed_model, embed_model_id=MINILM_NAME, embed_dim=MINILM_DIM,
                           llm=llm)
        made.append(kb)
        return kb

    yield factory
    for kb in made:
        kb.close()


@pytest.fixture
def kb(make_kb):
    return make_kb()
