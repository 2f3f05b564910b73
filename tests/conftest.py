"""Shared fixtures: a real PostgreSQL + pgvector (embedded unless TEST_DATABASE_URL is set),
the real offline embedding model, and a fresh knowledge base (its own tables) per test.

The suite runs in parallel (pytest-xdist, ``-n 2 --dist loadfile`` in pyproject.toml: a test
module stays on one worker). Each worker has its own embedded servers; with TEST_REDIS_URL, each
worker uses its own Redis database number, so flushing one worker's Redis never touches another's.
"""

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
    from rag_engine.testing import scratch_database

    with scratch_database("TEST_DATABASE_URL", prefix="pgtest-") as url:
        yield url


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


# ----------------------------------------------------------------------------- the Flask app
def worker_number() -> int:
    """0 for the first (or only) pytest process, 1 for xdist's gw1, …"""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)


def redis_url_of_this_worker(url: str) -> str:
    """TEST_REDIS_URL with this worker's database number (redis://host:port/<n>, unix://path?db=<n>)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query), db=str(worker_number()))
        return urlunsplit(parts._replace(query=urlencode(query)))
    return urlunsplit(parts._replace(path=f"/{worker_number()}"))


@pytest.fixture(scope="session")
def redis_conn():
    """A real Redis: the app's embedded one (app/infra/embedded_redis.py) unless TEST_REDIS_URL is set.
    The embedded server stops when the run ends (even a killed run: its watcher stops it)."""
    import redis

    url = os.environ.get("TEST_REDIS_URL")
    server = None
    if url:
        conn = redis.Redis.from_url(redis_url_of_this_worker(url))
    else:
        from app.infra.embedded_redis import embedded_redis

        base = Path(tempfile.mkdtemp(prefix="redistest-"))
        server = embedded_redis(base)
        conn = redis.Redis(unix_socket_path=str(server.socket))
        conn.socket_file = str(server.socket)  # where worker subprocesses find it
    yield conn
    conn.flushdb()
    conn.close()
    if server is not None:
        server.release()
        shutil.rmtree(server.dir, ignore_errors=True)


def database_url_for(admin_url: str, name: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _admin_execute(admin_url: str, statement: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()


@pytest.fixture(scope="session")
def app_template_db(postgres_url, redis_conn, tmp_path_factory):
    """A database with the app's migrations applied, copied for each test (CREATE DATABASE … TEMPLATE)."""
    from app import create_app
    from app.infra.migrate import ensure_schema

    name = f"app_template_{uuid.uuid4().hex[:8]}"
    _admin_execute(postgres_url, f"CREATE DATABASE {name}")
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url_for(postgres_url, name),
                      "REDIS_CONNECTION": redis_conn, "DATA_DIR": tmp_path_factory.mktemp("tmpl"),
                      "SECRET_KEY": "test"})
    ensure_schema(app)
    with app.app_context():
        from app.infra.extensions import db

        db.engine.dispose()
    yield name
    _admin_execute(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def app(postgres_url, app_template_db, redis_conn, embed_model, tmp_path):
    """A fresh app on its own database (copied from the migrated template) and an empty Redis."""
    from app import create_app
    from rag_engine import KnowledgeBase, Settings
    from rag_engine.embeddings import MINILM_DIM, MINILM_NAME
    from workers.context import set_app

    name = f"test_{uuid.uuid4().hex[:12]}"
    _admin_execute(postgres_url, f"CREATE DATABASE {name} TEMPLATE {app_template_db}")
    url = database_url_for(postgres_url, name)
    redis_conn.flushdb()
    kb = KnowledgeBase(Settings(database_url=url), embed_model=embed_model, embed_model_id=MINILM_NAME,
                       embed_dim=MINILM_DIM)
    app = create_app({
        "TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": url, "REDIS_CONNECTION": redis_conn,
        "DATA_DIR": tmp_path, "UPLOAD_DIR": tmp_path / "uploads", "KNOWLEDGE_BASE": kb,
        "RATELIMIT_STORAGE_URI": "memory://", "WTF_CSRF_ENABLED": False, "API_RATE_LIMIT": "1000/minute",
        "PUBLIC_BASE_URL": "https://support.example.com",
        "WORKER_NICE": 0,  # workers run in the test runner's own thread here: niced, the rest of the suite would crawl
    })
    set_app(app)
    yield app
    set_app(None)
    kb.close()
    with app.app_context():
        from app.infra.extensions import db

        db.session.remove()
        db.engine.dispose()
    _admin_execute(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_company(app):
    """make_company("Acme Corp") -> (company_id, api_key, auth headers)."""
    from app.services.companies import create_company

    def factory(name="Acme Corp", **settings):
        with app.app_context():
            from app.infra.extensions import db

            company, key = create_company(name)
            for field, value in settings.items():
                setattr(company, field, value)
            db.session.commit()
            return company.id, key, {"Authorization": f"Bearer {key}"}

    return factory


def burst_runner(app, redis_conn, queue_names):
    """A function that runs the jobs queued on ``queue_names`` to completion in this process (a real RQ
    SimpleWorker, burst mode)."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from app.infra.queues import get_queue

    def run():
        with app.app_context():
            queues = [get_queue(name, redis_conn) for name in queue_names]
        SimpleWorker(queues, connection=redis_conn, serializer=JSONSerializer).work(burst=True, logging_level="WARNING")

    return run


@pytest.fixture
def run_jobs(app, redis_conn):
    """Run every queued job (ingest, answer, outbound) to completion in this process."""
    from app.infra.queues import QUEUE_NAMES

    return burst_runner(app, redis_conn, QUEUE_NAMES)
