"""Calibrate the answerability gate (``Settings.answer_min_score``) on data.

    python -m bench.calibrate_gate [--pdfs DIR] [--questions ground_truth.jsonl] [--scifact DIR]

Answerable: the 50 Contoso questions (``ground_truth.jsonl``; every one is answered in the 6
PDFs). Unanswerable for that tenant: ``bench/unanswerable_contoso.jsonl`` (52 customer
questions the PDFs do not answer: off-topic shop/IT/travel questions and near-domain HR
questions such as holidays, 401(k) or parking), plus optionally SciFact TRAIN claims as extra,
easy negatives. The gate statistic is what ``KnowledgeBase._prepare`` compares with the
threshold: ``RetrievalResult.best_similarity``, the best cosine similarity of the vector leg.

The chosen threshold maximises balanced accuracy ((answerable recall + unanswerable recall) / 2)
on answerable vs. the written unanswerable questions; ties go to the lowest threshold (when in
doubt, answer). The threshold that keeps >= 95% answerable recall is printed too.
"""

from __future__ import annotations

import argparse
import json
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


def candidate_thresholds(scores: Sequence[float]) -> List[float]:
    values = sorted(set(round(s, 6) for s in scores))
    mids = [(a + b) / 2 for a, b in zip(values, values[1:])]
    return [values[0] - 1e-6] + mids + [values[-1] + 1e-6]


def best_balanced(pos: Sequence[float], neg: Sequence[float]) -> Tuple[float, dict]:
    """The threshold with the highest balanced accuracy; the lowest such threshold on ties."""
    best = None
    for t in candidate_thresholds(list(pos) + list(neg)):
        c = confusion(pos, neg, t)
        if best is None or c["balanced_accuracy"] > best[1]["balanced_accuracy"] + 1e-12:
            best = (t, c)
    return best


def recall_threshold(pos: Sequence[float], neg: Sequence[float], recall: float = 0.95) -> Tuple[float, dict]:
    """The highest threshold that still keeps ``recall`` of the answerable questions."""
    ordered = sorted(pos)
    allowed_misses = int(len(ordered) * (1 - recall) + 1e-9)
    t = ordered[allowed_misses] - 1e-6
    return t, confusion(pos, neg, t)


def cross_validated(pos: Sequence[float], neg: Sequence[float], folds: int = 5, repeats: int = 20,
                    seed: int = 0) -> float:
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
            t, _ = best_balanced(p_train, n_train)
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

    t_bal, c_bal = best_balanced(pos, neg)
    t_rec, c_rec = recall_threshold(pos, neg, 0.95)
    chosen = round(t_bal, 2)
    print()
    print(f"max balanced accuracy: threshold {t_bal:.4f} (rounded {chosen:.2f})")
    print(_line(f"  at {chosen:.2f}", confusion(pos, neg, chosen)))
    print(f">=95% answerable recall: threshold {t_rec:.4f}")
    print(_line(f"  at {t_rec:.4f}", c_rec))
    old = DEFAULT_MIN_SCORE.get("local")
    print(_line(f"current default {old:.2f}", confusion(pos, neg, old)))
    if extra:
        print(f"SciFact claims refused at {chosen:.2f}: {sum(s < chosen for s in extra)}/{len(extra)}; "
              f"at {t_rec:.4f}: {sum(s < t_rec for s in extra)}/{len(extra)}")
    print(f"5-fold cross-validated balanced accuracy of the rule (20 repeats): {cross_validated(pos, neg):.3f}")
    misses = sorted((s, q) for s, q in zip(pos, positives) if s < chosen)
    false_accepts = sorted(((s, q["question"]) for s, q in zip(neg, negatives) if s >= chosen), reverse=True)
    for label, items in (("answerable but refused", misses), ("unanswerable but answered", false_accepts)):
        for s, q in items:
            print(f"  {label}: {s:.3f}  {q}")
    kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
