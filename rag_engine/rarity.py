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
from typing import Callable, Dict, Iterable

from cachetools import TTLCache

from .gate import idf

Lookup = Callable[[str, list], Dict[str, int]]  # (tenant, lexemes) -> {lexeme: chunks holding it}


class WordRarity:
    def __init__(self, lookup: Lookup, ttl_s: float = 300.0, max_entries: int = 200_000):
        self.lookup = lookup
        self._counts: TTLCache = TTLCache(maxsize=max_entries, ttl=ttl_s)  # (tenant, lexeme) -> df
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
        """{lexeme: the tenant's chunks holding it}; the ones not remembered are counted in one query."""
        known: Dict[str, int] = {}
        missing = []
        with self._lock:  # cachetools' caches are not thread-safe
            for lexeme in dict.fromkeys(lexemes):
                df = self._counts.get((tenant_id, lexeme))
                if df is None:
                    missing.append(lexeme)
                else:
                    known[lexeme] = df
        if missing:
            fresh = self.lookup(tenant_id, sorted(missing))  # a lexeme PostgreSQL's parser drops is left out
            with self._lock:
                for lexeme, df in fresh.items():
                    known[lexeme] = self._counts[(tenant_id, lexeme)] = df
        return known
