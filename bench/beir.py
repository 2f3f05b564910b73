"""Retrieval quality on any data set in the BEIR layout, through the engine's public API.

    python -m bench.beir ../shared/data/scifact [--split test] [--modes vector,text,hybrid]

The corpus (``corpus.jsonl``: {_id, title, text}) is ingested as documents of one tenant with
``kb.ingest(tenant, text=title + "\\n\\n" + text, title=..., document_id=...)`` into a
persistent table (``bench_<dataset>`` by default), so a second run finds every document
"unchanged" and only runs the queries. Each query of ``queries.jsonl`` that has judgements in
``qrels/<split>.tsv`` is run through ``kb.retrieve``; chunk hits are collapsed to documents
(first occurrence wins) and the top 10 are scored: nDCG@10 with binary gains and recall@10.

The functions are reusable (tests/test_bench_beir.py runs them on a tiny sample).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

DOCUMENT_ID_OK = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
MODES = ("vector", "text", "hybrid")


# ----------------------------------------------------------------------------- data
@dataclass
class BeirData:
    name: str
    corpus: Dict[str, dict]  # corpus id -> {"title", "text"}
    queries: Dict[str, str]  # query id -> text (only the queries judged in the split)
    qrels: Dict[str, Dict[str, int]]  # query id -> {corpus id: relevance}


def _read_jsonl(path: Path) -> Iterable[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_qrels(path: Path) -> Dict[str, Dict[str, int]]:
    qrels: Dict[str, Dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader)
        if [h.strip().lower() for h in header[:2]] != ["query-id", "corpus-id"]:
            raise ValueError(f"{path}: expected a header 'query-id corpus-id score', got {header}")
        for row in reader:
            if not row:
                continue
            qid, cid, score = row[0], row[1], int(row[2]) if len(row) > 2 else 1
            qrels.setdefault(qid, {})[cid] = score
    return qrels


def load_beir(directory: Path | str, split: str = "test") -> BeirData:
    directory = Path(directory)
    qrels = load_qrels(directory / "qrels" / f"{split}.tsv")
    corpus = {str(d["_id"]): {"title": d.get("title") or "", "text": d.get("text") or ""}
              for d in _read_jsonl(directory / "corpus.jsonl")}
    queries = {str(q["_id"]): q["text"] for q in _read_jsonl(directory / "queries.jsonl") if str(q["_id"]) in qrels}
    missing = set(qrels) - set(queries)
    if missing:
        raise ValueError(f"{len(missing)} judged queries have no text in queries.jsonl, e.g. {sorted(missing)[:3]}")
    return BeirData(directory.name, corpus, queries, qrels)


def document_id_for(corpus_id: str) -> str:
    """The engine document id of a corpus entry (ids are unique per table, so they carry a prefix)."""
    if DOCUMENT_ID_OK.fullmatch(corpus_id):
        return f"beir:{corpus_id}"
    return "beir:h" + hashlib.sha256(corpus_id.encode("utf-8")).hexdigest()[:40]


def tenant_for(name: str) -> str:
    tenant = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:64]
    return tenant or "beir"


def table_for(name: str) -> str:
    return ("bench_" + re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_"))[:41]


# -------------------------------------------------------------------------- metrics
def ndcg_at_k(ranked: Sequence[str], relevant: Dict[str, int], k: int = 10) -> float:
    """nDCG@k with binary gains: every judged document with relevance > 0 counts 1."""
    rel = {d for d, r in relevant.items() if r > 0}
    if not rel:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / ideal


def recall_at_k(ranked: Sequence[str], relevant: Dict[str, int], k: int = 10) -> float:
    rel = {d for d, r in relevant.items() if r > 0}
    if not rel:
        return 0.0
    return len(rel.intersection(ranked[:k])) / len(rel)


def dedupe_documents(document_ids: Iterable[str], k: Optional[int] = None) -> List[str]:
    """Chunk hits → documents, in order, keeping the first occurrence of each."""
    seen: set = set()
    out: List[str] = []
    for d in document_ids:
        if d not in seen:
            seen.add(d)
            out.append(d)
            if k is not None and len(out) == k:
                break
    return out


# -------------------------------------------------------------------------- running
@dataclass
class IngestStats:
    documents: int = 0
    created: int = 0
    unchanged: int = 0
    replaced: int = 0
    chunks_written: int = 0
    seconds: float = 0.0
    timings: Dict[str, float] = field(default_factory=dict)

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_written / self.seconds if self.seconds and self.chunks_written else 0.0


def ingest_corpus(kb, tenant: str, corpus: Dict[str, dict],
                  progress: Optional[Callable[[int, int, IngestStats], None]] = None) -> IngestStats:
    """Ingest every corpus entry through ``kb.ingest`` (unchanged ones are skipped by the engine)."""
    stats = IngestStats()
    start = time.perf_counter()
    total = len(corpus)
    for n, (cid, doc) in enumerate(corpus.items(), start=1):
        title = doc["title"].strip() or cid
        body = doc["text"].strip()
        text = f"{doc['title'].strip()}\n\n{body}".strip() if body else title
        result = kb.ingest(tenant, text=text, title=title, document_id=document_id_for(cid))
        stats.documents += 1
        setattr(stats, result.status, getattr(stats, result.status) + 1)
        if result.status != "unchanged":
            stats.chunks_written += result.chunk_count
            for key, value in (result.timings or {}).items():
                stats.timings[key] = stats.timings.get(key, 0.0) + value
        if progress and (n % 250 == 0 or n == total):
            stats.seconds = time.perf_counter() - start
            progress(n, total, stats)
    stats.seconds = time.perf_counter() - start
    return stats


@dataclass
class ModeResult:
    mode: str
    ndcg10: float
    recall10: float
    queries: int
    latency_ms: List[float]
    per_query: Dict[str, float] = field(default_factory=dict)  # query id -> nDCG@10

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latency_ms) if self.latency_ms else 0.0

    @property
    def p95_ms(self) -> float:
        if not self.latency_ms:
            return 0.0
        ordered = sorted(self.latency_ms)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def run_queries(kb, tenant: str, queries: Dict[str, str], mode: str, k: int = 10,
                fetch: int = 30) -> tuple[Dict[str, List[str]], List[float]]:
    """{query id: top-k engine document ids} for one retrieval mode, and each query's latency (ms)."""
    rankings: Dict[str, List[str]] = {}
    latencies: List[float] = []
    for qid, text in queries.items():
        t0 = time.perf_counter()
        hits = kb.retrieve(tenant, text, top_k=fetch, mode=mode)
        latencies.append((time.perf_counter() - t0) * 1000.0)
        rankings[qid] = dedupe_documents((h.document_id for h in hits), k)
    return rankings, latencies


