"""Fit the offline composer's sentence ranking (``SENTENCE_WEIGHTS``) on the answer benchmark's TRAIN split.

    python -m bench.fit_composer [--l2 0.03] [--folds 5]

For every answerable train item (Contoso questions, conversations, the demo company's items) it
prepares the answer exactly as ``KnowledgeBase._prepare`` does, scores every candidate sentence
with ``ExtractiveComposer.score`` and labels it by whether it (with its list items) holds one of
the item's key facts. A linear model over the sentences' ``FEATURES`` is fitted listwise (softmax
over one question's candidates; the loss is minus the log of the probability given to the
fact-holding ones), with L2, by plain gradient descent on NumPy. It prints, for the current
weights, the fitted ones and a k-fold cross-validation by question: how often a fact-holding
sentence is ranked first / in the first three, and the mean reciprocal rank. Only train is read.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from typing import List, Sequence, Tuple

import numpy as np

from bench.answers import SETS, TABLE, benchmark_database, ingest_tenants, load_set

Question = Tuple[str, np.ndarray, np.ndarray]  # (item id, features of its candidates, 1 = holds a key fact)


def candidates_of(kb, items) -> List[Question]:
    from rag_engine.composer import value_kinds

    questions = []
    for item in items:
        prepared = kb._prepare(item.tenant, item.question, list(item.history) or None)
        if not prepared.hits:
            continue
        embedding = kb.embed_model.get_query_embedding(prepared.standalone)
        units = kb.composer.score(prepared.standalone, embedding, prepared.hits, value_kinds(item.question),
                                  prepared.weights, rarity=kb.rarity.of_tenant(item.tenant, prepared.chunk_count),
                                  named=prepared.named)
        labels = [any(f.found_in(u.text + " " + " ".join(i.text for i in u.items)) for f in item.facts) for u in units]
        if any(labels):
            questions.append((item.id, np.stack([u.features for u in units]).astype(float), np.array(labels, float)))
    return questions


def fit(questions: Sequence[Question], l2: float, steps: int = 800, rate: float = 0.3) -> np.ndarray:
    """Listwise: for each question, the softmax of its candidates' scores should sit on the labelled ones."""
    stacked = np.vstack([x for _, x, _ in questions])
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-9  # standardised while fitting, returned in raw units
    data = [((x - mean) / scale, y) for _, x, y in questions]
    w = np.zeros(stacked.shape[1])
    for _ in range(steps):
        gradient = l2 * w
        for z, y in data:
            s = z @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            target = p * y / (p * y).sum()
            gradient += z.T @ (p - target) / len(data)
        w -= rate * gradient
    return w / scale


def ranking_quality(questions: Sequence[Question], weights_for) -> Tuple[int, int, float]:
    first = top3 = 0
    reciprocal = 0.0
    for qid, x, y in questions:
        order = np.argsort(-(x @ weights_for(qid)), kind="stable")
        position = int(np.flatnonzero(y[order])[0])
        first += position == 0
        top3 += position < 3
        reciprocal += 1 / (position + 1)
    return first, top3, reciprocal / max(len(questions), 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--l2", type=float, default=0.03)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sets", default="contoso,conversations,demo")
    parser.add_argument("--report-test", action="store_true",
                        help="also rank the TEST split's candidates with the current and the fitted weights (held out)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("rag_engine").setLevel(logging.WARNING)
    from rag_engine import KnowledgeBase, Settings
    from rag_engine.composer import FEATURES, SENTENCE_WEIGHTS

    names = [n.strip() for n in args.sets.split(",")]
    items = [i for name in names for i in load_set(name, "train") if i.answerable]
    with benchmark_database() as url:
        kb = KnowledgeBase(Settings(database_url=url, table_name=TABLE))
        ingest_tenants(kb, dict.fromkeys(SETS[n][1] for n in names), log=lambda *a: None)
        questions = candidates_of(kb, items)
        held_out_split = candidates_of(kb, [i for name in names for i in load_set(name, "test") if i.answerable]) \
            if args.report_test else []
        kb.close()

    def report(label, quality):
        first, top3, mrr = quality
        print(f"{label}: fact-holding sentence first {first}/{len(questions)}, in the first three {top3}/{len(questions)}, "
              f"MRR {mrr:.3f}")

    print(f"{len(questions)} train questions with a fact-holding candidate "
          f"({sum(len(y) for _, _, y in questions)} candidates, {int(sum(y.sum() for _, _, y in questions))} holding a fact)")
    current = np.asarray(SENTENCE_WEIGHTS, float)
    report("current weights", ranking_quality(questions, lambda _: current))
    report("the earlier hand-set formula", ranking_quality(
        questions, lambda _: np.array([1.0, 0.6, 0, 0.08, 0.1, 0.18] + [0] * (len(FEATURES) - 6))))
    fitted = fit(questions, args.l2)
    report("fitted (in sample)", ranking_quality(questions, lambda _: fitted))
    folds = [questions[i::args.folds] for i in range(args.folds)]
    held_out = {}
    for fold in folds:
        w = fit([q for q in questions if q not in fold], args.l2)
        held_out.update({qid: w for qid, _, _ in fold})
    report(f"fitted ({args.folds}-fold cross-validated)", ranking_quality(questions, lambda qid: held_out[qid]))
    if held_out_split:
        # The hand-set formula this model replaced: similarity + 0.6 coverage + small bonuses.
        earlier = np.array([1.0, 0.6, 0, 0.08, 0.1, 0.18] + [0] * (len(FEATURES) - 6))
        for label, w in (("the earlier hand-set formula", earlier), ("current weights", current), ("fitted", fitted)):
            first, top3, mrr = ranking_quality(held_out_split, lambda _: w)
            print(f"TEST split, {label}: first {first}/{len(held_out_split)}, in the first three {top3}/"
                  f"{len(held_out_split)}, MRR {mrr:.3f}")
    print("SENTENCE_WEIGHTS = (" + ", ".join(f"{v:.3f}" for v in fitted) + ")")
    print("  # " + ", ".join(f"{n} {v:.2f}" for n, v in zip(FEATURES, fitted)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
