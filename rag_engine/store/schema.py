"""The store's schema: created on first use, then changed by versioned steps, each run once.

Chunks live in one shared LlamaIndex ``PGVectorStore`` table (``data_<table>``), which owns its
schema (vector column, HNSW index, generated tsvector column, GIN index) so notebook users can
point LlamaIndex at it too. Beside it: the registry (``<table>_documents``), the BM25 postings
(``<table>_postings``) and a meta table (``<table>_meta``) with the embedding model the store was
built with and, per schema change, the version applied. A start with nothing to change takes
one advisory lock, one read of the meta table and the embedding-model check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from ..errors import EmbeddingMismatchError
from .documents import index_document_text
from .tables import CHUNK_DOCUMENT, TEXT_SEARCH_CONFIG, Tables, scope

log = logging.getLogger(__name__)

HNSW = {"hnsw_m": 16, "hnsw_ef_construction": 64, "hnsw_ef_search": 40, "hnsw_dist_method": "vector_cosine_ops"}


def build_vector_store(engine: sa.Engine, async_url: str, table_name: str, embed_dim: int):
    """The LlamaIndex PGVectorStore over the chunk table (it creates the table on first use)."""
    from llama_index.vector_stores.postgres import PGVectorStore
    from sqlalchemy.ext.asyncio import create_async_engine

    return PGVectorStore(
        engine=engine,
        async_engine=create_async_engine(async_url),  # connects only if used
        table_name=table_name,
        hybrid_search=True,
        text_search_config=TEXT_SEARCH_CONFIG,
        embed_dim=embed_dim,
        use_jsonb=True,
        hnsw_kwargs=dict(HNSW),
        initialization_fail_on_error=True,
    )


@dataclass(frozen=True)
class Change:
    """One step of the schema: applied once, then recorded in the meta table as ``key = version``.

    A new ``version`` of a step runs it again on stores that recorded an older one.
    """

    key: str
    version: str
    apply: Callable[["Schema", sa.Connection], None]


class Schema:
    def __init__(self, engine: sa.Engine, tables: Tables, embed_model_id: str, embed_dim: int,
                 vector_store: Callable[[], object]):
        self.engine = engine
        self.tables = tables
        self.embed_model_id = embed_model_id
        self.embed_dim = embed_dim
        self.vector_store = vector_store

    def migrate(self) -> bool:
        """Bring the store up to date (safe with several processes starting at once).

        Returns whether pgvector has iterative index scans (0.8.0 and later).
        """
        t = self.tables
        key = {"key": f"rag_engine:{t.name}"}
        with self.engine.connect() as lock_conn:
            # One process at a time; the others wait, then find the work done.
            lock_conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:key))"), key)
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
                    conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {t.meta} (key text PRIMARY KEY, value text NOT NULL)"))
                    applied = dict(conn.execute(sa.text(f"SELECT key, value FROM {t.meta}")).all())
                    self._check_embedding_model(conn, applied)
                for change in CHANGES:
                    if applied.get(change.key) != change.version:
                        with self.engine.begin() as conn:
                            change.apply(self, conn)
                            conn.execute(sa.text(
                                f"INSERT INTO {t.meta} (key, value) VALUES (:k, :v) "
                                f"ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
                                {"k": change.key, "v": change.version})
                        log.info("store %s: applied %s %s", t.name, change.key, change.version)
            finally:
                lock_conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:key))"), key)
                lock_conn.commit()
        with self.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
        iterative_scan = tuple(int(p) for p in version.split(".")[:2]) >= (0, 8)
        log.info("chunk store %s ready (pgvector %s, iterative scans: %s)", t.chunks, version, iterative_scan)
        return iterative_scan

    def _check_embedding_model(self, conn, meta: dict) -> None:
        t = self.tables
        if "embed_model" not in meta:
            conn.execute(sa.text(f"INSERT INTO {t.meta} (key, value) VALUES ('embed_model', :m), ('embed_dim', :d)"),
                         {"m": self.embed_model_id, "d": str(self.embed_dim)})
            return
        if meta.get("embed_model") != self.embed_model_id or meta.get("embed_dim") != str(self.embed_dim):
            raise EmbeddingMismatchError(
                f"The knowledge base in table '{t.name}' was built with the embedding model "
                f"{meta.get('embed_model')} ({meta.get('embed_dim')} dimensions), but the configured model is "
                f"{self.embed_model_id} ({self.embed_dim} dimensions). Either set EMBED_PROVIDER/EMBED_MODEL back, "
                f"or re-index: point RAG_TABLE at a new table name and ingest the documents again "
                f"(the Flask app's `flask --app app companies reindex <slug>` does this per company)."
            )


def tenants(conn, t: Tables) -> list:
    return conn.execute(sa.text(f"SELECT DISTINCT tenant_id FROM {t.documents}")).scalars().all()


def create_tables(schema: Schema, conn) -> None:
    """The registry, and the chunk table with its tenant index (the table itself: PGVectorStore's DDL)."""
    t = schema.tables
    schema.vector_store().add([])  # its own connection: the table, its HNSW and GIN indexes
    conn.execute(sa.text(
        f"""CREATE TABLE IF NOT EXISTS {t.documents} (
            document_id varchar(128) PRIMARY KEY,
            tenant_id varchar(64) NOT NULL,
            title text NOT NULL,
            source_type varchar(16) NOT NULL,
            content_hash char(64) NOT NULL,
            chunk_count integer NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now())"""))
    conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {t.documents}_tenant_idx ON {t.documents} (tenant_id, created_at)"))
    conn.execute(sa.text(
        f"CREATE INDEX IF NOT EXISTS {t.chunks}_tenant_doc_idx "
        f"ON {t.chunks} ((metadata_->>'tenant_id'), ({CHUNK_DOCUMENT}))"))


def keep_embeddings_inline(schema: Schema, conn) -> None:
    """Store embeddings in the row (STORAGE MAIN) rather than in TOAST.

    pgvector's type defaults to EXTERNAL, and with the chunk text and LlamaIndex's metadata
    in the same row, PostgreSQL moves the 1.5 kB embedding out of line: an exact scan of a
    tenant then reads ~6 buffers per chunk instead of ~0.2. Rows written before this
    setting are rewritten once, tenant by tenant.
    """
    t = schema.tables
    storage = conn.execute(sa.text(
        "SELECT attstorage FROM pg_attribute WHERE attrelid = CAST(:rel AS regclass) AND attname = 'embedding'"),
        {"rel": t.chunks}).scalar()
    if storage == "m":
        return
    conn.execute(sa.text(f"ALTER TABLE {t.chunks} ALTER COLUMN embedding SET STORAGE MAIN"))
    rewritten = tenants(conn, t)
    for tenant_id in rewritten:
        conn.execute(sa.text(
            f"UPDATE {t.chunks} SET embedding = CAST(CAST(embedding AS text) AS vector) WHERE {t.of_tenant(t.chunks)}"),
            scope(tenant_id))
    if rewritten:
        log.info("moved the embeddings of %d tenants into the rows of %s", len(rewritten), t.chunks)


def build_text_index(schema: Schema, conn) -> None:
    """The BM25 postings table and the registry's token counts, built from the chunks already stored."""
    t = schema.tables
    conn.execute(sa.text(f"ALTER TABLE {t.documents} ADD COLUMN IF NOT EXISTS token_count bigint NOT NULL DEFAULT 0"))
    conn.execute(sa.text(
        f"""CREATE TABLE IF NOT EXISTS {t.postings} (
            chunk_id bigint NOT NULL REFERENCES {t.chunks} (id) ON DELETE CASCADE,
            tenant_id varchar(64) NOT NULL,
            lexeme text NOT NULL,
            tf integer NOT NULL,
            dl integer NOT NULL,
            PRIMARY KEY (chunk_id, lexeme))"""))
    create_impact_index(conn, t)
    rebuilt = tenants(conn, t)
    for tenant_id in rebuilt:
        # Chunks of multi-part files written before _chunk_metadata carry "<id>:part<n>".
        conn.execute(sa.text(
            f"""UPDATE {t.chunks} c
                SET metadata_ = jsonb_set(c.metadata_, '{{document_id}}', to_jsonb(d.document_id::text))
                FROM {t.documents} d
                WHERE {t.of_tenant(t.documents, "d")} AND {t.of_tenant(t.chunks, "c")}
                  AND starts_with(c.{CHUNK_DOCUMENT}, d.document_id || :part)
                  AND NOT EXISTS (SELECT 1 FROM {t.documents} own WHERE {t.of_tenant(t.documents, "own")}
                                  AND own.document_id = c.{CHUNK_DOCUMENT})"""),
            scope(tenant_id, part=":part"))
        conn.execute(sa.text(f"DELETE FROM {t.postings} WHERE {t.of_tenant(t.postings)}"), scope(tenant_id))
        documents = conn.execute(sa.text(
            f"SELECT document_id FROM {t.documents} WHERE {t.of_tenant(t.documents)}"), scope(tenant_id)).scalars().all()
        for document_id in documents:
            index_document_text(conn, t, tenant_id, document_id)
    if rebuilt:
        log.info("built the BM25 postings of %d tenants in %s", len(rebuilt), t.postings)


def create_impact_index(conn, t: Tables) -> None:
    """A lexeme's postings in a tenant, in impact order: tf descending, then the shortest chunk.

    BM25 pruning reads the head of this list only (search.py); a full scan of a lexeme (tenant
    deletes, the exhaustive search) uses its first two columns. chunk_id last makes the order of
    equal postings the same as the exhaustive search's tie-break.
    """
    conn.execute(sa.text(
        f"CREATE INDEX IF NOT EXISTS {t.postings}_impact_idx ON {t.postings} (tenant_id, lexeme, tf DESC, dl, chunk_id)"))


def build_pruning_index(schema: Schema, conn) -> None:
    """Term counts per document (df without a postings scan) and the impact-ordered postings index.

    ``<table>_terms`` holds, per document and lexeme, the chunks holding it; a tenant's df is the
    sum over its documents (rows of other documents are never locked by a write, so concurrent
    ingests do not contend). A trigger refreshes a document's rows whenever its postings are
    written (index_document_text ends by updating the registry's token_count); deleting the
    registry row deletes them. Existing postings are counted once here.
    """
    t = schema.tables
    conn.execute(sa.text(
        f"""CREATE TABLE IF NOT EXISTS {t.terms} (
            document_id varchar(128) NOT NULL REFERENCES {t.documents} (document_id) ON DELETE CASCADE,
            tenant_id varchar(64) NOT NULL,
            lexeme text NOT NULL,
            df integer NOT NULL,
            PRIMARY KEY (document_id, lexeme))"""))
    conn.execute(sa.text(
        f"CREATE INDEX IF NOT EXISTS {t.terms}_tenant_lexeme_idx ON {t.terms} (tenant_id, lexeme) INCLUDE (df)"))
    conn.execute(sa.text(
        f"""CREATE OR REPLACE FUNCTION {t.terms}_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM {t.terms} WHERE document_id = NEW.document_id;
                INSERT INTO {t.terms} (document_id, tenant_id, lexeme, df)
                SELECT NEW.document_id, NEW.tenant_id, p.lexeme, count(*)
                FROM {t.chunks} c JOIN {t.postings} p ON p.chunk_id = c.id
                WHERE c.metadata_->>'tenant_id' = NEW.tenant_id AND c.{CHUNK_DOCUMENT} = NEW.document_id
                GROUP BY p.lexeme;
                RETURN NULL;
            END $$"""))
    conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {t.terms}_refresh ON {t.documents}"))
    conn.execute(sa.text(
        f"CREATE TRIGGER {t.terms}_refresh AFTER UPDATE OF token_count ON {t.documents} "
        f"FOR EACH ROW EXECUTE FUNCTION {t.terms}_refresh()"))
    conn.execute(sa.text(f"DELETE FROM {t.terms}"))
    # Once, over every posting: a large store's count and index sort fit in memory with these.
    conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
    conn.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
    counted = conn.execute(sa.text(
        f"""INSERT INTO {t.terms} (document_id, tenant_id, lexeme, df)
            SELECT d.document_id, d.tenant_id, p.lexeme, count(*)
            FROM {t.postings} p JOIN {t.chunks} c ON c.id = p.chunk_id
            JOIN {t.documents} d ON d.document_id = c.{CHUNK_DOCUMENT} AND d.tenant_id = p.tenant_id
            GROUP BY d.document_id, d.tenant_id, p.lexeme""")).rowcount
    create_impact_index(conn, t)
    conn.execute(sa.text(f"DROP INDEX IF EXISTS {t.postings}_tenant_lexeme_idx"))  # the impact index serves its scans
    if counted:
        log.info("counted %d (document, lexeme) pairs into %s", counted, t.terms)


TEXT_INDEX_VERSION = "bm25-postings-v2"  # v2: context (title, headings) indexed with the text

# In order. Stores made before this list existed have none of "schema"/"embedding_storage" recorded:
# both run once more, and find their work done (IF NOT EXISTS; storage already MAIN).
CHANGES = (
    Change("schema", "1", create_tables),
    Change("embedding_storage", "main", keep_embeddings_inline),
    Change("text_index", TEXT_INDEX_VERSION, build_text_index),
    Change("bm25_pruning", "1", build_pruning_index),
)
