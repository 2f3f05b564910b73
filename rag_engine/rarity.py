"""How rare a tenant's words are: what tells a sentence that says something from one that doesn't.

The offline composer prefers sentences that bring specific words the question didn't use
("hormone therapy", "hearing aids") over ones that restate its topic in the tenant's everyday
vocabulary ("we strive to provide the best coverage"). Rarity is a word's idf in the tenant over
the largest idf possible there, from PostgreSQL's postings; the counts are remembered a few
minutes per (tenant, word): popular passages come back answer after answer, and a count a little
out of date only nudges a ranking.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Dict, Iterable, Tuple

from .gate import idf

Lookup = Callable[[str, list], Dict[str, int]]  # (tenant, lexemes) -> {lexeme: chunks holding it}


class WordRarity:
    def __init__(self, lookup: Lookup, ttl_s: float = 300.0, max_entries: int = 200_000):
        self.lookup = lookup
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._counts: "OrderedDict[Tuple[str, str], Tuple[int, float]]" = OrderedDict()
        self._lock = threading.Lock()

    def of_tenant(self, tenant_id: str, chunk_count: int) -> Callable[[Iterable[str]], Dict[str, float]]:
        """stems -> rarity in 0..1 for ``tenant_id`` (which holds ``chunk_count`` chunks)."""
        largest = idf(0, chunk_count) or 1.0

        def rarity(lexemes: Iterable[str]) -> Dict[str, float]:
            counts = self.counts(tenant_id, lexemes)
            # A passage's word held by no chunk is one PostgreSQL never indexes (its stop words: "through",
            # "each"): common, not rare.
            return {lexeme: idf(df, chunk_count) / largest for lexeme, df in counts.items() if df > 0}

        return rarity

    def common_word(self, tenant_id: str, chunk_count: int) -> Callable[[str], bool]:
        """stem -> whether the tenant uses it everywhere (in more than 2 % of its chunks, and more than 3)."""
        limit = max(3, 0.02 * chunk_count)
        return lambda lexeme: self.counts(tenant_id, [lexeme]).get(lexeme, 0) > limit

    def counts(self, tenant_id: str, lexemes: Iterable[str]) -> Dict[str, int]:
        now = time.monotonic()
        known: Dict[str, int] = {}
        with self._lock:
            for lexeme in lexemes:
                entry = self._counts.get((tenant_id, lexeme))
                if entry is not None and now - entry[1] < self.ttl_s:
                    known[lexeme] = entry[0]
                else:
                    known.setdefault(lexeme, -1)
        missing = sorted(lexeme for lexeme, df in known.items() if df < 0)
        if missing:
            fresh = self.lookup(tenant_id, missing)
            with self._lock:
                for lexeme in missing:
                    df = fresh.get(lexeme)
                    if df is None:  # PostgreSQL's parser saw no lexeme there: leave it out
                        del known[lexeme]
                        continue
                    known[lexeme] = df
                    self._counts[(tenant_id, lexeme)] = (df, now)
                    self._counts.move_to_end((tenant_id, lexeme))
                while len(self._counts) > self.max_entries:
                    self._counts.popitem(last=False)
        return known
