"""bench/beir.py: the metrics on hand-computed examples, and the harness end to end on a tiny
BEIR-layout sample (real PostgreSQL, real embeddings, ingested through the public API)."""

from __future__ import annotations

import math

import pytest

from bench import beir
from tests.conftest import FIXTURES

TINY = FIXTURES / "beir_tiny"


def test_ndcg_and_recall_on_a_hand_computed_example():
    relevant = {"a": 1, "b": 1, "z": 0}  # "z" is judged not relevant: no gain
    ranked = ["x", "a", "z", "b"]
    # DCG = 1/log2(3) + 1/log2(5); ideal DCG (two relevant) = 1/log2(2) + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert beir.ndcg_at_k(ranked, relevant, 10) == pytest.approx(expected)
    assert beir.ndcg_at_k(ranked, relevant, 10) == pytest.approx(0.6509, abs=1e-4)  # 1.0616 / 1.6309
    assert beir.ndcg_at_k(["a", "b"], relevant, 10) == pytest.approx(1.0)
    assert beir.ndcg_at_k(ranked, relevant, 1) == 0.0
    assert beir.recall_at_k(ranked, relevant, 10) == 1.0
    assert beir.recall_at_k(ranked, relevant, 2) == 0.5
    assert beir.ndcg_at_k(ranked, {}, 10) == 0.0 and beir.recall_at_k(ranked, {"z": 0}, 10) == 0.0


def test_dedupe_keeps_the_first_occurrence_of_each_document():
    assert beir.dedupe_documents(["a", "b", "a", "c", "b", "d"]) == ["a", "b", "c", "d"]
    assert beir.dedupe_documents(["a", "b", "a", "c", "b", "d"], 2) == ["a", "b"]


def test_loader_reads_the_beir_layout():
    data = beir.load_beir(TINY, "test")
    assert len(data.corpus) == 12 and set(data.queries) == {"q1", "q2", "q3", "q4", "q5"}  # q6 has no judgements
    assert data.qrels["q5"] == {"d11": 1, "d7": 0}
    assert beir.document_id_for("31715818") == "beir:31715818"
    assert beir.document_id_for("has space/slash").startswith("beir:h")


def test_harness_end_to_end_on_a_tiny_sample(make_kb):
    data = beir.load_beir(TINY, "test")
    kb = make_kb()
    tenant = beir.tenant_for(data.name)
    first = beir.ingest_corpus(kb, tenant, data.corpus)
    assert first.created == 12 and first.chunks_written >= 12
    again = beir.ingest_corpus(kb, tenant, data.corpus)  # re-runs are cheap: nothing changed
    assert again.unchanged == 12 and again.chunks_written == 0

    results = beir.evaluate(kb, tenant, data, modes=("vector", "text", "hybrid"))
    for result in results.values():
        assert result.queries == 5 and len(result.latency_ms) == 5
        assert 0.0 <= result.ndcg10 <= 1.0 and 0.0 <= result.recall10 <= 1.0
    # Measured: hybrid and vector nDCG@10 1.0, text recall@10 0.8; the thresholds leave some room.
    assert results["hybrid"].ndcg10 >= 0.9 and results["hybrid"].recall10 == 1.0
    assert results["vector"].ndcg10 >= 0.8
    assert results["text"].recall10 >= 0.8  # q3 shares few words with its document
    assert "hybrid" in beir.format_results(results)
