"""Ingestion throughput against the embedding model's own, and where the time goes.

    python -m bench.ingest_throughput [--pdfs ../shared/data/contoso/pdfs] [--rounds 5] [--before]

Each round runs, in an order that rotates from round to round (the machine is shared, so only
side-by-side figures mean anything):

* **model** — the embedding model alone on the very texts ingestion embeds (every chunk's context
  and text), in batches of ``embed_batch_size`` in document order: the ceiling;
* **ingest** — ``kb.ingest`` of every PDF (the tenant is deleted first, so every file is parsed,
  split, embedded and written again);
* with ``--before``, the same two as the engine ran them before its pipeline: **model-before**,
  the model with ONNX Runtime's spinning threads (its default then), and **serial-before**, the
  steps one after the other with that model: parse the whole file, split it, embed every batch,
  then write (same functions, same transaction).

Reported: chunks/s of each, the ratio ingest / model per round and its median, and the busy
seconds of each step (``IngestResult.timings``; in the pipeline the steps overlap, so they can add
up to more than the wall time).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

DEFAULT_PDFS = Path(__file__).resolve().parent.parent / "../shared/data/contoso/pdfs"
STEPS = ("parse", "split", "embed", "write")


def page_count(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(str(path)).pages)


def chunk_texts(kb, tenant: str, path: Path) -> List[str]:
    """What ingestion embeds for ``path``: its final chunks' embed texts (parsed once, up front)."""
    nodes = serial_nodes(kb, tenant, path, {s: 0.0 for s in STEPS})[1]
    return [embed_text(node) for node in nodes]


def embed_text(node) -> str:
    # As rag_engine.ingestion.embed_text (spelled out so this script also measures an older engine).
    from llama_index.core.schema import MetadataMode

    return node.get_content(metadata_mode=MetadataMode.EMBED)


def serial_nodes(kb, tenant: str, path: Path, timings: Dict[str, float]):
    """Parse and split ``path`` as ``kb.ingest`` does, one step after the other."""
    from rag_engine.chunking import build_nodes
    from rag_engine.readers import parse_bytes

    data = path.read_bytes()
    content_hash = hashlib.sha256(data).hexdigest()
    start = time.perf_counter()
    parsed = parse_bytes(data, path.name, kb.settings.max_document_chars)
    middle = time.perf_counter()
    nodes = build_nodes(parsed.blocks, tenant_id=tenant, document_id=document_id(tenant, path.name),
                        title=parsed.title, source_type=parsed.source_type, content_hash=content_hash,
                        chunk_size=kb.settings.chunk_size, chunk_overlap=kb.settings.chunk_overlap)
    timings["parse"] += middle - start
    timings["split"] += time.perf_counter() - middle
    return parsed, nodes, content_hash


