"""Tune the offline composer's weights on the answer benchmark's TRAIN split.

    python -m bench.tune_composer [--grid keep_ratio=0.7,0.8 redundancy=0,0.3 weight.defines=0,2 ...]

Builds the benchmark's knowledge base once (``bench.answers``), then for every combination of
the given ``ExtractiveComposer`` attributes (``weight.NAME``: the sentence model's weight of the
feature NAME, the others as fitted) answers the train items of the answerable sets and
prints page hit, all-key-facts and mean fact share. Only the train split is ever read here.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import warnings

from bench.answers import SETS, TABLE, benchmark_database, evaluate_item, ingest_tenants, load_set


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", nargs="*", default=[], help="attribute=v1,v2,… of ExtractiveComposer")
    parser.add_argument("--sets", default="contoso,conversations,demo")
    parser.add_argument("--max-context-chunks", type=int, default=None, help="passages to compose from")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("rag_engine").setLevel(logging.WARNING)
    from rag_engine import KnowledgeBase, Settings
    from rag_engine.composer import FEATURES

    grid = {}
    for spec in args.grid:
        name, values = spec.split("=", 1)
        grid[name] = [float(v) if "." in v else int(v) for v in values.split(",")]  # counts stay ints
    items = [i for name in args.sets.split(",") for i in load_set(name, "train") if i.answerable]
    with benchmark_database() as url:
        settings = Settings(database_url=url, table_name=TABLE)
        if args.max_context_chunks:
            settings = settings.with_overrides(max_context_chunks=args.max_context_chunks)
        kb = KnowledgeBase(settings)
        ingest_tenants(kb, dict.fromkeys(SETS[n][1] for n in args.sets.split(",")), log=lambda *a: None)
        for combination in itertools.product(*grid.values()) if grid else [()]:
            for name, value in zip(grid, combination):
                if name.startswith("weight."):
                    kb.composer.sentence_weights[FEATURES.index(name[len("weight."):])] = value
                else:
                    setattr(kb.composer, name, value)
            results = [evaluate_item(kb, item) for item in items]
            pages = sum(bool(r.source_hit) for r in results)
            facts = sum(r.all_facts and r.answered for r in results)
            share = sum(r.facts_found / max(r.facts_total, 1) for r in results) / len(results)
            label = " ".join(f"{n}={v}" for n, v in zip(grid, combination)) or "defaults"
            print(f"{label}: page {pages}/{len(results)}, all facts {facts}/{len(results)}, fact share {share:.3f}",
                  flush=True)
        kb.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
