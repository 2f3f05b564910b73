"""The embedded servers (no DATABASE_URL / REDIS_URL), started on first use rather than when the app is built.

Building the app must be cheap: ``flask --app app --help`` builds it to list the commands and should
neither start PostgreSQL nor Redis (it took 12 s and printed their logs). So the app's engine
connects through a ``creator`` that starts (or joins) the embedded PostgreSQL at its first
connection, and its Redis client through a connection class that starts (or joins) the embedded
Redis at its first connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import redis
from flask import Flask

from rag_engine.database import embedded_server, resolve_database_url

PLACEHOLDER_URI = "postgresql+psycopg2://"  # the dialect; the connection comes from the creator


def is_embedded_database(app: Flask) -> bool:
    return app.config.get("SQLALCHEMY_DATABASE_URI") == PLACEHOLDER_URI


def database_url(app: Flask) -> str:
    """The real SQLAlchemy URL of the app's database (starting the embedded server if that is it)."""
    if is_embedded_database(app):
        return resolve_database_url(None, app.config["DATA_DIR"])
    return app.config["SQLALCHEMY_DATABASE_URI"]


def postgres_creator(data_dir: Path) -> Callable:
    """A DBAPI connect function for SQLAlchemy that starts the embedded PostgreSQL the first time."""
    def connect():
        import psycopg2

        return psycopg2.connect(embedded_server(Path(data_dir) / "pgdata").get_uri())

    return connect


def redis_client(data_dir: Path, **options) -> redis.Redis:
    """A client of the data directory's embedded Redis, which it starts (or joins) when it first connects."""
    from .embedded_redis import EmbeddedRedis, embedded_redis

    folder = Path(data_dir).expanduser().resolve()

    class EmbeddedConnection(redis.UnixDomainSocketConnection):
        def connect(self):
            embedded_redis(folder)  # once per process; cheap afterwards
            return super().connect()

    pool = redis.ConnectionPool(connection_class=EmbeddedConnection, path=str(EmbeddedRedis(folder).socket),
                                **options)
    return redis.Redis(connection_pool=pool)
