"""What the engine remembers about each imported page, to sync it later: validators for
conditional requests (ETag, Last-Modified), the document it became, its depth and links (a page
answered "304 Not Modified" is still crawled through), and how many syncs in a row found it gone.

One table beside the chunk store's (``<table>_web_pages``); every statement filters on the
tenant as a bound parameter. A source is locked while it syncs (a PostgreSQL advisory lock held
by a connection: released if the process dies), so two workers never sync it at once.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, Iterator, List, Optional

import sqlalchemy as sa

from ..tenants import validate_tenant
from .errors import SyncInProgressError

COLUMNS = ("url", "document_id", "title", "kind", "etag", "last_modified", "depth", "links", "misses", "status",
           "reason", "fetched_at", "changed_at")


@dataclass
class PageRecord:
    url: str
    document_id: Optional[str] = None  # None until the page was ingested
    title: str = ""
    kind: str = "html"
    etag: Optional[str] = None
    last_modified: Optional[str] = None
    depth: int = 0
    links: List[str] = field(default_factory=list)
    misses: int = 0  # syncs in a row that found it gone (404/410)
    status: str = ""
    reason: str = ""
    fetched_at: Optional[datetime] = None
    changed_at: Optional[datetime] = None


class PageState:
    def __init__(self, engine: sa.Engine, table_name: str):
        self.engine = engine
        self.table = f"{table_name}_web_pages"
        self._ready = False

    def setup(self) -> None:
        if self._ready:
            return
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"rag_engine:{self.table}"})
            conn.execute(sa.text(
                f"""CREATE TABLE IF NOT EXISTS {self.table} (
                    tenant_id varchar(64) NOT NULL,
                    source_id varchar(128) NOT NULL,
                    url text NOT NULL,
                    document_id varchar(128),
                    title text NOT NULL DEFAULT '',
                    kind varchar(16) NOT NULL DEFAULT 'html',
                    etag text,
                    last_modified text,
                    depth integer NOT NULL DEFAULT 0,
                    links jsonb NOT NULL DEFAULT '[]',
                    misses integer NOT NULL DEFAULT 0,
                    status varchar(16) NOT NULL DEFAULT '',
                    reason text NOT NULL DEFAULT '',
                    fetched_at timestamptz,
                    changed_at timestamptz,
                    PRIMARY KEY (tenant_id, source_id, url))"""))
        self._ready = True

    def pages(self, tenant_id: str, source_id: str) -> Dict[str, PageRecord]:
        validate_tenant(tenant_id)
        self.setup()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(
                f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE tenant_id = :t AND source_id = :s "
                f"ORDER BY depth, url"), {"t": tenant_id, "s": source_id}).mappings().all()
        return {row["url"]: PageRecord(**{**row, "links": list(row["links"] or [])}) for row in rows}

    def save(self, tenant_id: str, source_id: str, record: PageRecord) -> None:
        validate_tenant(tenant_id)
        self.setup()
        values = {k: getattr(record, k) for k in COLUMNS}
        values["links"] = json.dumps(record.links or [])
        values.update(t=tenant_id, s=source_id)
        names = ", ".join(COLUMNS)
        params = ", ".join(f"CAST(:{k} AS jsonb)" if k == "links" else f":{k}" for k in COLUMNS)
        updates = ", ".join(f"{k} = excluded.{k}" for k in COLUMNS if k != "url")
        with self.engine.begin() as conn:
            conn.execute(sa.text(
                f"INSERT INTO {self.table} (tenant_id, source_id, {names}) VALUES (:t, :s, {params}) "
                f"ON CONFLICT (tenant_id, source_id, url) DO UPDATE SET {updates}"), values)

    def forget(self, tenant_id: str, source_id: str, url: str) -> None:
        validate_tenant(tenant_id)
        self.setup()
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DELETE FROM {self.table} WHERE tenant_id = :t AND source_id = :s AND url = :u"),
                         {"t": tenant_id, "s": source_id, "u": url})

    def sources(self, tenant_id: str) -> Dict[str, int]:
        """{source id: pages} of a tenant."""
        validate_tenant(tenant_id)
        self.setup()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(
                f"SELECT source_id, count(*) AS n FROM {self.table} WHERE tenant_id = :t GROUP BY source_id "
                f"ORDER BY source_id"), {"t": tenant_id}).all()
        return {row.source_id: int(row.n) for row in rows}

    @contextmanager
    def lock(self, tenant_id: str, source_id: str, *, wait: bool = False, timeout: float = 120.0) -> Iterator[None]:
        """Hold the source's lock: at once (else SyncInProgressError), or waiting up to ``timeout`` seconds."""
        validate_tenant(tenant_id)
        key = {"t": tenant_id, "s": source_id}
        with self.engine.connect() as conn:
            if wait:
                conn.execute(sa.text(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'"))
                try:
                    conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:t), hashtext(:s))"), key)
                except sa.exc.OperationalError:
                    raise SyncInProgressError() from None
                finally:
                    conn.commit()
            else:
                got = conn.execute(sa.text("SELECT pg_try_advisory_lock(hashtext(:t), hashtext(:s))"), key).scalar()
                conn.commit()
                if not got:
                    raise SyncInProgressError()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:t), hashtext(:s))"), key)
                conn.commit()
