"""Tenant isolation: filters in SQL, injection attempts, deletes, and the small-tenant top-k."""

from contextlib import contextmanager

import numpy as np
import pytest

from rag_engine import DocumentNotFoundError, EmbeddingMismatchError, InvalidTenantError, KnowledgeBase, Settings
from rag_engine.store import DocumentIdConflictError
from rag_engine.testing import bulk_insert_vectors
from tests.conftest import FIXTURES

ATTACKS = ["x' OR '1'='1", "acme'; DROP TABLE x; --", "ACME", "", " acme", "a" * 65, "acme/..", "42' --", None, 42]


@pytest.fixture
def two_tenants(kb):
    kb.ingest("acme", FIXTURES / "policies.pdf")
    kb.ingest("globex", text="Globex sells industrial lasers. Returns are never accepted.", title="policies.pdf")
    return kb


def test_each_tenant_sees_only_its_documents(two_tenants):
    kb = two_tenants
    assert [d.title for d in kb.list_documents("acme")] == ["policies.pdf"]
    acme_doc, globex_doc = kb.list_documents("acme")[0], kb.list_documents("globex")[0]
    assert acme_doc.document_id != globex_doc.document_id  # same file name, distinct ids
    for hit in kb.retrieve("globex", "How long do I have to return an item?", top_k=20):
        assert hit.document_id == globex_doc.document_id
    assert "lasers" not in kb.answer("acme", "What does Globex sell?").text
    assert kb.retrieve("initech", "returns") == [] and kb.list_documents("initech") == []


def test_another_tenants_document_cannot_be_read_or_deleted(two_tenants):
    kb = two_tenants
    acme_doc = kb.list_documents("acme")[0]
    with pytest.raises(DocumentNotFoundError):
        kb.delete_document("globex", acme_doc.document_id)
    with pytest.raises(DocumentNotFoundError):
        kb.get_document("globex", acme_doc.document_id)
    assert kb.retrieve("acme", "shipping to Europe", top_k=1)[0].page == 2  # still intact


def test_deleting_one_tenants_file_keeps_the_others_same_named_file(two_tenants):
    kb = two_tenants
    kb.delete_document("globex", kb.list_documents("globex")[0].document_id)
    assert kb.list_documents("globex") == []
    assert kb.list_documents("acme")[0].chunk_count == len(kb.retrieve("acme", "returns shipping warranty", top_k=50))


@pytest.mark.parametrize("tenant", ATTACKS)
def test_malformed_tenant_ids_are_rejected_before_any_sql(two_tenants, tenant):
    kb = two_tenants
    calls = [
        lambda: kb.retrieve(tenant, "returns"),
        lambda: kb.answer(tenant, "returns"),
        lambda: kb.ingest(tenant, text="x", title="x"),
        lambda: kb.list_documents(tenant),
        lambda: kb.delete_document(tenant, "whatever"),
        lambda: kb.delete_tenant(tenant),
        lambda: kb.store.text_search(tenant, "returns", 5),
        lambda: kb.store.vector_search(tenant, [0.0] * 384, 5),
    ]
    for call in calls:
        with pytest.raises(InvalidTenantError):
            call()
    assert len(kb.list_documents("acme")) == 1 and len(kb.list_documents("globex")) == 1


def test_document_id_used_by_another_tenant_is_refused(kb):
    kb.ingest("acme", text="Acme text", title="a", document_id="doc-1")
    with pytest.raises(DocumentIdConflictError):
        kb.ingest("globex", text="Globex text", title="b", document_id="doc-1")
    assert kb.retrieve("acme", "Acme text", mode="text")[0].document_id == "doc-1"
    assert kb.list_documents("globex") == []


def test_delete_tenant_removes_only_that_tenant(two_tenants):
    assert two_tenants.delete_tenant("globex") == 1
    assert two_tenants.list_documents("globex") == [] and len(two_tenants.list_documents("acme")) == 1


def test_opening_with_another_embedding_model_says_how_to_reindex(make_kb, postgres_url, embed_model):
    make_kb(table_name="mismatch_test").ingest("acme", text="hello world", title="x")
    with pytest.raises(EmbeddingMismatchError, match="re-index"):
        KnowledgeBase(Settings(database_url=postgres_url, table_name="mismatch_test"), embed_model=embed_model,
                      embed_model_id="openai:text-embedding-3-small", embed_dim=1536)


@pytest.fixture(scope="module")
def crowded_store(postgres_url, embed_model):
    """Tenant "big" owns 20,000 chunks, tenant "small" 20, in one table with its HNSW index.

    Built once per run, and fast: the HNSW index is dropped while the rows go in and built again
    afterwards from its own definition (one bulk build instead of 20,020 incremental inserts).
    """
    from rag_engine.embeddings import MINILM_DIM, MINILM_NAME

    kb = KnowledgeBase(Settings(database_url=postgres_url, table_name="crowded"), embed_model=embed_model,
                       embed_model_id=MINILM_NAME, embed_dim=MINILM_DIM)
    rng = np.random.default_rng(7)
    if kb.store.tenant_chunk_count("big") < 20000:
        with without_hnsw_index(kb.store.engine, "data_crowded"):
            vectors = rng.normal(size=(20000, MINILM_DIM)).astype(np.float32)
            for part in range(4):
                rows = ((f"big-{part}-{i}", f"big chunk {i}", vectors[part * 5000 + i]) for i in range(5000))
                bulk_insert_vectors(kb.store, "big", f"big-doc-{part}", f"big-{part}.txt", rows)
            small = rng.normal(size=(20, MINILM_DIM)).astype(np.float32)
            bulk_insert_vectors(kb.store, "small", "small-doc", "small.txt",
                                ((f"small-{i}", f"small chunk {i}", small[i]) for i in range(20)))
    yield kb
    kb.close()


@contextmanager
def without_hnsw_index(engine, table: str):
    """Drop ``table``'s HNSW indexes for the duration, then build them again as they were defined."""
    with engine.begin() as conn:
        definitions = conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %(t)s AND indexdef ILIKE '%%hnsw%%'",
            {"t": table}).all()
        for name, _ in definitions:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        for _, definition in definitions:
            conn.exec_driver_sql(definition)


@pytest.mark.parametrize("exact_max", [20000, 0], ids=["exact-path", "hnsw-iterative-path"])
def test_small_tenant_gets_full_top_k_next_to_a_big_one(crowded_store, exact_max):
    store = crowded_store.store
    store.exact_search_max_rows = exact_max
    with store.engine.connect() as conn:
        indexes = conn.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE tablename = 'data_crowded'").scalars().all()
    assert any("hnsw" in i for i in indexes)
    query = np.random.default_rng(99).normal(size=384).tolist()
    for k in (10, 20):
        rows = store.vector_search("small", query, k)
        assert len(rows) == k
        assert all(r.metadata["tenant_id"] == "small" for r in rows)
        assert [r.score for r in rows] == sorted((r.score for r in rows), reverse=True)
    big = store.vector_search("big", query, 10)
    assert len(big) == 10 and all(r.metadata["tenant_id"] == "big" for r in big)
