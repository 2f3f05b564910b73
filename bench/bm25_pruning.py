"""BM25 pruning on a BEIR data set: the text leg's nDCG@10 pruned against exhaustive, query by query.

    python -m bench.bm25_pruning ../shared/data/scifact [--split test] [--depth 1000 --budget 20000 --pool 300]

Only the BM25 leg is measured, so the corpus is ingested through ``kb.ingest`` (same reader and
chunking as bench.beir) with a constant embedding instead of the model: minutes instead of an
hour. Table ``bench_<dataset>_text``, reused on a second run. The lists are cut only for lexemes
in more chunks than the depth; smaller ``--depth``/``--budget`` values show what a tenant many
times larger would see (the same proportion of each list read).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from bench.beir import evaluate, ingest_corpus, load_beir, tenant_for


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--depth", type=int, default=None, help="bm25_list_depth (default: the engine's)")
    parser.add_argument("--budget", type=int, default=None, help="bm25_postings_budget (default: the engine's)")
    parser.add_argument("--pool", type=int, default=None, help="bm25_pool (default: the engine's)")
    parser.add_argument("--budget-split", choices=("equal", "idf"), default=None,
                        help="bm25_budget_split (default: the engine's)")
    args = parser.parse_args(argv)

    from llama_index.core.embeddings import MockEmbedding

    from rag_engine import KnowledgeBase, Settings

    data = load_beir(args.directory, args.split)
    settings = Settings.from_env().with_overrides(table_name=f"bench_{data.name}_text")
    kb = KnowledgeBase(settings, embed_model=MockEmbedding(embed_dim=384), embed_model_id="constant", embed_dim=384)
    tenant = tenant_for(data.name)
    stats = ingest_corpus(kb, tenant, data.corpus)
    print(f"{data.name}: {stats.documents} documents ({stats.created} created) in {stats.seconds:.0f}s, "
          f"{kb.store.tenant_chunk_count(tenant)} chunks")
    store = kb.store
    for name, value in (("bm25_list_depth", args.depth), ("bm25_postings_budget", args.budget),
                        ("bm25_pool", args.pool), ("bm25_budget_split", args.budget_split)):
        if value is not None:
            setattr(store, name, value)
    print(f"list depth {store.bm25_list_depth}, postings budget {store.bm25_postings_budget}, pool {store.bm25_pool}, "
          f"split {store.bm25_budget_split}")
    pruned = evaluate(kb, tenant, data, modes=("text",))["text"]
    store.text_search = store.text_search_exhaustive  # the same queries, every posting scored
    exhaustive = evaluate(kb, tenant, data, modes=("text",))["text"]
    same = sum(abs(pruned.per_query[q] - exhaustive.per_query[q]) < 1e-9 for q in pruned.per_query)
    print(f"text nDCG@10: pruned {pruned.ndcg10:.4f} (p50 {pruned.p50_ms:.1f} ms), exhaustive "
          f"{exhaustive.ndcg10:.4f} (p50 {exhaustive.p50_ms:.1f} ms); same nDCG on {same}/{len(pruned.per_query)} "
          f"queries; largest drop {max(exhaustive.per_query[q] - pruned.per_query[q] for q in pruned.per_query):.3f}")
    kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
