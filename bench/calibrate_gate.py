"""Calibrate the answerability gate (``Settings.answer_min_score``) on data.

    python -m bench.calibrate_gate [--pdfs DIR] [--questions ground_truth.jsonl] [--scifact DIR]

Answerable: the 50 Contoso questions (``ground_truth.jsonl``; every one is answered in the 6
PDFs). Unanswerable for that tenant: ``bench/unanswerable_contoso.jsonl`` (52 customer
questions the PDFs do not answer: off-topic shop/IT/travel questions and near-domain HR
questions such as holidays, 401(k) or parking), plus optionally SciFact TRAIN claims as extra,
easy negatives. The gate statistic is what ``KnowledgeBase._prepare`` compares with the
threshold: ``RetrievalResult.best_similarity``, the best cosine similarity of the vector leg.

The chosen threshold maximises balanced accuracy ((answerable recall + unanswerable recall) / 2)
on answerable vs. the written unanswerable questions; among the thresholds that reach it, the
lowest (rounded up to 0.01; when in doubt, answer; ``--tie middle`` takes the midpoint). The
highest threshold that keeps >= 95% answerable recall is printed too.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path
from typing import List, Sequence, Tuple

HERE = Path(__file__).parent
DEFAULT_PDFS = Path("/work/shared/data/contoso/pdfs")
DEFAULT_QUESTIONS = Path("/work/shared/data/contoso/ground_truth.jsonl")
DEFAULT_NEGATIVES = HERE / "unanswerable_contoso.jsonl"


def read_questions(path: Path) -> List[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def confusion(pos: Sequence[float], neg: Sequence[float], threshold: float) -> dict:
    tp = sum(s >= threshold for s in pos)
    tn = sum(s < threshold for s in neg)
    return {"tp": tp, "fn": len(pos) - tp, "tn": tn, "fp": len(neg) - tn,
            "tpr": tp / len(pos), "tnr": tn / len(neg), "balanced_accuracy": (tp / len(pos) + tn / len(neg)) / 2}


def best_plateau(pos: Sequence[float], neg: Sequence[float]) -> Tuple[float, float, dict]:
    """(low, high, confusion): every threshold t with low < t <= high reaches the highest balanced
    accuracy (the first such interval from below when several tie)."""
    values = sorted(set(pos) | set(neg))
    bounds = [values[0] - 1.0] + values  # t in (bounds[i], bounds[i+1]] all give the same confusion
    best = None
    for low, high in zip(bounds, bounds[1:]):
        c = confusion(pos, neg, high)
        if best is None or c["balanced_accuracy"] > best[2]["balanced_accuracy"] + 1e-12:
            best = (low, high, c)
    return best


def best_balanced(pos: Sequence[float], neg: Sequence[float], tie: str = "lowest") -> Tuple[float, dict]:
    """The threshold with the highest balanced accuracy. Among the thresholds that reach it,
    "lowest" takes the bottom of the interval, rounded up to 0.01 (answer when in doubt: a refused
    answerable question is final, while an answered unanswerable one still meets the LLM's own
    "say you don't know" instruction); "middle" takes its midpoint (the widest margin both ways)."""
    low, high, _ = best_plateau(pos, neg)
    if tie == "middle":
        t = round((low + high) / 2, 2)
    else:
        t = math.floor(low * 100 + 1) / 100  # the first 0.01 step strictly above low
    t = min(max(t, math.nextafter(low, 1.0)), high)
    return t, confusion(pos, neg, t)


def recall_threshold(pos: Sequence[float], neg: Sequence[float], recall: float = 0.95) -> Tuple[float, dict]:
    """The highest threshold that still keeps ``recall`` of the answerable questions."""
    ordered = sorted(pos)
    allowed_misses = int(len(ordered) * (1 - recall) + 1e-9)
    t = ordered[allowed_misses] - 1e-6
    return t, confusion(pos, neg, t)


def cross_validated(pos: Sequence[float], neg: Sequence[float], folds: int = 5, repeats: int = 20,
                    seed: int = 0, tie: str = "lowest") -> float:
    """Balanced accuracy of the chosen-threshold rule on held-out folds (how much the choice overfits)."""
    rng = random.Random(seed)
    scores = []
    for _ in range(repeats):
        p, n = list(pos), list(neg)
        rng.shuffle(p)
        rng.shuffle(n)
        for f in range(folds):
            p_test, n_test = p[f::folds], n[f::folds]
            p_train = [x for i, x in enumerate(p) if i % folds != f]
            n_train = [x for i, x in enumerate(n) if i % folds != f]
            t, _ = best_balanced(p_train, n_train, tie)
            scores.append(confusion(p_test, n_test, t)["balanced_accuracy"])
    return statistics.fmean(scores)


def gate_scores(kb, tenant: str, questions: Sequence[str]) -> List[float]:
    # The engine's own gate path (condensing, embedding, retrieval), as answer() runs it.
    return [kb._prepare(tenant, q, None)[3].best_similarity for q in questions]


def _line(name: str, c: dict) -> str:
    return (f"{name:<34} answerable {c['tp']:>3}/{c['tp'] + c['fn']:<3} answered (recall {c['tpr']:.2f}) | "
            f"unanswerable {c['tn']:>3}/{c['tn'] + c['fp']:<3} refused (recall {c['tnr']:.2f}) | "
            f"balanced accuracy {c['balanced_accuracy']:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--negatives", type=Path, default=DEFAULT_NEGATIVES)
    parser.add_argument("--scifact", type=Path, default=Path("/work/shared/data/scifact"),
                        help="a BEIR data set whose TRAIN queries serve as extra negatives ('' to skip)")
    parser.add_argument("--scifact-count", type=int, default=100)
    parser.add_argument("--table", default="bench_contoso")
    parser.add_argument("--tenant", default="contoso")
    parser.add_argument("--tie", choices=("lowest", "middle"), default="lowest",
                        help="which threshold among those of maximal balanced accuracy (default: lowest)")
    args = parser.parse_args(argv)

    from rag_engine import KnowledgeBase
    from rag_engine.settings import DEFAULT_MIN_SCORE

    kb = KnowledgeBase.from_env(table_name=args.table)
    for pdf in sorted(args.pdfs.glob("*.pdf")):
        r = kb.ingest(args.tenant, pdf)
        print(f"ingest {pdf.name}: {r.status}, {r.chunk_count} chunks")
    positives = [q["question"] for q in read_questions(args.questions)]
    negatives = read_questions(args.negatives)
    pos = gate_scores(kb, args.tenant, positives)
    neg = gate_scores(kb, args.tenant, [q["question"] for q in negatives])
    extra: List[float] = []
    if str(args.scifact) and (args.scifact / "qrels" / "train.tsv").is_file():
        from bench import beir

        claims = list(beir.load_beir(args.scifact, "train").queries.values())[: args.scifact_count]
        extra = gate_scores(kb, args.tenant, claims)

    def summary(name, xs):
        xs = sorted(xs)
        return (f"{name:<34} n={len(xs):<4} min {xs[0]:.3f}  p5 {xs[int(0.05 * (len(xs) - 1))]:.3f}  "
                f"median {statistics.median(xs):.3f}  p95 {xs[int(0.95 * (len(xs) - 1))]:.3f}  max {xs[-1]:.3f}")

    print(f"\ngate statistic: best cosine similarity of the vector leg (embed={kb.settings.embed_provider})")
    print(summary("answerable (Contoso questions)", pos))
    print(summary("unanswerable (written)", neg))
    for kind in sorted({q.get("kind", "") for q in negatives}):
        print(summary(f"  of which {kind}", [s for s, q in zip(neg, negatives) if q.get("kind", "") == kind]))
    if extra:
        print(summary(f"unanswerable (SciFact train claims)", extra))

    low, high, c_best = best_plateau(pos, neg)
    chosen, _ = best_balanced(pos, neg, args.tie)
    middle, _ = best_balanced(pos, neg, "middle")
    t_rec, c_rec = recall_threshold(pos, neg, 0.95)
    print()
    print(f"max balanced accuracy {c_best['balanced_accuracy']:.3f} for any threshold in ({low:.4f}, {high:.4f}]; "
          f"chosen ({args.tie}): {chosen:.2f}; midpoint: {middle:.2f}")
    print(_line(f"  at {chosen:.2f}", confusion(pos, neg, chosen)))
    print(f">=95% answerable recall: threshold {t_rec:.4f}")
    print(_line(f"  at {t_rec:.4f}", c_rec))
    old = DEFAULT_MIN_SCORE.get("local")
    print(_line(f"current default {old:.2f}", confusion(pos, neg, old)))
    if extra:
        print(f"SciFact claims refused at {chosen:.2f}: {sum(s < chosen for s in extra)}/{len(extra)}; "
              f"at {t_rec:.4f}: {sum(s < t_rec for s in extra)}/{len(extra)}")
    for tie in ("lowest", "middle"):
        print(f"5-fold cross-validated balanced accuracy, tie rule '{tie}' (20 repeats): "
              f"{cross_validated(pos, neg, tie=tie):.3f}")
    misses = sorted((s, q) for s, q in zip(pos, positives) if s < chosen)
    false_accepts = sorted(((s, q["question"]) for s, q in zip(neg, negatives) if s >= chosen), reverse=True)
    for label, items in (("answerable but refused", misses), ("unanswerable but answered", false_accepts)):
        for s, q in items:
            print(f"  {label}: {s:.3f}  {q}")
    kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
