"""Tune the retrieval defaults (BM25 k1/b, fusion method, rrf_k, weights, candidates) on a
BEIR split — SciFact's TRAIN split; the test split is only reported with the chosen values.

    python -m bench.tune_fusion ../shared/data/scifact --split train

Needs the corpus ingested already (``python -m bench.beir DIR`` does it; same table). The
vector leg and the text leg run once per query and setting of the text leg (through the
store, exactly as the retriever calls them); the fusion variants are then replayed in
Python on those candidate lists with the retriever's own functions, which is exact because
each leg's top-c is the prefix of its top-100.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

from bench import beir
from rag_engine import retrieval


def _score(rankings: Dict[str, List[str]], data: beir.BeirData, id_map) -> tuple[float, float]:
    nd, rc = [], []
    for qid, relevant in data.qrels.items():
        ranked = [id_map[d] for d in rankings[qid]]
        nd.append(beir.ndcg_at_k(ranked, relevant, 10))
        rc.append(beir.recall_at_k(ranked, relevant, 10))
    return statistics.fmean(nd), statistics.fmean(rc)


def _doc_ranked(rows):
    """A leg's rows with ranks counted over distinct documents (a document's chunks share its rank)."""
    ranks, seen = [], {}
    for r in rows:
        d = r.metadata["document_id"]
        if d not in seen:
            seen[d] = len(seen) + 1
        ranks.append((r, seen[d]))
    return ranks


def fuse_rrf_documents(vector_rows, text_rows, k, vector_weight, text_weight):
    """RRF where each leg's rank counts documents, not chunks (explored; not the engine's method)."""
    scores, rows = {}, {}
    for weight, ranked in ((vector_weight, _doc_ranked(vector_rows)), (text_weight, _doc_ranked(text_rows))):
        for row, rank in ranked:
            scores[row.node_id] = scores.get(row.node_id, 0.0) + weight / (k + rank)
            rows.setdefault(row.node_id, row)
    ordered = sorted(scores, key=lambda n: (-scores[n], n))
    return [retrieval._hit(rows[n], scores[n]) for n in ordered]


def fuse_normalised(vector_rows, text_rows, vector_weight, text_weight, how):
    """Score-fusion variants explored: "zscore" (per-leg standard scores, missing = the leg's
    minimum) and "max" (cosine as is, BM25 divided by its best score)."""
    def norm(rows, kind):
        if not rows:
            return {}, 0.0
        xs = [r.score for r in rows]
        if how == "zscore":
            mean, sd = statistics.fmean(xs), (statistics.pstdev(xs) or 1.0)
            vals = {r.node_id: (r.score - mean) / sd for r in rows}
            return vals, min(vals.values())
        if kind == "vector":
            return {r.node_id: r.score for r in rows}, min(xs)
        top = max(xs) or 1.0
        return {r.node_id: r.score / top for r in rows}, 0.0
    (vn, vmiss), (tn, tmiss) = norm(vector_rows, "vector"), norm(text_rows, "text")
    rows = {}
    for r in list(vector_rows) + list(text_rows):
        rows.setdefault(r.node_id, r)
    scores = {n: vector_weight * vn.get(n, vmiss) + text_weight * tn.get(n, tmiss) for n in rows}
    ordered = sorted(scores, key=lambda n: (-scores[n], n))
    return [retrieval._hit(rows[n], scores[n]) for n in ordered]


def _docs(hits, fetch: int) -> List[str]:
    return beir.dedupe_documents((h.document_id for h in hits[:fetch]), 10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--table", default=None)
    parser.add_argument("--tenant", default=None)
    parser.add_argument("--fetch", type=int, default=30, help="chunks per query before deduplication (as bench.beir)")
    parser.add_argument("--depth", type=int, default=100, help="candidates fetched per leg (the largest tried)")
    parser.add_argument("--k1", default="0.9,1.2,1.5", help="BM25 k1 values to try")
    parser.add_argument("--b", default="0.4,0.6,0.75,0.9", help="BM25 b values to try")
    parser.add_argument("--methods", default="rrf,rrf-doc,score,zscore,max", help="fusion methods to try")
    args = parser.parse_args(argv)

    data = beir.load_beir(args.directory, args.split)
    tenant = args.tenant or beir.tenant_for(data.name)
    table = args.table or beir.table_for(data.name)
    from rag_engine import KnowledgeBase

    kb = KnowledgeBase.from_env(table_name=table)
    store = kb.store
    id_map = beir.corpus_id_map(data.corpus)
    print(f"{data.name}/{args.split}: {len(data.queries)} queries, {store.tenant_chunk_count(tenant)} chunks in "
          f"tenant {tenant}; fetch={args.fetch}, depth={args.depth}")

    t0 = time.perf_counter()
    embeddings = {qid: kb.embed_model.get_query_embedding(q) for qid, q in data.queries.items()}
    vector_rows = {qid: store.vector_search(tenant, embeddings[qid], args.depth) for qid in data.queries}
    print(f"vector leg: {time.perf_counter() - t0:.0f}s")
    vec = {qid: [beir.dedupe_documents((r.metadata["document_id"] for r in rows[:args.fetch]), 10)]
           for qid, rows in vector_rows.items()}
    nd, rc = _score({q: v[0] for q, v in vec.items()}, data, id_map)
    print(f"vector only: nDCG@10 {nd:.4f} recall@10 {rc:.4f}")

    # 1. BM25 parameters, text leg alone.
    text_by_params, text_alone = {}, {}
    print("\nBM25 (text leg alone)      nDCG@10  recall@10")
    for k1, b in itertools.product([float(x) for x in args.k1.split(",")], [float(x) for x in args.b.split(",")]):
        store.bm25_k1, store.bm25_b = k1, b
        t0 = time.perf_counter()
        rows = {qid: store.text_search(tenant, q, args.depth) for qid, q in data.queries.items()}
        ms = (time.perf_counter() - t0) * 1000 / len(rows)
        text_by_params[(k1, b)] = rows
        nd, rc = _score({q: beir.dedupe_documents((r.metadata["document_id"] for r in rs[:args.fetch]), 10)
                         for q, rs in rows.items()}, data, id_map)
        text_alone[(k1, b)] = nd
        print(f"  k1={k1:<4} b={b:<5}            {nd:.4f}   {rc:.4f}   ({ms:.1f} ms/query)")

    # 2. Fusion, for the three best BM25 settings (the best text leg alone need not fuse best).
    results = []
    shortlist = sorted(text_alone, key=lambda p: -text_alone[p])[:3]
    for (k1, b) in shortlist:
        text_rows = text_by_params[(k1, b)]
        for c in (20, 40, 60, 100):
            c = min(max(c, args.fetch), args.depth)
            grids = (("rrf", [5, 10, 20, 40, 60, 100]), ("rrf-doc", [5, 10, 20, 40, 60]),
                     ("score", [None]), ("zscore", [None]), ("max", [None]))
            for method, param_grid in (g for g in grids if g[0] in args.methods.split(",")):
                for param in param_grid:
                    for tw in ((0.1, 0.2, 0.3, 0.4, 0.5, 0.7) if method == "max" else (0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0)):
                        rankings = {}
                        for qid in data.queries:
                            v, t = vector_rows[qid][:c], text_rows[qid][:c]
                            if method == "rrf":
                                hits = retrieval.fuse(v, t, param, 1.0, tw)
                            elif method == "rrf-doc":
                                hits = fuse_rrf_documents(v, t, param, 1.0, tw)
                            elif method == "score":
                                hits = retrieval.fuse_scores(v, t, 1.0, tw)
                            else:
                                hits = fuse_normalised(v, t, 1.0, tw, method)
                            rankings[qid] = _docs(hits, args.fetch)
                        nd, rc = _score(rankings, data, id_map)
                        results.append((nd, rc, k1, b, c, method, param, tw))
    results.sort(key=lambda r: -r[0])
    print("\nbest fusions (train)                                   nDCG@10  recall@10")
    for nd, rc, k1, b, c, method, param, tw in results[:25]:
        label = f"{method} k={param}" if param is not None else {"score": "min-max score"}.get(method, method)
        print(f"  k1={k1:<4} b={b:<5} candidates={c:<4} {label:<14} text_weight={tw:<5} {nd:.4f}   {rc:.4f}")
    for method in args.methods.split(","):
        best = next(r for r in results if r[5] == method)
        print(f"best {method}: nDCG@10 {best[0]:.4f} recall@10 {best[1]:.4f} (k1={best[2]} b={best[3]} "
              f"candidates={best[4]} param={best[6]} text_weight={best[7]})")
    default = [r for r in results if r[5] == "rrf" and r[6] == 60 and r[7] == 1.0 and r[4] == max(40, args.fetch)
               and (r[2], r[3]) == (1.2, 0.75)]
    if default:
        print(f"old defaults (rrf_k=60, equal weights, 40 candidates, k1=1.2, b=0.75): nDCG@10 {default[0][0]:.4f}")
    kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
