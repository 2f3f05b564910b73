"""Ingestion throughput (chunks/s) and where the time goes, through ``kb.ingest``.

    python -m bench.ingest_throughput [--pdfs ../shared/data/contoso/pdfs] [--repeat 1]

Each run deletes the tenant first, so every file is parsed, split, embedded and written
again (the engine would otherwise skip unchanged files). The per-step seconds come from
``IngestResult.timings`` (parse / split / embed / write).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

DEFAULT_PDFS = Path(__file__).resolve().parent.parent / "../shared/data/contoso/pdfs"
STEPS = ("parse", "split", "embed", "write")


def page_count(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(str(path)).pages)


def run(kb, tenant: str, files: Sequence[Path]) -> dict:
    kb.delete_tenant(tenant)
    per_file, totals = [], {s: 0.0 for s in STEPS}
    start = time.perf_counter()
    for path in files:
        t0 = time.perf_counter()
        result = kb.ingest(tenant, path)
        seconds = time.perf_counter() - t0
        for step in STEPS:
            totals[step] += result.timings.get(step, 0.0)
        per_file.append((path.name, result.chunk_count, seconds, result.timings))
    wall = time.perf_counter() - start
    chunks = sum(c for _, c, _, _ in per_file)
    return {"files": per_file, "totals": totals, "wall": wall, "chunks": chunks}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    parser.add_argument("--table", default="bench_contoso")
    parser.add_argument("--tenant", default="contoso-throughput")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)

    files = sorted(args.pdfs.glob("*.pdf"))
    if not files:
        parser.error(f"no PDFs in {args.pdfs}")
    pages = {f.name: page_count(f) for f in files}
    from rag_engine import KnowledgeBase

    kb = KnowledgeBase.from_env(table_name=args.table)
    s = kb.settings
    print(f"{len(files)} PDFs, {sum(pages.values())} pages, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB | "
          f"chunk_size={s.chunk_size} overlap={s.chunk_overlap} embed_batch_size={s.embed_batch_size} "
          f"embed={s.embed_provider} | {os.cpu_count()} CPUs")
    kb.embed_model.get_text_embedding_batch(["warm-up"])  # ONNX session start-up out of the figures
    for n in range(args.repeat):
        r = run(kb, args.tenant, files)
        print(f"\nrun {n + 1}: {r['chunks']} chunks in {r['wall']:.1f}s = {r['chunks'] / r['wall']:.1f} chunks/s "
              f"({sum(pages.values()) / r['wall']:.1f} pages/s)")
        print(f"  {'file':<45} {'pages':>5} {'chunks':>6} {'s':>7} {'chunks/s':>8}  " +
              " ".join(f"{st:>6}" for st in STEPS))
        for name, chunks, seconds, timings in r["files"]:
            print(f"  {name:<45} {pages[name]:>5} {chunks:>6} {seconds:>7.1f} {chunks / seconds:>8.1f}  " +
                  " ".join(f"{timings.get(st, 0.0):>6.1f}" for st in STEPS))
        total = sum(r["totals"].values())
        print("  where the time goes: " + ", ".join(
            f"{st} {r['totals'][st]:.1f}s ({100 * r['totals'][st] / total:.0f}%)" for st in STEPS))
    kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
