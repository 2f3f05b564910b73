"""Retrieval latency at 100,000 chunks over 100 tenants, for vector, text and hybrid queries.

    python -m bench.retrieval_latency [--chunks 100000] [--tenants 100] [--queries 100] [--rebuild]

The table (``bench_latency``) is filled once and reused: one large tenant (30% of the chunks,
above ``exact_search_max_rows``, so its vector leg goes through HNSW with iterative scans), two
medium ones (10% each, searched exactly) and small ones sharing the rest. Chunk texts are
real text (SciFact abstracts cut into ~150-word pieces, cycled), so the BM25 leg sees a
realistic vocabulary; vectors are random unit vectors (384 dimensions), written with
``rag_engine.testing.bulk_insert_vectors`` (through the store's own write path: chunks, postings,
registry).
Queries are SciFact claims through ``kb.retrieve`` (which embeds the query with the real model
for the vector and hybrid modes); the store-only time (no query embedding) is shown too.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

SCIFACT = Path(__file__).resolve().parent.parent / "../shared/data/scifact"
DIM = 384
BATCH = 1000  # chunks per bulk_insert_vectors call (one document, one transaction)


def tenant_sizes(chunks: int, tenants: int) -> Dict[str, int]:
    large = int(chunks * 0.3)
    medium = int(chunks * 0.1)
    rest = chunks - large - 2 * medium
    small_count = tenants - 3
    sizes = {"large-000": large, "medium-001": medium, "medium-002": medium}
    for i in range(small_count):
        sizes[f"small-{i + 3:03d}"] = rest // small_count + (1 if i < rest % small_count else 0)
    return sizes


def passages(corpus: Path, words: int = 150) -> List[str]:
    out = []
    with open(corpus, encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            tokens = f"{doc.get('title', '')} {doc.get('text', '')}".split()
            for start in range(0, len(tokens), words):
                piece = tokens[start:start + words]
                if len(piece) >= 20:
                    out.append(" ".join(piece))
    return out


def build(kb, sizes: Dict[str, int], texts: List[str], seed: int = 0) -> float:
    from rag_engine.testing import bulk_insert_vectors

    rng = np.random.default_rng(seed)
    order = random.Random(seed)
    start = time.perf_counter()
    written = 0
    total = sum(sizes.values())
    for tenant, size in sizes.items():
        kb.delete_tenant(tenant)
        for part, offset in enumerate(range(0, size, BATCH)):
            n = min(BATCH, size - offset)
            vectors = rng.standard_normal((n, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            items = [(str(uuid.uuid4()), texts[order.randrange(len(texts))], vectors[i].tolist()) for i in range(n)]
            bulk_insert_vectors(kb.store, tenant, f"{tenant}-part{part}", f"{tenant} part {part}", items)
            written += n
        elapsed = time.perf_counter() - start
        if tenant.startswith(("large", "medium")) or tenant.endswith("0"):
            print(f"  {tenant}: {size} chunks; {written}/{total} written, {written / elapsed:.0f} chunks/s", flush=True)
    return time.perf_counter() - start


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--queries", type=int, default=100, help="queries per mode and tenant class")
    parser.add_argument("--table", default="bench_latency")
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args(argv)

    from rag_engine import KnowledgeBase

    kb = KnowledgeBase.from_env(table_name=args.table)
    s = kb.settings
    sizes = tenant_sizes(args.chunks, args.tenants)
    counts = {t: kb.store.tenant_chunk_count(t) for t in sizes}
    if args.rebuild or counts != sizes:
        print(f"building {args.table}: {args.chunks} chunks over {len(sizes)} tenants", flush=True)
        seconds = build(kb, sizes, passages(args.scifact / "corpus.jsonl"))
        print(f"built in {seconds:.0f}s ({args.chunks / seconds:.0f} chunks/s through bulk_insert_vectors)")
    else:
        print(f"reusing {args.table}: {sum(counts.values())} chunks over {len(counts)} tenants")
    with kb.store.engine.connect() as conn:
        import sqlalchemy as sa

        rows = conn.execute(sa.text(f"SELECT count(*) FROM {kb.store.chunks}")).scalar()
        postings = conn.execute(sa.text(f"SELECT count(*) FROM {kb.store.postings}")).scalar()
        size = conn.execute(sa.text(
            "SELECT pg_size_pretty(pg_total_relation_size(:a) + pg_total_relation_size(:b))"),
            {"a": kb.store.chunks, "b": kb.store.postings}).scalar()
    print(f"table: {rows} chunks, {postings} postings, {size} with indexes | top_k={args.top_k} "
          f"candidates={s.candidates} exact_search_max_rows={s.exact_search_max_rows} ef_search={s.hnsw_ef_search}")

    rng = random.Random(1)
    claims = [json.loads(l)["text"] for l in open(args.scifact / "queries.jsonl", encoding="utf-8") if l.strip()]
    def label(name, tenants):
        n = round(statistics.fmean(sizes[t] for t in tenants))
        path = "HNSW" if n > s.exact_search_max_rows else "exact"
        return f"{name} ({'~' if len(set(sizes[t] for t in tenants)) > 1 else ''}{n} chunks, {path})"

    small = [t for t in sizes if t.startswith("small")]
    classes = {label("small", small): small, label("medium", ["medium-001", "medium-002"]): ["medium-001", "medium-002"],
               label("large", ["large-000"]): ["large-000"]}
    kb.retrieve("large-000", "warm-up", mode="hybrid")
    print(f"\n{'tenant class':<32} {'mode':<7} {'p50 ms':>7} {'p95 ms':>7} {'store p50':>10} {'store p95':>10}")
    for name, tenants in classes.items():
        for mode in ("vector", "text", "hybrid"):
            total, store_only = [], []
            for _ in range(args.queries):
                tenant, query = rng.choice(tenants), rng.choice(claims)
                t0 = time.perf_counter()
                kb.retrieve(tenant, query, top_k=args.top_k, mode=mode)
                total.append((time.perf_counter() - t0) * 1000)
                # the same without the query embedding: what the database side costs
                retriever = kb.retriever(tenant, top_k=args.top_k, mode=mode)
                embedding = kb.embed_model.get_query_embedding(query) if mode != "text" else None
                t0 = time.perf_counter()
                retriever.search(query, embedding)
                store_only.append((time.perf_counter() - t0) * 1000)
            print(f"{name:<32} {mode:<7} {statistics.median(total):>7.1f} {pct(total, 0.95):>7.1f} "
                  f"{statistics.median(store_only):>10.1f} {pct(store_only, 0.95):>10.1f}", flush=True)
    kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
