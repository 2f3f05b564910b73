"""Should the assistant answer at all? A decision over several signals, calibrated on data.

A single cosine threshold fails both ways: a question can be close in meaning to a passage
that does not hold its answer ("What is the CEO's phone number?" near the role library), and a
short question with the answer can score low. The gate reads, for the question as the
customer means it (follow-ups joined with what they continue):

- ``similarity``: the best cosine similarity of the vector leg;
- ``coverage_best`` / ``coverage_all``: the share of the question's words (weighted by how
  rare they are in this tenant's documents, idf) found in the best single passage / in any of
  the passages retrieved;
- ``missing``: the idf-weighted share of the question's words that appear nowhere in the
  tenant's documents (a password, a phone number, another company's name);
- ``agreement``: whether the vector and full-text legs put the same passage first;
- ``sentence``: how close the best sentence of the passages is to the question.

A logistic model combines them; its weights are fitted on the train split of the answer
benchmark (``python -m bench.calibrate_gate``) and live below. The same decision runs before
any LLM call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Dict, List, Sequence, Tuple

from .text import stems
from .types import Hit


@dataclass(frozen=True)
class Signals:
    similarity: float
    coverage_best: float
    coverage_all: float
    missing: float
    agreement: float
    sentence: float

    def as_list(self) -> List[float]:
        return [float(getattr(self, f.name)) for f in fields(self)]

    @classmethod
    def names(cls) -> List[str]:
        return [f.name for f in fields(cls)]


def idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def lexical_signals(lexemes: Dict[str, int], n: int, hits: Sequence[Hit]) -> Tuple[float, float, float]:
    """(coverage_best, coverage_all, missing) of the question's ``lexemes`` {lexeme: df} over ``hits``."""
    if not lexemes:
        return 0.0, 0.0, 0.0
    weights = {lexeme: idf(df, n) for lexeme, df in lexemes.items()}
    total = sum(weights.values()) or 1.0
    passages = [set(stems(f"{h.title} {h.section} {h.text}")) for h in hits]
    found_all = set().union(*passages) if passages else set()
    best = max((sum(w for lx, w in weights.items() if lx in p) / total for p in passages), default=0.0)
    coverage_all = sum(w for lx, w in weights.items() if lx in found_all) / total
    missing = sum(w for lx, w in weights.items() if lexemes[lx] == 0) / total
    return best, coverage_all, missing


@dataclass(frozen=True)
class AnswerabilityGate:
    weights: Tuple[float, ...]
    bias: float
    threshold: float = 0.5

    def probability(self, signals: Signals) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, signals.as_list()))
        return 1.0 / (1.0 + math.exp(-z))

    def answerable(self, signals: Signals) -> bool:
        return self.probability(signals) >= self.threshold


# Fitted by bench/calibrate_gate.py on the train split (see bench/README.md); order as in Signals.
LOCAL_GATE = AnswerabilityGate(weights=(6.0, 3.0, 1.0, -6.0, 0.5, 6.0), bias=-8.0, threshold=0.5)
