"""Writes and registry reads: a document's registry row, its chunks and their BM25 postings.

A document is replaced in one transaction (registry row, chunks, postings): queries see the old
chunks or the new ones, never both or neither. Postings reference their chunk (``ON DELETE
CASCADE``), so deleting chunks by any path deletes their postings.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import sqlalchemy as sa

from ..errors import DocumentNotFoundError, RagEngineError
from .tables import CHUNK_DOCUMENT, DOCUMENT_COLUMNS, TEXT_SEARCH_CONFIG, DocumentRecord, Tables, scope


class DocumentIdConflictError(RagEngineError):
    """A caller-chosen document id that another tenant already uses."""


def _postings_insert(t: Tables, which: str = "") -> str:
    """INSERT … RETURNING tf of the postings of a document's chunks (context — title, heading path —
    and text); ``which``: a further condition on the chunk ``c``."""
    return f"""INSERT INTO {t.postings} (chunk_id, tenant_id, lexeme, tf, dl)
                SELECT c.id, :t, u.lexeme, coalesce(array_length(u.positions, 1), 1), l.dl
                FROM {t.chunks} c
                CROSS JOIN LATERAL (SELECT to_tsvector('{TEXT_SEARCH_CONFIG}',
                    coalesce(c.metadata_->>'context', '') || ' ' || c.text) AS tsv) d
                CROSS JOIN LATERAL (
                    SELECT coalesce(sum(coalesce(array_length(v.positions, 1), 1)), 0)::integer AS dl
                    FROM unnest(d.tsv) v) l
                CROSS JOIN LATERAL unnest(d.tsv) u
                WHERE {t.of_tenant(t.chunks, "c")} AND c.{CHUNK_DOCUMENT} = :d {which}
                RETURNING tf"""


def index_document_text(conn, t: Tables, tenant_id: str, document_id: str) -> None:
    """Postings of one document's chunks and its token count."""
    conn.execute(sa.text(
        f"""WITH written AS ({_postings_insert(t)})
            UPDATE {t.documents} SET token_count = (SELECT coalesce(sum(tf), 0) FROM written)
            WHERE {t.of_tenant(t.documents)} AND document_id = :d"""),
        scope(tenant_id, d=document_id))


def index_chunks_text(conn, t: Tables, tenant_id: str, document_id: str, chunk_ids: Sequence[int]) -> int:
    """Postings of some of a document's chunks (those just written, by key); returns their tokens."""
    return int(conn.execute(sa.text(
        f"""WITH written AS ({_postings_insert(t, "AND c.id = ANY(CAST(:ids AS bigint[]))")})
            SELECT coalesce(sum(tf), 0) FROM written"""),
        scope(tenant_id, d=document_id, ids=[int(i) for i in chunk_ids])).scalar())


def set_token_count(conn, t: Tables, tenant_id: str, document_id: str, tokens: int) -> None:
    """The document's token count (BM25's lengths); its term counts are refreshed by a trigger on it."""
    conn.execute(sa.text(f"UPDATE {t.documents} SET token_count = :n WHERE {t.of_tenant(t.documents)} AND document_id = :d"),
                 scope(tenant_id, d=document_id, n=int(tokens)))


def delete_chunks(conn, t: Tables, tenant_id: str, document_id: str) -> None:
    conn.execute(sa.text(f"DELETE FROM {t.chunks} WHERE {t.of_tenant(t.chunks)} AND {CHUNK_DOCUMENT} = :d"),
                 scope(tenant_id, d=document_id))


class DocumentWrites:
    """The ChunkStore's registry and writes (needs ``engine``, ``tables`` and ``chunk_table``)."""

    engine: sa.Engine
    tables: Tables
    chunk_table: sa.TableClause

    def get_document(self, tenant_id: str, document_id: str) -> Optional[DocumentRecord]:
        t = self.tables
        with self.engine.connect() as conn:
            row = conn.execute(sa.text(
                f"SELECT {DOCUMENT_COLUMNS} FROM {t.documents} WHERE {t.of_tenant(t.documents)} AND document_id = :d"),
                scope(tenant_id, d=document_id)).mappings().first()
        return DocumentRecord(**row) if row else None

    def list_documents(self, tenant_id: str) -> List[DocumentRecord]:
        t = self.tables
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(
                f"SELECT {DOCUMENT_COLUMNS} FROM {t.documents} WHERE {t.of_tenant(t.documents)} "
                f"ORDER BY created_at, document_id"), scope(tenant_id)).mappings().all()
        return [DocumentRecord(**row) for row in rows]

    def replace_document(self, record: DocumentRecord, nodes: Sequence[Any]) -> str:
        """Write ``record`` and its chunks in one transaction, replacing any earlier version.

        Returns "created" or "replaced".
        """
        writer = self.document_writer(record)
        try:
            writer.add(nodes)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    def document_writer(self, record: DocumentRecord) -> "DocumentWriter":
        """A replacement of ``record``'s chunks written in parts (``add``) and made visible at once
        (``commit``), so chunks can be written while later ones are still being embedded."""
        return DocumentWriter(self.engine, self.tables, self.chunk_table, record)

    def delete_document(self, tenant_id: str, document_id: str) -> None:
        t = self.tables
        with self.engine.begin() as conn:
            deleted = conn.execute(sa.text(
                f"DELETE FROM {t.documents} WHERE {t.of_tenant(t.documents)} AND document_id = :d "
                f"RETURNING document_id"), scope(tenant_id, d=document_id)).first()
            if deleted is None:
                raise DocumentNotFoundError(f"No document {document_id!r} in this knowledge base.")
            delete_chunks(conn, t, tenant_id, document_id)

    def delete_tenant(self, tenant_id: str) -> int:
        t = self.tables
        params = scope(tenant_id)
        with self.engine.begin() as conn:
            count = conn.execute(sa.text(f"DELETE FROM {t.documents} WHERE {t.of_tenant(t.documents)}"), params).rowcount
            # In bulk first (the cascade from the chunks would delete them one chunk at a time).
            conn.execute(sa.text(f"DELETE FROM {t.postings} WHERE {t.of_tenant(t.postings)}"), params)
            conn.execute(sa.text(f"DELETE FROM {t.chunks} WHERE {t.of_tenant(t.chunks)}"), params)
        return count


