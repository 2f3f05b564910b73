"""Retrieval latency at 100,000 chunks over 100 tenants, for vector, text and hybrid queries.

    python -m bench.retrieval_latency [--chunks 100000] [--tenants 100] [--queries 100] [--rebuild] [--build-only]

The table (``bench_latency``) is filled once and reused: one large tenant (30% of the chunks,
above ``exact_search_max_rows``, so its vector leg goes through HNSW with iterative scans), two
medium ones (10% each, searched exactly) and small ones sharing the rest. Chunk texts are
real text (SciFact abstracts cut into ~150-word pieces, cycled), so the BM25 leg sees a
realistic vocabulary; vectors are random unit vectors (384 dimensions), written with
``rag_engine.testing.bulk_insert_vectors`` (through the store's own write path: chunks, postings,
registry) by ``--workers`` processes, with the search-only indexes (HNSW, GIN, the postings'
term index) dropped during the load and built once after it.
Queries are SciFact claims through ``kb.retrieve`` (which embeds the query with the real model
for the vector and hybrid modes); the store-only time (no query embedding) is shown too, and the
pruned BM25 leg is compared with the exhaustive one on the same queries (overlap, time).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from bench.stats import percentile

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


def _write_tenants(kb, sizes: Dict[str, int], texts: List[str], seed: int, report=print) -> None:
    """Write each tenant's chunks, 1,000 per document; a tenant's content depends only on its name and ``seed``."""
    from rag_engine.testing import bulk_insert_vectors

    start = time.perf_counter()
    written = 0
    total = sum(sizes.values())
    for tenant, size in sizes.items():
        tenant_seed = seed * 1_000_003 + int(tenant.rsplit("-", 1)[1])
        rng = np.random.default_rng(tenant_seed)
        order = random.Random(tenant_seed)
        for part, offset in enumerate(range(0, size, BATCH)):
            n = min(BATCH, size - offset)
            vectors = rng.standard_normal((n, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            items = [(str(uuid.uuid4()), texts[order.randrange(len(texts))], vectors[i].tolist()) for i in range(n)]
            bulk_insert_vectors(kb.store, tenant, f"{tenant}-part{part}", f"{tenant} part {part}", items)
            written += n
        elapsed = time.perf_counter() - start
        if tenant.startswith(("large", "medium")) or tenant.endswith("00"):
            report(f"  {tenant}: {size} chunks; {written}/{total} written, {written / elapsed:.0f} chunks/s")


def _writer(table: str, sizes: Dict[str, int], texts: List[str], seed: int) -> None:
    from rag_engine import KnowledgeBase

    kb = KnowledgeBase.from_env(table_name=table)
    try:
        _write_tenants(kb, sizes, texts, seed, report=lambda line: print(line, flush=True))
    finally:
        kb.close()


def search_indexes(conn, kb) -> List[tuple]:
    """(name, definition) of the indexes only searches use: HNSW, GIN, the postings' term index.

    A bulk load writes faster without them and builds each once afterwards (HNSW in particular:
    one build over all rows instead of one graph insertion per row).
    """
    import sqlalchemy as sa

    rows = conn.execute(sa.text(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN (:c, :p) "
        "AND indexdef !~ 'UNIQUE' AND (indexdef ~ 'USING (hnsw|gin)' OR tablename = :p)"),
        {"c": kb.store.chunks, "p": kb.store.postings}).all()
    return [(r.indexname, r.indexdef) for r in rows]


def build(kb, table: str, sizes: Dict[str, int], texts: List[str], workers: int = 1, seed: int = 0) -> float:
    """Fill the table: search indexes dropped, ``workers`` processes writing tenants, indexes rebuilt."""
    import multiprocessing

    import sqlalchemy as sa

    start = time.perf_counter()
    with kb.store.engine.begin() as conn:
        # The bench's own tables: emptied at once (deleting tenant by tenant without the
        # postings' tenant index would scan all postings once per tenant).
        conn.execute(sa.text(f"TRUNCATE {kb.store.chunks}, {kb.store.postings}, {kb.store.tables.terms}, "
                             f"{kb.store.tables.documents}"))
        indexes = search_indexes(conn, kb)
        for name, _ in indexes:
            conn.execute(sa.text(f"DROP INDEX {name}"))
    shares = [dict() for _ in range(max(1, workers))]
    for i, (tenant, size) in enumerate(sorted(sizes.items(), key=lambda item: -item[1])):
        min(shares, key=lambda share: sum(share.values()))[tenant] = size  # balance by chunks
    if len(shares) == 1:
        _write_tenants(kb, shares[0], texts, seed)
    else:
        context = multiprocessing.get_context("spawn")
        procs = [context.Process(target=_writer, args=(table, share, texts, seed)) for share in shares]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        if any(proc.exitcode for proc in procs):
            raise SystemExit("a writer failed")
    loaded = time.perf_counter() - start
    print(f"  rows written in {loaded:.0f}s; building {len(indexes)} search indexes", flush=True)
    with kb.store.engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL maintenance_work_mem = '3GB'"))
        conn.execute(sa.text("SET LOCAL max_parallel_maintenance_workers = 2"))
        for name, definition in indexes:
            t0 = time.perf_counter()
            conn.execute(sa.text(definition))
            print(f"  {name}: {time.perf_counter() - t0:.0f}s", flush=True)
    with kb.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"VACUUM ANALYZE {kb.store.chunks}"))
        conn.execute(sa.text(f"VACUUM ANALYZE {kb.store.postings}"))
    return time.perf_counter() - start


def storage_report(kb) -> str:
    """Rows and sizes: the chunk table, its indexes, the postings, their index, the term counts."""
    import sqlalchemy as sa

    st = kb.store
    with st.engine.connect() as conn:
        def size(sql: str, **params) -> str:
            return conn.execute(sa.text(f"SELECT pg_size_pretty(({sql})::bigint)"), params).scalar()

        rows = conn.execute(sa.text(f"SELECT count(*) FROM {st.chunks}")).scalar()
        postings = conn.execute(sa.text(f"SELECT count(*) FROM {st.postings}")).scalar()
        terms = conn.execute(sa.text(f"SELECT count(*) FROM {st.tables.terms}")).scalar()
        return (f"table: {rows} chunks, {postings} postings, {terms} (document, lexeme) counts\n"
                f"  chunks {size('pg_table_size(:r)', r=st.chunks)} + indexes {size('pg_indexes_size(:r)', r=st.chunks)} "
                f"(HNSW {size('pg_relation_size(:i)', i=st.chunks + '_embedding_idx')}); "
                f"postings {size('pg_table_size(:r)', r=st.postings)} + indexes {size('pg_indexes_size(:r)', r=st.postings)} "
                f"(impact-ordered {size('pg_relation_size(:i)', i=st.postings + '_impact_idx')}); "
                f"term counts {size('pg_total_relation_size(:r)', r=st.tables.terms)} with indexes")


def _overlap(got: Sequence[str], expected: Sequence[str]) -> float:
    from collections import Counter

    if not expected:  # no chunk matches: right when the pruned search found none either
        return float(not got)
    return sum((Counter(got) & Counter(expected)).values()) / len(expected)


def text_overlap(kb, tenants: Sequence[str], claims: Sequence[str], rng: random.Random, queries: int,
                 depth: int) -> str:
    """The pruned BM25 leg against the exhaustive one on the same queries: overlap and time.

    Overlap counts chunk texts, not chunk ids: the bench's texts repeat (SciFact pieces cycled),
    and copies of one text score the same, so which copies fill a tie does not change a ranking.
    """
    same, top10, deep, pruned_ms, full_ms = 0, [], [], [], []
    for _ in range(queries):
        tenant, query = rng.choice(tenants), rng.choice(claims)
        t0 = time.perf_counter()
        pruned = [r.text for r in kb.store.text_search(tenant, query, depth)]
        pruned_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        full = [r.text for r in kb.store.text_search_exhaustive(tenant, query, depth)]
        full_ms.append((time.perf_counter() - t0) * 1000)
        same += pruned[:10] == full[:10]
        top10.append(_overlap(pruned[:10], full[:10]))
        deep.append(_overlap(pruned, full))
    return (f"identical top-10 {same}/{queries}, top-10 overlap {statistics.fmean(top10):.3f}, "
            f"top-{depth} overlap {statistics.fmean(deep):.3f} | p50/p95 ms pruned "
            f"{statistics.median(pruned_ms):.1f}/{percentile(pruned_ms, 95):.1f}, exhaustive "
            f"{statistics.median(full_ms):.1f}/{percentile(full_ms, 95):.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--queries", type=int, default=100, help="queries per mode and tenant class")
    parser.add_argument("--table", default="bench_latency")
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="writer processes for a build")
    parser.add_argument("--list-depth", type=int, default=None, help="BM25 pruning: bm25_list_depth")
    parser.add_argument("--postings-budget", type=int, default=None, help="BM25 pruning: bm25_postings_budget")
    parser.add_argument("--pool", type=int, default=None, help="BM25 pruning: bm25_pool")
    parser.add_argument("--budget-split", choices=("equal", "idf"), default=None,
                        help="BM25 pruning: bm25_budget_split (how common lexemes share the budget)")
    parser.add_argument("--build-only", action="store_true", help="build (or reuse) the table, run no queries")
    args = parser.parse_args(argv)

    from rag_engine import KnowledgeBase

    t0 = time.perf_counter()
    kb = KnowledgeBase.from_env(table_name=args.table)  # applies pending schema changes (timed: a migration)
    print(f"store ready in {time.perf_counter() - t0:.1f}s", flush=True)
    s = kb.settings
    for name, value in (("bm25_list_depth", args.list_depth), ("bm25_postings_budget", args.postings_budget),
                        ("bm25_pool", args.pool), ("bm25_budget_split", args.budget_split)):
        if value is not None:
            setattr(kb.store, name, value)
    sizes = tenant_sizes(args.chunks, args.tenants)
    counts = {t: kb.store.tenant_chunk_count(t) for t in sizes}
    if args.rebuild or counts != sizes:
        print(f"building {args.table}: {args.chunks} chunks over {len(sizes)} tenants", flush=True)
        seconds = build(kb, args.table, sizes, passages(args.scifact / "corpus.jsonl"), workers=args.workers)
        print(f"built in {seconds:.0f}s ({args.chunks / seconds:.0f} chunks/s through bulk_insert_vectors)")
    else:
        print(f"reusing {args.table}: {sum(counts.values())} chunks over {len(counts)} tenants")
    print(storage_report(kb))
    print(f"top_k={args.top_k} candidates={s.candidates} exact_search_max_rows={s.exact_search_max_rows} "
          f"ef_search={s.hnsw_ef_search} bm25: list depth {kb.store.bm25_list_depth}, "
          f"postings budget {kb.store.bm25_postings_budget}, pool {kb.store.bm25_pool}, "
          f"split {kb.store.bm25_budget_split}")
    if args.build_only:
        kb.close()
        return 0

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
    print(f"\n{'tenant class':<32} {'mode':<7} {'p50 ms':>7} {'p95 ms':>7} {'store p50':>10} {'store p95':>10} "
          f"{'full top-k':>10}")
    for name, tenants in classes.items():
        for mode in ("vector", "text", "hybrid"):
            total, store_only, full = [], [], 0
            for _ in range(args.queries):
                tenant, query = rng.choice(tenants), rng.choice(claims)
                t0 = time.perf_counter()
                hits = kb.retrieve(tenant, query, top_k=args.top_k, mode=mode)
                full += len(hits) == args.top_k
                total.append((time.perf_counter() - t0) * 1000)
                # the same without the query embedding: what the database side costs
                retriever = kb.retriever(tenant, top_k=args.top_k, mode=mode)
                embedding = kb.embed_model.get_query_embedding(query) if mode != "text" else None
                t0 = time.perf_counter()
                retriever.search(query, embedding)
                store_only.append((time.perf_counter() - t0) * 1000)
            print(f"{name:<32} {mode:<7} {statistics.median(total):>7.1f} {percentile(total, 95):>7.1f} "
                  f"{statistics.median(store_only):>10.1f} {percentile(store_only, 95):>10.1f} "
                  f"{full:>6}/{args.queries}", flush=True)
    print("\nBM25 leg, pruned (text_search) against exhaustive (text_search_exhaustive), "
          f"k={s.candidates} as the hybrid's text leg:")
    for name, tenants in classes.items():
        print(f"  {name}: {text_overlap(kb, tenants, claims, rng, args.queries, s.candidates)}", flush=True)
    kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
