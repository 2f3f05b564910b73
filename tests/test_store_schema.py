"""The store's schema: versioned changes run once and are recorded; table names are checked before any SQL."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from rag_engine import ConfigurationError, Settings
from rag_engine.store import ChunkStore, DocumentRecord
from rag_engine.store.schema import CHANGES
from rag_engine.testing import bulk_insert_vectors


def test_each_schema_change_is_recorded_and_not_run_again(make_kb, caplog):
    def applied():
        return [r.getMessage() for r in caplog.records if "applied" in r.getMessage()]

    with caplog.at_level(logging.INFO, logger="rag_engine.store.schema"):
        first = make_kb()
        assert len(applied()) == len(CHANGES)
        caplog.clear()
        make_kb(table_name=first.store.table_name)  # a second start: nothing to do
        assert applied() == []
    with first.store.engine.connect() as conn:
        recorded = dict(conn.execute(sa.text(f"SELECT key, value FROM {first.store.meta}")).all())
    assert {c.key: c.version for c in CHANGES}.items() <= recorded.items()


@pytest.mark.parametrize("name", ["chunks; drop table x", "Chunks", "1chunks", "x" * 42])
def test_a_table_name_that_is_not_an_identifier_is_refused_wherever_settings_are_built(name):
    with pytest.raises(ConfigurationError, match="RAG_TABLE must be"):
        Settings(table_name=name)
    with pytest.raises(ConfigurationError, match="RAG_TABLE must be"):
        Settings().with_overrides(table_name=name)
    with pytest.raises(ConfigurationError, match="RAG_TABLE must be"):
        ChunkStore(sa.create_engine("postgresql+psycopg2://nobody@localhost/none"), "", name, 3, "m")


def test_bench_rows_go_through_the_write_path_with_the_hash_of_their_text(kb):
    written = bulk_insert_vectors(kb.store, "acme", "doc", "doc.txt", [("n1", "hello", [0.1] * 384)])
    record: DocumentRecord = kb.store.get_document("acme", "doc")
    assert written == record.chunk_count == 1 and record.content_hash != "0" * 64
    assert kb.retrieve("acme", "hello", mode="text")[0].chunk_id == "n1"