def corpus_id_map(corpus: Dict[str, dict]) -> Dict[str, str]:
    return {document_id_for(cid): cid for cid in corpus}


def evaluate(kb, tenant: str, data: BeirData, modes: Sequence[str] = MODES, k: int = 10,
             fetch: int = 30) -> Dict[str, ModeResult]:
    id_map = corpus_id_map(data.corpus)
    results: Dict[str, ModeResult] = {}
    for mode in modes:
        rankings, latencies = run_queries(kb, tenant, data.queries, mode, k, fetch)
        per_query, recalls = {}, []
        for qid, relevant in data.qrels.items():
            ranked = [id_map.get(d, d) for d in rankings.get(qid, [])]
            per_query[qid] = ndcg_at_k(ranked, relevant, k)
            recalls.append(recall_at_k(ranked, relevant, k))
        results[mode] = ModeResult(mode, statistics.fmean(per_query.values()), statistics.fmean(recalls),
                                   len(per_query), latencies, per_query)
    return results


def format_results(results: Dict[str, ModeResult], k: int = 10) -> str:
    lines = [f"{'mode':<8} {'nDCG@' + str(k):>8} {'recall@' + str(k):>9} {'queries':>8} {'p50 ms':>8} {'p95 ms':>8}"]
    for r in results.values():
        lines.append(f"{r.mode:<8} {r.ndcg10:>8.4f} {r.recall10:>9.4f} {r.queries:>8d} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ CLI
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="a data set in the BEIR layout")
    parser.add_argument("--split", default="test", help="qrels/<split>.tsv (default: test)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: vector,text,hybrid")
    parser.add_argument("--table", default=None, help="table name (default: bench_<dataset>)")
    parser.add_argument("--tenant", default=None, help="tenant id (default: the data set's name)")
    parser.add_argument("--fetch", type=int, default=30,
                        help="chunks retrieved per query (top_k), collapsed to documents, of which the first 10 count")
    parser.add_argument("--max-queries", type=int, default=None, help="only the first N judged queries")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a Settings override, e.g. --set rrf_k=20 (repeatable)")
    args = parser.parse_args(argv)

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = set(modes) - set(MODES)
    if bad:
        parser.error(f"unknown modes: {', '.join(sorted(bad))}")
    data = load_beir(args.directory, args.split)
    if args.max_queries:
        keep = list(data.queries)[: args.max_queries]
        data.queries = {q: data.queries[q] for q in keep}
        data.qrels = {q: data.qrels[q] for q in keep}
    tenant = args.tenant or tenant_for(data.name)
    table = args.table or table_for(data.name)

    from rag_engine import KnowledgeBase, Settings

    overrides = {}
    types = {f: type(v) for f, v in vars(Settings()).items()}
    for item in args.set:
        name, _, value = item.partition("=")
        kind = types.get(name, str)
        overrides[name] = kind(value) if kind in (int, float) else value
    kb = KnowledgeBase.from_env(table_name=table, **overrides)
    s = kb.settings
    print(f"data set {data.name}: {len(data.corpus)} documents, {len(data.queries)} queries in split '{args.split}'"
          f" | table {table}, tenant {tenant}")
    print(f"settings: chunk_size={s.chunk_size} overlap={s.chunk_overlap} candidates={s.candidates} "
          f"fusion={kb.retriever(tenant).fusion} vector_weight={s.vector_weight} text_weight={s.text_weight} "
          f"bm25 k1={kb.store.bm25_k1} b={kb.store.bm25_b} fetch={args.fetch}")

    def progress(n, total, st: IngestStats):
        rate = f", {st.chunks_per_second:.1f} chunks/s" if st.chunks_written else ""
        print(f"  ingest {n}/{total}: {st.created} created, {st.unchanged} unchanged, {st.replaced} replaced, "
              f"{st.chunks_written} chunks written, {st.seconds:.0f}s{rate}", flush=True)

    stats = ingest_corpus(kb, tenant, data.corpus, progress)
    print(f"ingest: {stats.documents} documents in {stats.seconds:.1f}s ({stats.created} created, "
          f"{stats.unchanged} unchanged, {stats.replaced} replaced, {stats.chunks_written} chunks written"
          + (f", {stats.chunks_per_second:.1f} chunks/s; " + ", ".join(
              f"{k} {v:.1f}s" for k, v in stats.timings.items()) if stats.chunks_written else "") + ")")
    print(f"chunks in tenant: {kb.store.tenant_chunk_count(tenant)}")
    kb.retrieve(tenant, "warm-up query", top_k=args.fetch, mode="hybrid")  # first-query costs out of the figures
    results = evaluate(kb, tenant, data, modes, 10, args.fetch)
    print(format_results(results))
    kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
