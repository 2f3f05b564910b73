"""Helpers for tests and benchmarks: fill a knowledge base without parsing or embedding.

Not used by the engine itself; importing it loads nothing the engine does not already load.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .store import ChunkStore, DocumentRecord
from .tenants import validate_tenant


def bulk_insert_vectors(store: ChunkStore, tenant_id: str, document_id: str, title: str,
                        items: Iterable[tuple[str, str, Sequence[float]]]) -> int:
    """Write precomputed (node_id, text, embedding) rows as one document through the store's own write path.

    The registry's content hash is the hash of the texts written, as for a pasted text.
    """
    from llama_index.core.schema import TextNode

    validate_tenant(tenant_id)
    nodes = [
        TextNode(id_=node_id, text=text, embedding=list(embedding),
                 metadata={"tenant_id": tenant_id, "document_id": document_id, "title": title, "chunk_index": i})
        for i, (node_id, text, embedding) in enumerate(items)
    ]
    content_hash = hashlib.sha256("\n\n".join(node.text for node in nodes).encode("utf-8")).hexdigest()
    store.replace_document(DocumentRecord(document_id, tenant_id, title, "text", content_hash, len(nodes)), nodes)
    return len(nodes)


@contextlib.contextmanager
def scratch_database(env_var: str, prefix: str = "pgscratch-") -> Iterator[str]:
    """The SQLAlchemy URL in ``env_var`` if set, else an embedded PostgreSQL in a temporary directory
    that is stopped and removed afterwards."""
    url = os.environ.get(env_var)
    if url:
        yield url
        return
    from .database import embedded_server, sqlalchemy_url

    base = Path(tempfile.mkdtemp(prefix=prefix))
    server = embedded_server(base / "pgdata")
    try:
        yield sqlalchemy_url(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)