def document_id(tenant: str, name: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rag-engine:{tenant}:{name}"))  # as kb.ingest names it


def run_model(kb, model, texts: Dict[str, List[str]]) -> dict:
    batch = kb.settings.embed_batch_size
    start = time.perf_counter()
    for chunk_texts_ in texts.values():
        for i in range(0, len(chunk_texts_), batch):
            model.get_text_embedding_batch(chunk_texts_[i:i + batch])
    wall = time.perf_counter() - start
    return {"chunks": sum(map(len, texts.values())), "wall": wall, "timings": {"embed": wall}}


def run_ingest(kb, tenant: str, files: Sequence[Path]) -> dict:
    kb.delete_tenant(tenant)
    totals = {s: 0.0 for s in STEPS}
    chunks = 0
    start = time.perf_counter()
    for path in files:
        result = kb.ingest(tenant, path)
        chunks += result.chunk_count
        for step in STEPS:
            totals[step] += result.timings.get(step, 0.0)
    return {"chunks": chunks, "wall": time.perf_counter() - start, "timings": totals}


def run_serial(kb, model, tenant: str, files: Sequence[Path]) -> dict:
    from rag_engine.store import DocumentRecord

    kb.delete_tenant(tenant)
    totals = {s: 0.0 for s in STEPS}
    chunks, batch = 0, kb.settings.embed_batch_size
    start = time.perf_counter()
    for path in files:
        parsed, nodes, content_hash = serial_nodes(kb, tenant, path, totals)
        t0 = time.perf_counter()
        for i in range(0, len(nodes), batch):
            part = nodes[i:i + batch]
            for node, vector in zip(part, model.get_text_embedding_batch([embed_text(n) for n in part])):
                node.embedding = vector
        t1 = time.perf_counter()
        kb.store.replace_document(DocumentRecord(document_id(tenant, path.name), tenant, parsed.title,
                                                 parsed.source_type, content_hash, len(nodes)), nodes)
        totals["embed"] += t1 - t0
        totals["write"] += time.perf_counter() - t1
        chunks += len(nodes)
    return {"chunks": chunks, "wall": time.perf_counter() - start, "timings": totals}


def breakdown(timings: Dict[str, float]) -> str:
    total = sum(timings.values()) or 1.0
    return ", ".join(f"{s} {timings[s]:.1f}s ({100 * timings[s] / total:.0f}%)" for s in STEPS if s in timings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    parser.add_argument("--table", default="bench_contoso")
    parser.add_argument("--tenant", default="contoso-throughput")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", action="store_true", help="also run the engine as it was before its pipeline")
    args = parser.parse_args(argv)

    files = sorted(args.pdfs.glob("*.pdf"))
    if not files:
        parser.error(f"no PDFs in {args.pdfs}")
    pages = {f.name: page_count(f) for f in files}
    from rag_engine import KnowledgeBase

    kb = KnowledgeBase.from_env(table_name=args.table)
    s = kb.settings
    texts = {f.name: chunk_texts(kb, args.tenant, f) for f in files}
    print(f"{len(files)} PDFs, {sum(pages.values())} pages, {sum(map(len, texts.values()))} chunks, "
          f"{sum(f.stat().st_size for f in files) / 1e6:.1f} MB | chunk_size={s.chunk_size} "
          f"overlap={s.chunk_overlap} embed_batch_size={s.embed_batch_size} embed={s.embed_provider} | "
          f"{os.cpu_count()} CPUs | load average at start {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    kb.embed_model.get_text_embedding_batch(["warm-up"])  # ONNX session start-up out of the figures

    runners = {"model": lambda: run_model(kb, kb.embed_model, texts),
               "ingest": lambda: run_ingest(kb, args.tenant, files)}
    if args.before:
        from rag_engine.embeddings import LocalMiniLMEmbedding

        spinning = LocalMiniLMEmbedding(embed_batch_size=s.embed_batch_size, spinning=True)
        spinning.get_text_embedding_batch(["warm-up"])
        runners["model-before"] = lambda: run_model(kb, spinning, texts)
        runners["serial-before"] = lambda: run_serial(kb, spinning, args.tenant, files)
    names = list(runners)
    reference = {"ingest": "model", "serial-before": "model-before", "model-before": "model"}
    results: Dict[str, list] = {name: [] for name in names}
    for n in range(args.rounds):
        order = names[n % len(names):] + names[:n % len(names)]  # rotate: nobody always goes first
        for name in order:
            results[name].append(runners[name]())
        line = " | ".join(f"{name} {r[-1]['chunks'] / r[-1]['wall']:.1f} chunks/s"
                          for name, r in results.items())
        ratios = " ".join(f"{name}/{reference[name]} "
                          f"{rate(results[name][-1]) / rate(results[reference[name]][-1]):.3f}"
                          for name in names if name != "model")
        print(f"round {n + 1} ({' → '.join(order)}): {line} | {ratios} | load {os.getloadavg()[0]:.1f}",
              flush=True)

    print()
    for name in names:
        rates = [rate(r) for r in results[name]]
        print(f"{name:>13}: median {statistics.median(rates):.1f} chunks/s (min {min(rates):.1f}, "
              f"max {max(rates):.1f})" + ("" if name.startswith("model") else "; busy per step, summed over rounds: " +
                                          breakdown(summed(results[name]))))
    for name in names:
        if name != "model":
            ratios = sorted(rate(a) / rate(b) for a, b in zip(results[name], results[reference[name]]))
            print(f"{name}/{reference[name]}: median {statistics.median(ratios):.3f} over {len(ratios)} paired rounds "
                  f"({', '.join(f'{r:.3f}' for r in ratios)})")
    kb.delete_tenant(args.tenant)
    kb.close()
    return 0


def rate(result: dict) -> float:
    return result["chunks"] / result["wall"]


def summed(results: List[dict]) -> Dict[str, float]:
    return {s: sum(r["timings"].get(s, 0.0) for r in results) for s in STEPS}


if __name__ == "__main__":
    sys.exit(main())
