"""The store layer: every SQL statement of the engine lives in this package.

Chunks live in one shared LlamaIndex ``PGVectorStore`` table, which owns that table's schema so
notebook users can point LlamaIndex at it too. Reads and writes go through our own
parameterised SQL because PGVectorStore 0.9 pastes filter values into its SQL text, deletes by
document id across tenants, and commits each add on its own (no atomic replace). Every statement
binds the tenant id and filters on it with ``Tables.of_tenant``.

    tables.py     table names (validated) · the tenant predicate · row types
    schema.py     DDL and the versioned schema changes, run once per store
    documents.py  the registry and writes: replace (atomic), delete, postings
    search.py     vector search (exact or HNSW), BM25 text search, term statistics
"""

from __future__ import annotations

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import JSONB

from .documents import DocumentIdConflictError, DocumentWrites
from .schema import HNSW, TEXT_INDEX_VERSION, Schema, build_vector_store
from .search import BM25_B, BM25_K1, ChunkSearch
from .tables import TEXT_SEARCH_CONFIG, ChunkRow, DocumentRecord, Tables

__all__ = ["ChunkStore", "ChunkRow", "DocumentRecord", "DocumentIdConflictError", "Tables", "BM25_K1", "BM25_B",
           "HNSW", "TEXT_INDEX_VERSION", "TEXT_SEARCH_CONFIG"]


class ChunkStore(DocumentWrites, ChunkSearch):
    """One knowledge base's tables (``table_name`` and the names derived from it), shared by all tenants."""

    def __init__(self, engine: sa.Engine, async_url: str, table_name: str, embed_dim: int, embed_model_id: str,
                 exact_search_max_rows: int = 20000, hnsw_ef_search: int = 100):
        self.engine = engine
        self.tables = Tables(table_name)
        self.embed_dim = embed_dim
        self.embed_model_id = embed_model_id
        self.exact_search_max_rows = exact_search_max_rows
        self.hnsw_ef_search = hnsw_ef_search
        self.iterative_scan = False  # known after setup()
        self._async_url = async_url
        self._vector_store = None
        self.chunk_table = sa.table(
            self.tables.chunks,
            sa.column("id", sa.BigInteger),  # PGVectorStore's serial key (what postings reference)
            sa.column("node_id", sa.String),
            sa.column("text", sa.String),
            sa.column("metadata_", JSONB),
            sa.column("embedding", Vector(embed_dim)),
        )

    # The table names, as earlier versions exposed them (benchmarks and notebooks read them).
    table_name = property(lambda self: self.tables.name)
    chunks = property(lambda self: self.tables.chunks)
    documents = property(lambda self: self.tables.documents)
    meta = property(lambda self: self.tables.meta)
    postings = property(lambda self: self.tables.postings)

    @property
    def vector_store(self):
        """The LlamaIndex PGVectorStore over the chunk table (schema owner; for notebook use)."""
        if self._vector_store is None:
            self._vector_store = build_vector_store(self.engine, self._async_url, self.tables.name, self.embed_dim)
        return self._vector_store

    def setup(self) -> None:
        """Create the tables or bring them up to date (idempotent; concurrent starts wait for each other)."""
        schema = Schema(self.engine, self.tables, self.embed_model_id, self.embed_dim, lambda: self.vector_store)
        self.iterative_scan = schema.migrate()

    def dispose(self) -> None:
        self.engine.dispose()