class DocumentWriter:
    """One document's replacement, in one transaction: the registry row is claimed (or our existing
    row locked) and the old chunks deleted first; ``add`` inserts chunks and indexes their text;
    ``commit`` records the token count and commits. Until then queries see the old version; ``abort`` (or any failure) leaves it.
    Use it from one thread at a time (it holds one connection)."""

    def __init__(self, engine: sa.Engine, tables: Tables, chunk_table: sa.TableClause, record: DocumentRecord):
        self.tables, self.chunk_table, self.record = tables, chunk_table, record
        self.conn = engine.connect()
        self.transaction = self.conn.begin()
        self.written = 0
        self.tokens = 0
        try:
            self.inserted = self._claim()
        except BaseException:
            self.abort()
            raise

    def _claim(self) -> bool:
        t, record = self.tables, self.record
        # Concurrent ingests of the same document run one after the other (the row lock).
        claimed = self.conn.execute(sa.text(
            f"""INSERT INTO {t.documents} AS d (document_id, tenant_id, title, source_type, content_hash, chunk_count)
                VALUES (:d, :t, :title, :st, :h, :n)
                ON CONFLICT (document_id) DO UPDATE
                  SET title = excluded.title, source_type = excluded.source_type,
                      content_hash = excluded.content_hash, chunk_count = excluded.chunk_count, updated_at = now()
                  WHERE d.tenant_id = excluded.tenant_id
                RETURNING (xmax = 0) AS inserted"""),
            {**scope(record.tenant_id, d=record.document_id), "title": record.title, "st": record.source_type,
             "h": record.content_hash, "n": record.chunk_count}).first()
        if claimed is None:
            raise DocumentIdConflictError(f"Document id {record.document_id!r} is already used by another tenant.")
        delete_chunks(self.conn, t, record.tenant_id, record.document_id)
        return bool(claimed.inserted)

    def add(self, nodes: Sequence[Any]) -> None:
        from llama_index.core.schema import MetadataMode
        from llama_index.core.vector_stores.utils import node_to_metadata_dict

        rows = [
            {
                "node_id": node.node_id,
                "text": node.get_content(metadata_mode=MetadataMode.NONE),
                "metadata_": _chunk_metadata(node_to_metadata_dict(node, remove_text=True, flat_metadata=False),
                                             self.record),
                "embedding": node.get_embedding(),
            }
            for node in nodes
        ]
        ids: List[int] = []
        for start in range(0, len(rows), 500):
            ids += self.conn.execute(sa.insert(self.chunk_table).returning(self.chunk_table.c.id),
                                     rows[start:start + 500]).scalars().all()
        # Their text is indexed now, while the next batch embeds, not all at the commit (after the last
        # batch, with the model idle).
        self.tokens += index_chunks_text(self.conn, self.tables, self.record.tenant_id, self.record.document_id, ids)
        self.written += len(rows)

    def commit(self) -> str:
        """Record the token count and commit; "created" or "replaced"."""
        if self.written != self.record.chunk_count:  # the registry row already holds chunk_count
            raise RagEngineError(f"{self.written} chunks written for a document of {self.record.chunk_count}")
        try:
            set_token_count(self.conn, self.tables, self.record.tenant_id, self.record.document_id, self.tokens)
            self.transaction.commit()
        finally:
            self.conn.close()
        return "created" if self.inserted else "replaced"

    def abort(self) -> None:
        try:
            if self.transaction.is_active:
                self.transaction.rollback()
        finally:
            self.conn.close()


def _chunk_metadata(metadata: dict, record: DocumentRecord) -> dict:
    # node_to_metadata_dict overwrites "document_id" with the node's ref_doc_id, which is
    # "<id>:part<n>" for the pages of multi-part files: put ours back (deletes match on it).
    metadata["document_id"] = record.document_id
    metadata["tenant_id"] = record.tenant_id
    return metadata
