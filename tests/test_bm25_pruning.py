"""BM25 pruning (rag_engine/store/search.py): the pruned top-k against the exhaustive one.

A synthetic tenant with a Zipf-like vocabulary (a few words in most chunks, most words rare),
searched with the lists cut far below the common words' df, so pruning does happen.
"""

from __future__ import annotations

import random

import pytest

from rag_engine.testing import bulk_insert_vectors

WORDS = [f"{a}{b}{c}" for a in "bdfgklmnprstvz" for b in "aeiou" for c in "bdgklmnprstvxz"][:1500]


def _zipf_text(rng: random.Random, weights, n: int) -> str:
    return " ".join(rng.choices(WORDS, weights=weights, k=n))


@pytest.fixture(scope="module")
def zipf_kb(postgres_url, embed_model):
    from rag_engine import KnowledgeBase, Settings
    from rag_engine.embeddings import MINILM_DIM, MINILM_NAME

    kb = KnowledgeBase(Settings(database_url=postgres_url, table_name="zipf_pruning"), embed_model=embed_model,
                       embed_model_id=MINILM_NAME, embed_dim=MINILM_DIM)
    rng = random.Random(7)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(WORDS))]
    kb.delete_tenant("zipf")
    for part in range(3):
        rows = [(f"z{part}-{i}", _zipf_text(rng, weights, rng.randint(20, 80)), [0.1] * 384) for i in range(300)]
        bulk_insert_vectors(kb.store, "zipf", f"zipf-{part}", f"part {part}", rows)
    queries = [_zipf_text(rng, weights, rng.randint(3, 7)) for _ in range(60)]
    yield kb, queries
    kb.delete_tenant("zipf")
    kb.close()


def _top(rows):
    return [(r.node_id, r.score) for r in rows]


def test_uncut_lists_give_the_exhaustive_ranking(zipf_kb):
    kb, queries = zipf_kb
    for query in queries:
        expected = _top(kb.store.text_search_exhaustive("zipf", query, 10))
        assert _top(kb.store.text_search("zipf", query, 10)) == [(n, pytest.approx(s)) for n, s in expected]


@pytest.mark.parametrize("split", ["equal", "idf"])
def test_cut_lists_keep_the_top_10(zipf_kb, monkeypatch, split):
    kb, queries = zipf_kb
    monkeypatch.setattr(kb.store, "bm25_budget_split", split)
    monkeypatch.setattr(kb.store, "bm25_list_depth", 40)  # the common words are in hundreds of the 900 chunks
    monkeypatch.setattr(kb.store, "bm25_postings_budget", 200)
    monkeypatch.setattr(kb.store, "bm25_pool", 100)
    same, overlap = 0, []
    for query in queries:
        expected = [node_id for node_id, _ in _top(kb.store.text_search_exhaustive("zipf", query, 10))]
        pruned = kb.store.text_search("zipf", query, 10)
        got = [r.node_id for r in pruned]
        same += got == expected
        overlap.append(len(set(got) & set(expected)) / len(expected))
        # Every score returned is the chunk's complete BM25 score, never a partial one.
        exact = {r.node_id: r.score for r in kb.store.text_search_exhaustive("zipf", query, 900)}
        assert all(r.score == pytest.approx(exact[r.node_id]) for r in pruned)
    print(f"identical top-10: {same}/{len(queries)}, mean overlap {sum(overlap) / len(overlap):.3f}")
    assert sum(overlap) / len(overlap) >= 0.9 and same >= 42  # measured: 0.96 and 50 of 60


def test_an_unknown_budget_split_is_refused_not_read_as_equal(zipf_kb, monkeypatch):
    kb, queries = zipf_kb
    monkeypatch.setattr(kb.store, "bm25_budget_split", "idf ")  # a typo in a setting
    with pytest.raises(ValueError, match="bm25_budget_split"):
        kb.store.text_search("zipf", queries[0], 10)
