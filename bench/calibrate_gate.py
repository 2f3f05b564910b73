"""Fit the answerability gate (``rag_engine/gate.py``) on the answer benchmark's train split.

    python -m bench.calibrate_gate [--signals cache.json] [--recall 0.97]

For every item of the train split (answerable Contoso questions and conversations, questions
the documents cannot answer, the demo company's items) it computes the gate's signals exactly
as ``KnowledgeBase._prepare`` does, fits a logistic regression (L2, plain gradient descent on
NumPy), and picks the decision threshold that declines the most unanswerable questions while
still answering at least ``--recall`` of the answerable ones (a wrongly declined question is a
customer left without an answer the documents hold). It prints the weights to paste into
``LOCAL_GATE`` and the decision's confusion on both splits; only train is used to fit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

from bench.answers import SETS, TABLE, benchmark_database, ingest_tenants, load_set


def signals_of(kb, items) -> List[Tuple[str, str, bool, List[float]]]:
    rows = []
    for item in items:
        prepared = kb._prepare(item.tenant, item.question, list(item.history) or None)
        rows.append((item.id, item.split, item.answerable, prepared.signals.as_list(), prepared.signals.exact_value))
    return rows


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.01, steps: int = 20000, rate: float = 0.5) -> Tuple[np.ndarray, float]:
    w, b = np.zeros(x.shape[1]), 0.0
    pos_weight = (len(y) - y.sum()) / max(y.sum(), 1)  # balance the classes
    sample = np.where(y == 1, pos_weight, 1.0)
    sample = sample / sample.mean()
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = (p - y) * sample
        w -= rate * (x.T @ g / len(y) + l2 * w)
        b -= rate * g.mean()
    return w, b


def choose_threshold(p: np.ndarray, y: np.ndarray, recall: float) -> float:
    positives = np.sort(p[y == 1])
    allowed = int(len(positives) * (1 - recall))
    return float(positives[allowed]) - 1e-6 if len(positives) else 0.5


def confusion(p: Sequence[float], y: Sequence[int], threshold: float) -> str:
    p, y = np.asarray(p), np.asarray(y)
    answered = int(((p >= threshold) & (y == 1)).sum())
    declined = int(((p < threshold) & (y == 0)).sum())
    return (f"answered {answered}/{int((y == 1).sum())} answerable, "
            f"declined {declined}/{int((y == 0).sum())} unanswerable")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signals", type=Path, help="cache of computed signals (read if present, else written)")
    parser.add_argument("--recall", type=float, default=0.94)
    args = parser.parse_args(argv)

    if args.signals and args.signals.exists():
        rows = json.loads(args.signals.read_text())
    else:
        import logging
        import warnings

        warnings.filterwarnings("ignore")
        logging.getLogger("rag_engine").setLevel(logging.WARNING)
        from rag_engine import KnowledgeBase, Settings

        with benchmark_database() as url:
            kb = KnowledgeBase(Settings(database_url=url, table_name=TABLE))
            ingest_tenants(kb, dict.fromkeys(tenant for _, tenant in SETS.values()))
            rows = signals_of(kb, [item for name in SETS for item in load_set(name, "all")])
            kb.close()
        if args.signals:
            args.signals.write_text(json.dumps(rows))

    from rag_engine.gate import Signals

    # The exact-value veto declines on its own; the model is fitted on what reaches it.
    train = [r for r in rows if r[1] == "train" and r[4] >= 1.0]
    test = [r for r in rows if r[1] == "test" and r[4] >= 1.0]
    for split in ("train", "test"):
        vetoed = [r for r in rows if r[1] == split and r[4] < 1.0]
        print(f"{split}: the exact-value veto declines {sum(not r[2] for r in vetoed)} unanswerable "
              f"and {sum(r[2] for r in vetoed)} answerable")
    x = np.array([r[3] for r in train])
    y = np.array([1.0 if r[2] else 0.0 for r in train])
    w, b = fit(x, y)
    p_train = 1 / (1 + np.exp(-(x @ w + b)))
    threshold = choose_threshold(p_train, y, args.recall)
    print("signals:", ", ".join(Signals.names()))
    print(f"LOCAL_GATE = AnswerabilityGate(weights=({', '.join(f'{v:.3f}' for v in w)}), bias={b:.3f}, "
          f"threshold={threshold:.3f})")
    print("train:", confusion(p_train, y, threshold))
    if test:
        xt = np.array([r[3] for r in test])
        yt = np.array([1.0 if r[2] else 0.0 for r in test])
        print("test: ", confusion(1 / (1 + np.exp(-(xt @ w + b))), yt, threshold))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
