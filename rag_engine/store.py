"""The store layer: every SQL statement of the engine lives here.

Chunks live in one shared LlamaIndex ``PGVectorStore`` table (``data_<table>``), which owns the
schema (vector column, HNSW index, generated tsvector column, GIN index) so notebook users can
point LlamaIndex at it too. Reads and writes go through our own parameterised SQL because
PGVectorStore 0.9 pastes filter values into its SQL text, deletes by document id across
tenants, and commits each add on its own (no atomic replace). Every statement here takes the
tenant id as a bound parameter and filters on it.

A registry table (``<table>_documents``) holds one row per document (tenant, title, content
hash, chunk count, token count); a meta table records the embedding model the store was built with.

Full-text search ranks by Okapi BM25, computed in SQL. PostgreSQL's ``ts_rank`` has no
inverse document frequency and no length normalisation against the collection, so a postings
table (``<table>_postings``: chunk, tenant, lexeme, term frequency, chunk length) is derived
from each chunk's context (title, heading path) and text in the same transaction that writes the chunks.
Document frequencies are counted per tenant from the postings at query time, and the tenant's
chunk and token counts come from the registry, so one tenant's documents never change
another's scores. Postings reference their chunk (``ON DELETE CASCADE``): deleting chunks,
by any path, deletes their postings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Sequence

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import JSONB

from .errors import DocumentNotFoundError, EmbeddingMismatchError, RagEngineError
from .tenants import validate_tenant

log = logging.getLogger(__name__)

# Okapi BM25 parameters: Anserini's BEIR defaults, also the best of the grid tried on SciFact's
# train split (bench/tune_fusion.py; k1 0.9-1.2 and b 0.4-0.9 all within 0.01 nDCG@10).
BM25_K1 = 0.9
BM25_B = 0.4
TEXT_INDEX_VERSION = "bm25-postings-v2"  # v2: context (title, headings) indexed with the text

HNSW = {"hnsw_m": 16, "hnsw_ef_construction": 64, "hnsw_ef_search": 40, "hnsw_dist_method": "vector_cosine_ops"}
TEXT_SEARCH_CONFIG = "english"


@dataclass(frozen=True)
class ChunkRow:
    node_id: str
    text: str
    metadata: dict
    score: float


@dataclass(frozen=True)
class DocumentRecord:
    document_id: str
    tenant_id: str
    title: str
    source_type: str
    content_hash: str
    chunk_count: int
    created_at: Any = None
    updated_at: Any = None


DOCUMENT_COLUMNS = "document_id, tenant_id, title, source_type, content_hash, chunk_count, created_at, updated_at"


class DocumentIdConflictError(RagEngineError):
    """A caller-chosen document id that another tenant already uses."""


def _vector_literal(embedding: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in embedding) + "]"


class ChunkStore:
    def __init__(self, engine: sa.Engine, async_url: str, table_name: str, embed_dim: int, embed_model_id: str,
                 exact_search_max_rows: int = 20000, hnsw_ef_search: int = 100):
        self.engine = engine
        self.table_name = table_name
        self.chunks = f"data_{table_name}"
        self.documents = f"{table_name}_documents"
        self.meta = f"{table_name}_meta"
        self.postings = f"{table_name}_postings"
        self.bm25_k1 = BM25_K1
        self.bm25_b = BM25_B
        self.embed_dim = embed_dim
        self.embed_model_id = embed_model_id
        self.exact_search_max_rows = exact_search_max_rows
        self.hnsw_ef_search = hnsw_ef_search
        self._async_url = async_url
        self._vector_store = None
        self.iterative_scan = False
        self._chunk_table = sa.table(
            self.chunks,
            sa.column("node_id", sa.String),
            sa.column("text", sa.String),
            sa.column("metadata_", JSONB),
            sa.column("embedding", Vector(embed_dim)),
        )

    # ----------------------------------------------------------------- schema
    @property
    def vector_store(self):
        """The LlamaIndex PGVectorStore over the chunk table (schema owner; for notebook use)."""
        if self._vector_store is None:
            from llama_index.vector_stores.postgres import PGVectorStore
            from sqlalchemy.ext.asyncio import create_async_engine

            self._vector_store = PGVectorStore(
                engine=self.engine,
                async_engine=create_async_engine(self._async_url),  # connects only if used
                table_name=self.table_name,
                hybrid_search=True,
                text_search_config=TEXT_SEARCH_CONFIG,
                embed_dim=self.embed_dim,
                use_jsonb=True,
                hnsw_kwargs=dict(HNSW),
                initialization_fail_on_error=True,
            )
        return self._vector_store

    def setup(self) -> None:
        """Create what is missing (idempotent, safe with several processes starting at once)."""
        with self.engine.connect() as lock_conn:
            # One process at a time runs the DDL below; the others wait, then find it done.
            lock_conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": f"rag_engine:{self.table_name}"})
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
                    conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {self.meta} (key text PRIMARY KEY, value text NOT NULL)"))
                    self._check_embedding_model(conn)
                    conn.execute(sa.text(
                        f"""CREATE TABLE IF NOT EXISTS {self.documents} (
                            document_id varchar(128) PRIMARY KEY,
                            tenant_id varchar(64) NOT NULL,
                            title text NOT NULL,
                            source_type varchar(16) NOT NULL,
                            content_hash char(64) NOT NULL,
                            chunk_count integer NOT NULL,
                            created_at timestamptz NOT NULL DEFAULT now(),
                            updated_at timestamptz NOT NULL DEFAULT now())"""))
                    conn.execute(sa.text(
                        f"CREATE INDEX IF NOT EXISTS {self.documents}_tenant_idx ON {self.documents} (tenant_id, created_at)"))
                self.vector_store.add([])  # PGVectorStore creates its table, HNSW and GIN indexes
                with self.engine.begin() as conn:
                    conn.execute(sa.text(
                        f"CREATE INDEX IF NOT EXISTS {self.chunks}_tenant_doc_idx "
                        f"ON {self.chunks} ((metadata_->>'tenant_id'), (metadata_->>'document_id'))"))
                    self._keep_embeddings_inline(conn)
                    self._setup_text_index(conn)
            finally:
                lock_conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": f"rag_engine:{self.table_name}"})
                lock_conn.commit()
        with self.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
        major_minor = tuple(int(p) for p in version.split(".")[:2])
        self.iterative_scan = major_minor >= (0, 8)  # hnsw.iterative_scan arrived in pgvector 0.8.0
        log.info("chunk store %s ready (pgvector %s, iterative scans: %s)", self.chunks, version, self.iterative_scan)

    def _keep_embeddings_inline(self, conn) -> None:
        """Store embeddings in the row (STORAGE MAIN) rather than in TOAST.

        pgvector's type defaults to EXTERNAL, and with the chunk text and LlamaIndex's metadata
        in the same row, PostgreSQL moves the 1.5 kB embedding out of line: an exact scan of a
        tenant then reads ~6 buffers per chunk instead of ~0.2. Rows written before this
        setting are rewritten once, tenant by tenant.
        """
        storage = conn.execute(sa.text(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = CAST(:rel AS regclass) AND attname = 'embedding'"),
            {"rel": self.chunks}).scalar()
        if storage == "m":
            return
        conn.execute(sa.text(f"ALTER TABLE {self.chunks} ALTER COLUMN embedding SET STORAGE MAIN"))
        tenants = conn.execute(sa.text(f"SELECT DISTINCT tenant_id FROM {self.documents}")).scalars().all()
        for tenant_id in tenants:
            conn.execute(sa.text(
                f"UPDATE {self.chunks} SET embedding = CAST(CAST(embedding AS text) AS vector) "
                f"WHERE metadata_->>'tenant_id' = :t"), {"t": tenant_id})
        if tenants:
            log.info("moved the embeddings of %d tenants into the rows of %s", len(tenants), self.chunks)

    def _setup_text_index(self, conn) -> None:
        """The BM25 postings table; built from the existing chunks once (stores made before it)."""
        conn.execute(sa.text(
            f"ALTER TABLE {self.documents} ADD COLUMN IF NOT EXISTS token_count bigint NOT NULL DEFAULT 0"))
        conn.execute(sa.text(
            f"""CREATE TABLE IF NOT EXISTS {self.postings} (
                chunk_id bigint NOT NULL REFERENCES {self.chunks} (id) ON DELETE CASCADE,
                tenant_id varchar(64) NOT NULL,
                lexeme text NOT NULL,
                tf integer NOT NULL,
                dl integer NOT NULL,
                PRIMARY KEY (chunk_id, lexeme))"""))
        conn.execute(sa.text(
            f"CREATE INDEX IF NOT EXISTS {self.postings}_tenant_lexeme_idx "
            f"ON {self.postings} (tenant_id, lexeme) INCLUDE (chunk_id, tf, dl)"))
        version = conn.execute(sa.text(f"SELECT value FROM {self.meta} WHERE key = 'text_index'")).scalar()
        if version == TEXT_INDEX_VERSION:
            return
        tenants = conn.execute(sa.text(f"SELECT DISTINCT tenant_id FROM {self.documents}")).scalars().all()
        for tenant_id in tenants:
            # Chunks of multi-part files written before _chunk_metadata carry "<id>:part<n>".
            conn.execute(sa.text(
                f"""UPDATE {self.chunks} c
                    SET metadata_ = jsonb_set(c.metadata_, '{{document_id}}', to_jsonb(d.document_id::text))
                    FROM {self.documents} d
                    WHERE d.tenant_id = :t AND c.metadata_->>'tenant_id' = :t
                      AND starts_with(c.metadata_->>'document_id', d.document_id || :part)
                      AND NOT EXISTS (SELECT 1 FROM {self.documents} own WHERE own.tenant_id = :t
                                      AND own.document_id = c.metadata_->>'document_id')"""),
                {"t": tenant_id, "part": ":part"})
            conn.execute(sa.text(f"DELETE FROM {self.postings} WHERE tenant_id = :t"), {"t": tenant_id})
            documents = conn.execute(sa.text(
                f"SELECT document_id FROM {self.documents} WHERE tenant_id = :t"), {"t": tenant_id}).scalars().all()
            for document_id in documents:
                self._index_document_text(conn, tenant_id, document_id)
        conn.execute(sa.text(
            f"INSERT INTO {self.meta} (key, value) VALUES ('text_index', :v) "
            f"ON CONFLICT (key) DO UPDATE SET value = excluded.value"), {"v": TEXT_INDEX_VERSION})
        log.info("built the BM25 postings of %d tenants in %s", len(tenants), self.postings)

    def _index_document_text(self, conn, tenant_id: str, document_id: str) -> None:
        """Postings of one document's chunks (from their tsvector) and its token count."""
        conn.execute(sa.text(
            f"""WITH written AS (
                    INSERT INTO {self.postings} (chunk_id, tenant_id, lexeme, tf, dl)
                    SELECT c.id, :t, u.lexeme, coalesce(array_length(u.positions, 1), 1), l.dl
                    FROM {self.chunks} c
                    CROSS JOIN LATERAL (SELECT to_tsvector('{TEXT_SEARCH_CONFIG}',
                        coalesce(c.metadata_->>'context', '') || ' ' || c.text) AS tsv) d
                    CROSS JOIN LATERAL (
                        SELECT coalesce(sum(coalesce(array_length(v.positions, 1), 1)), 0)::integer AS dl
                        FROM unnest(d.tsv) v) l
                    CROSS JOIN LATERAL unnest(d.tsv) u
                    WHERE c.metadata_->>'tenant_id' = :t AND c.metadata_->>'document_id' = :d
                    RETURNING tf)
                UPDATE {self.documents} SET token_count = (SELECT coalesce(sum(tf), 0) FROM written)
                WHERE tenant_id = :t AND document_id = :d"""),
            {"t": tenant_id, "d": document_id})

    def _check_embedding_model(self, conn) -> None:
        rows = dict(conn.execute(sa.text(f"SELECT key, value FROM {self.meta}")).all())
        if not rows:
            conn.execute(sa.text(f"INSERT INTO {self.meta} (key, value) VALUES ('embed_model', :m), ('embed_dim', :d)"),
                         {"m": self.embed_model_id, "d": str(self.embed_dim)})
            return
        if rows.get("embed_model") != self.embed_model_id or rows.get("embed_dim") != str(self.embed_dim):
            raise EmbeddingMismatchError(
                f"The knowledge base in table '{self.table_name}' was built with the embedding model "
                f"{rows.get('embed_model')} ({rows.get('embed_dim')} dimensions), but the configured model is "
                f"{self.embed_model_id} ({self.embed_dim} dimensions). Either set EMBED_PROVIDER/EMBED_MODEL back, "
                f"or re-index: point RAG_TABLE at a new table name and ingest the documents again "
                f"(the Flask app's `flask --app app companies reindex <slug>` does this per company)."
            )

    # ---------------------------------------------------------------- writes
    def get_document(self, tenant_id: str, document_id: str) -> Optional[DocumentRecord]:
        validate_tenant(tenant_id)
        with self.engine.connect() as conn:
            row = conn.execute(sa.text(
                f"SELECT {DOCUMENT_COLUMNS} FROM {self.documents} WHERE tenant_id = :t AND document_id = :d"),
                {"t": tenant_id, "d": document_id}).mappings().first()
        return DocumentRecord(**row) if row else None

    def replace_document(self, record: DocumentRecord, nodes: Sequence[Any]) -> str:
        """Write ``record`` and its chunks in one transaction, replacing any earlier version.

        Queries see the old chunks or the new ones, never both or neither. Returns
        "created" or "replaced".
        """
        from llama_index.core.vector_stores.utils import node_to_metadata_dict
        from llama_index.core.schema import MetadataMode

        validate_tenant(record.tenant_id)
        rows = [
            {
                "node_id": node.node_id,
                "text": node.get_content(metadata_mode=MetadataMode.NONE),
                "metadata_": self._chunk_metadata(node_to_metadata_dict(node, remove_text=True, flat_metadata=False),
                                                  record),
                "embedding": node.get_embedding(),
            }
            for node in nodes
        ]
        with self.engine.begin() as conn:
            # Claim the document id (or lock our existing row) first: concurrent ingests of
            # the same document run one after the other.
            claimed = conn.execute(sa.text(
                f"""INSERT INTO {self.documents} AS d (document_id, tenant_id, title, source_type, content_hash, chunk_count)
                    VALUES (:d, :t, :title, :st, :h, :n)
                    ON CONFLICT (document_id) DO UPDATE
                      SET title = excluded.title, source_type = excluded.source_type,
                          content_hash = excluded.content_hash, chunk_count = excluded.chunk_count, updated_at = now()
                      WHERE d.tenant_id = excluded.tenant_id
                    RETURNING (xmax = 0) AS inserted"""),
                {"d": record.document_id, "t": record.tenant_id, "title": record.title, "st": record.source_type,
                 "h": record.content_hash, "n": len(rows)}).first()
            if claimed is None:
                raise DocumentIdConflictError(f"Document id {record.document_id!r} is already used by another tenant.")
            conn.execute(sa.text(
                f"DELETE FROM {self.chunks} WHERE metadata_->>'tenant_id' = :t AND metadata_->>'document_id' = :d"),
                {"t": record.tenant_id, "d": record.document_id})
            for start in range(0, len(rows), 500):
                conn.execute(sa.insert(self._chunk_table), rows[start:start + 500])
            self._index_document_text(conn, record.tenant_id, record.document_id)
        return "created" if claimed.inserted else "replaced"

    @staticmethod
    def _chunk_metadata(metadata: dict, record: DocumentRecord) -> dict:
        # node_to_metadata_dict overwrites "document_id" with the node's ref_doc_id, which is
        # "<id>:part<n>" for the pages of multi-part files: put ours back (deletes match on it).
        metadata["document_id"] = record.document_id
        metadata["tenant_id"] = record.tenant_id
        return metadata

    def delete_document(self, tenant_id: str, document_id: str) -> None:
        validate_tenant(tenant_id)
        with self.engine.begin() as conn:
            deleted = conn.execute(sa.text(
                f"DELETE FROM {self.documents} WHERE tenant_id = :t AND document_id = :d RETURNING document_id"),
                {"t": tenant_id, "d": document_id}).first()
            if deleted is None:
                raise DocumentNotFoundError(f"No document {document_id!r} in this knowledge base.")
            conn.execute(sa.text(
                f"DELETE FROM {self.chunks} WHERE metadata_->>'tenant_id' = :t AND metadata_->>'document_id' = :d"),
                {"t": tenant_id, "d": document_id})

    def delete_tenant(self, tenant_id: str) -> int:
        validate_tenant(tenant_id)
        with self.engine.begin() as conn:
            count = conn.execute(sa.text(f"DELETE FROM {self.documents} WHERE tenant_id = :t"), {"t": tenant_id}).rowcount
            # In bulk first (the cascade from the chunks would delete them one chunk at a time).
            conn.execute(sa.text(f"DELETE FROM {self.postings} WHERE tenant_id = :t"), {"t": tenant_id})
            conn.execute(sa.text(f"DELETE FROM {self.chunks} WHERE metadata_->>'tenant_id' = :t"), {"t": tenant_id})
        return count

    def list_documents(self, tenant_id: str) -> List[DocumentRecord]:
        validate_tenant(tenant_id)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(
                f"SELECT {DOCUMENT_COLUMNS} FROM {self.documents} WHERE tenant_id = :t ORDER BY created_at, document_id"),
                {"t": tenant_id}).mappings().all()
        return [DocumentRecord(**row) for row in rows]

    def tenant_chunk_count(self, tenant_id: str) -> int:
        validate_tenant(tenant_id)
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text(
                f"SELECT coalesce(sum(chunk_count), 0) FROM {self.documents} WHERE tenant_id = :t"),
                {"t": tenant_id}).scalar())

    # ------------------------------------------------------------------ reads
    def vector_search(self, tenant_id: str, embedding: Sequence[float], k: int) -> List[ChunkRow]:
        """The tenant's ``k`` nearest chunks by cosine similarity, always a full top-k.

        HNSW filters after the index scan, so a small tenant in a big table could get fewer
        than k rows. Small tenants are searched exactly (their rows via the tenant index);
        larger ones via HNSW with iterative scans, which keep scanning until k rows match.
        """
        validate_tenant(tenant_id)
        params = {"t": tenant_id, "q": _vector_literal(embedding), "k": int(k)}
        exact = self.tenant_chunk_count(tenant_id) <= self.exact_search_max_rows or not self.iterative_scan
        with self.engine.begin() as conn:
            if exact:
                # "+ 0" keeps the planner off the HNSW index (an exact scan of the tenant's rows);
                # only ids and distances are sorted, the k winners' text is read afterwards. The
                # tenant's rows come from the tenant index: a sequential scan would evaluate the
                # tenant filter by de-TOASTing every row's metadata.
                conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
                sql = f"""
                    WITH nearest AS MATERIALIZED (
                        SELECT id, embedding <=> CAST(:q AS vector) AS distance FROM {self.chunks}
                        WHERE metadata_->>'tenant_id' = :t
                        ORDER BY (embedding <=> CAST(:q AS vector)) + 0 LIMIT :k)
                    SELECT c.node_id, c.text, c.metadata_, 1 - n.distance AS score
                    FROM nearest n CROSS JOIN LATERAL ({self._chunk_by_id("n.id")}) c
                    WHERE c.metadata_->>'tenant_id' = :t
                    ORDER BY n.distance, c.node_id"""
            else:
                conn.execute(sa.text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
                conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {max(int(self.hnsw_ef_search), int(k))}"))
                conn.execute(sa.text("SET LOCAL hnsw.max_scan_tuples = 200000"))
                # relaxed_order may return rows slightly out of order: sort them again.
                sql = f"""
                    WITH nearest AS MATERIALIZED (
                        SELECT node_id, text, metadata_, embedding <=> CAST(:q AS vector) AS distance
                        FROM {self.chunks} WHERE metadata_->>'tenant_id' = :t
                        ORDER BY embedding <=> CAST(:q AS vector) LIMIT :k)
                    SELECT node_id, text, metadata_, 1 - distance AS score FROM nearest ORDER BY distance"""
            rows = conn.execute(sa.text(sql), params).all()
        return [ChunkRow(r.node_id, r.text, r.metadata_, float(r.score)) for r in rows]

    def _chunk_by_id(self, id_expression: str) -> str:
        # A LATERAL subquery with OFFSET 0 is not flattened, so each winner is read by primary
        # key; the caller filters on the tenant afterwards (a planner that thinks the tenant has
        # one row would otherwise walk the tenant index once per winner).
        return f"SELECT node_id, text, metadata_ FROM {self.chunks} WHERE id = {id_expression} OFFSET 0"

    def text_search(self, tenant_id: str, query: str, k: int) -> List[ChunkRow]:
        """The tenant's ``k`` best chunks by Okapi BM25 over the query's lexemes (any may match).

        Lexemes come from the same ``english`` text search configuration as the chunks'
        tsvector (stemmed, stop words dropped). idf = ln(1 + (N - df + 0.5) / (df + 0.5)) with
        N and df counted in this tenant's chunks only.
        """
        validate_tenant(tenant_id)
        # Every step is materialised: the plan must not depend on fresh statistics (a tenant
        # that is new since the last ANALYZE looks empty to the planner).
        sql = f"""
            WITH stats AS MATERIALIZED (
                SELECT greatest(coalesce(sum(chunk_count), 0), 1)::float8 AS n,
                       greatest(coalesce(sum(token_count), 0)::float8 / greatest(coalesce(sum(chunk_count), 0), 1), 1)
                         AS avgdl
                FROM {self.documents} WHERE tenant_id = :t),
            matched AS MATERIALIZED (
                SELECT p.lexeme, p.chunk_id, p.tf, p.dl FROM {self.postings} p
                WHERE p.tenant_id = :t
                  AND p.lexeme = ANY (tsvector_to_array(to_tsvector('{TEXT_SEARCH_CONFIG}', :query)))),
            df AS MATERIALIZED (SELECT lexeme, count(*)::float8 AS df FROM matched GROUP BY lexeme),
            scored AS MATERIALIZED (
                SELECT m.chunk_id,
                       sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * m.tf * (:k1 + 1)
                           / (m.tf + :k1 * (1 - :b + :b * m.dl / s.avgdl))) AS score
                FROM matched m JOIN df USING (lexeme) CROSS JOIN stats s
                GROUP BY m.chunk_id ORDER BY score DESC, m.chunk_id LIMIT :k)
            SELECT c.node_id, c.text, c.metadata_, sc.score
            FROM scored sc CROSS JOIN LATERAL ({self._chunk_by_id("sc.chunk_id")}) c
            WHERE c.metadata_->>'tenant_id' = :t
            ORDER BY sc.score DESC, c.node_id"""
        params = {"t": tenant_id, "query": query, "k": int(k), "k1": float(self.bm25_k1), "b": float(self.bm25_b)}
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(sql), params).all()
        return [ChunkRow(r.node_id, r.text, r.metadata_, float(r.score)) for r in rows]

    def term_statistics(self, tenant_id: str, query: str, cap: int = 1000) -> tuple[int, dict[str, int]]:
        """(chunks in the tenant, {lexeme of ``query``: chunks holding it}) — what idf needs.

        Counts stop at ``cap``: beyond it a word is common and its idf nearly nil, and a common
        word on a large tenant must not cost a scan of its postings.
        """
        validate_tenant(tenant_id)
        sql = f"""
            SELECT q.lexeme,
                   (SELECT count(*) FROM (SELECT 1 FROM {self.postings} p
                                          WHERE p.tenant_id = :t AND p.lexeme = q.lexeme LIMIT :cap) hits) AS df
            FROM unnest(tsvector_to_array(to_tsvector('{TEXT_SEARCH_CONFIG}', :query))) AS q(lexeme)"""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(sql), {"t": tenant_id, "query": query, "cap": int(cap)}).all()
        return self.tenant_chunk_count(tenant_id), {r.lexeme: int(r.df) for r in rows}

    def bulk_insert_vectors(self, tenant_id: str, document_id: str, title: str,
                            items: Iterable[tuple[str, str, Sequence[float]]]) -> int:
        """Write precomputed (node_id, text, embedding) rows as one document (benchmarks, tests)."""
        from llama_index.core.schema import TextNode

        validate_tenant(tenant_id)
        nodes = [
            TextNode(id_=node_id, text=text, embedding=list(embedding),
                     metadata={"tenant_id": tenant_id, "document_id": document_id, "title": title, "chunk_index": i})
            for i, (node_id, text, embedding) in enumerate(items)
        ]
        record = DocumentRecord(document_id, tenant_id, title, "text", "0" * 64, len(nodes))
        self.replace_document(record, nodes)
        return len(nodes)

    def dispose(self) -> None:
        self.engine.dispose()
