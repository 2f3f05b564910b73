"""The full-text leg: Okapi BM25 computed in SQL from per-tenant postings (rag_engine/store/search.py)."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from rag_engine.store import BM25_B, BM25_K1
from tests.conftest import FIXTURES

DOCS = {  # no stop words: every word is one lexeme ("apple" → "appl")
    "one": "apple banana cherry",
    "two": "apple apple date",
    "three": "elderberry fig grape",
}


def _bm25(tf, dl, df, n, avgdl, k1=BM25_K1, b=BM25_B):
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))


def _postings(kb, tenant):
    with kb.store.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {kb.store.postings} WHERE tenant_id = :t"),
                            {"t": tenant}).scalar()


@pytest.fixture
def fruit(make_kb):
    kb = make_kb()
    for key, text in DOCS.items():
        kb.ingest("acme", text=text, title=key, document_id=f"fruit-{key}")
    return kb


def test_scores_are_okapi_bm25(fruit):
    rows = fruit.store.text_search("acme", "Apples?", 10)
    assert [r.metadata["document_id"] for r in rows] == ["fruit-two", "fruit-one"]  # only matching chunks
    assert rows[0].score == pytest.approx(_bm25(tf=2, dl=3, df=2, n=3, avgdl=3))
    assert rows[1].score == pytest.approx(_bm25(tf=1, dl=3, df=2, n=3, avgdl=3))
    # Several query words add up; a rarer word weighs more.
    both = {r.metadata["document_id"]: r.score for r in fruit.store.text_search("acme", "apple fig", 10)}
    assert both["fruit-three"] == pytest.approx(_bm25(tf=1, dl=3, df=1, n=3, avgdl=3))
    assert both["fruit-three"] > both["fruit-one"]
    assert fruit.store.text_search("acme", "the and of", 10) == []  # stop words only
    assert fruit.store.text_search("acme", "kiwi", 10) == []


def test_statistics_are_per_tenant(fruit):
    before = [r.score for r in fruit.store.text_search("acme", "apple", 10)]
    for i in range(20):  # another tenant full of apples changes nothing for acme
        fruit.ingest("globex", text=f"apple orchard number {i}", title=f"orchard {i}", document_id=f"globex-{i}")
    assert [r.score for r in fruit.store.text_search("acme", "apple", 10)] == pytest.approx(before)
    assert {r.metadata["tenant_id"] for r in fruit.store.text_search("globex", "apple", 50)} == {"globex"}
    assert len(fruit.store.text_search("globex", "apple", 50)) == 20


def test_postings_follow_replace_and_delete(fruit):
    # Distinct lexemes per chunk, its context (the document's title) included.
    assert _postings(fruit, "acme") == 4 + 3 + 4
    fruit.ingest("acme", text="kiwi kiwi kiwi mango", title="two", document_id="fruit-two")  # replaced
    assert _postings(fruit, "acme") == 4 + 3 + 4
    assert [r.metadata["document_id"] for r in fruit.store.text_search("acme", "apple", 10)] == ["fruit-one"]
    assert fruit.store.text_search("acme", "kiwi", 10)[0].score == pytest.approx(
        _bm25(tf=3, dl=5, df=1, n=3, avgdl=13 / 3))
    fruit.delete_document("acme", "fruit-one")
    assert _postings(fruit, "acme") == 3 + 4 and fruit.store.text_search("acme", "apple", 10) == []
    fruit.delete_tenant("acme")
    assert _postings(fruit, "acme") == 0


def test_multi_page_files_are_one_document(kb):
    result = kb.ingest("acme", FIXTURES / "policies.pdf")
    hits = kb.retrieve("acme", "shipping to Europe", top_k=50, mode="text")
    assert hits and {h.document_id for h in hits} == {result.document_id}
    kb.delete_document("acme", result.document_id)
    assert kb.retrieve("acme", "shipping to Europe", top_k=50) == []
    assert _postings(kb, "acme") == 0


def test_stores_made_before_the_postings_are_migrated(make_kb):
    old = make_kb()
    pdf = old.ingest("acme", FIXTURES / "policies.pdf")
    old.ingest("acme", text="apple banana cherry", title="one", document_id="fruit-one")
    expected = [(r.node_id, r.score) for r in old.store.text_search("acme", "shipping Europe apple", 10)]
    s = old.store
    with s.engine.begin() as conn:  # what an older version left behind
        _forget_term_counts(conn, s)
        conn.execute(sa.text(f"DROP TABLE {s.postings}"))
        conn.execute(sa.text(f"ALTER TABLE {s.documents} DROP COLUMN token_count"))
        conn.execute(sa.text(f"DELETE FROM {s.meta} WHERE key = 'text_index'"))
        conn.execute(sa.text(
            f"""UPDATE {s.chunks} SET metadata_ = jsonb_set(metadata_, '{{document_id}}',
                   to_jsonb(metadata_->>'document_id' || :part || (metadata_->>'page')))
                WHERE metadata_->>'document_id' = :d"""), {"d": pdf.document_id, "part": ":part"})
    new = make_kb(table_name=s.table_name)
    rebuilt = new.store.text_search("acme", "shipping Europe apple", 10)
    assert [r.node_id for r in rebuilt] == [node_id for node_id, _ in expected]
    assert [r.score for r in rebuilt] == pytest.approx([score for _, score in expected])
    new.delete_document("acme", pdf.document_id)  # the repaired chunks are found again
    assert {h.document_id for h in new.retrieve("acme", "shipping Europe", top_k=50)} == {"fruit-one"}


def _forget_term_counts(conn, s):
    """Undo the bm25_pruning change: what a store built before it looks like."""
    conn.execute(sa.text(f"DROP FUNCTION {s.tables.terms}_refresh() CASCADE"))  # and its trigger
    conn.execute(sa.text(f"DROP TABLE {s.tables.terms}"))
    conn.execute(sa.text(f"DROP INDEX {s.postings}_impact_idx"))
    conn.execute(sa.text(f"CREATE INDEX {s.postings}_tenant_lexeme_idx ON {s.postings} (tenant_id, lexeme) "
                         f"INCLUDE (chunk_id, tf, dl)"))
    conn.execute(sa.text(f"DELETE FROM {s.meta} WHERE key = 'bm25_pruning'"))


def _df_from_postings(kb, tenant):
    with kb.store.engine.connect() as conn:
        return dict(conn.execute(sa.text(
            f"SELECT lexeme, count(*) FROM {kb.store.postings} WHERE tenant_id = :t GROUP BY lexeme"), {"t": tenant}).all())


def _df_from_terms(kb, tenant):
    with kb.store.engine.connect() as conn:
        return dict(conn.execute(sa.text(
            f"SELECT lexeme, sum(df) FROM {kb.store.tables.terms} WHERE tenant_id = :t GROUP BY lexeme"),
            {"t": tenant}).all())


def test_term_counts_follow_writes(fruit):
    assert _df_from_terms(fruit, "acme") == _df_from_postings(fruit, "acme") and _df_from_terms(fruit, "acme")["appl"] == 2
    fruit.ingest("acme", text="kiwi apple", title="two", document_id="fruit-two")  # replaced
    fruit.ingest("globex", text="apple pie", title="pie", document_id="globex-pie")
    assert _df_from_terms(fruit, "acme") == _df_from_postings(fruit, "acme")
    assert _df_from_terms(fruit, "globex") == _df_from_postings(fruit, "globex") and _df_from_terms(fruit, "globex")["appl"] == 1
    fruit.delete_document("acme", "fruit-one")
    assert _df_from_terms(fruit, "acme") == _df_from_postings(fruit, "acme") and "banana" not in _df_from_terms(fruit, "acme")
    fruit.delete_tenant("acme")
    assert _df_from_terms(fruit, "acme") == {} and _df_from_terms(fruit, "globex")["appl"] == 1


def test_stores_made_before_pruning_are_migrated(make_kb):
    old = make_kb()
    old.ingest("acme", FIXTURES / "policies.pdf")
    old.ingest("acme", text="apple banana cherry", title="one", document_id="fruit-one")
    expected = [(r.node_id, r.score) for r in old.store.text_search("acme", "shipping Europe apple", 10)]
    with old.store.engine.begin() as conn:
        _forget_term_counts(conn, old.store)
    new = make_kb(table_name=old.store.table_name)
    assert _df_from_terms(new, "acme") == _df_from_postings(new, "acme")
    rebuilt = new.store.text_search("acme", "shipping Europe apple", 10)
    assert [(r.node_id, r.score) for r in rebuilt] == [(n, pytest.approx(s)) for n, s in expected]
    with new.store.engine.connect() as conn:
        indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = :p"),
                                   {"p": new.store.postings}).scalars())
    assert f"{new.store.postings}_impact_idx" in indexes and f"{new.store.postings}_tenant_lexeme_idx" not in indexes
