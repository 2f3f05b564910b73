"""Words of a text as the full-text index sees them: lower case, stop words out, stemmed.

The same Snowball (Porter2) English stemmer as PostgreSQL's ``english`` configuration, so
a question's words can be matched against passages in Python as they are in SQL.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import FrozenSet, List

WORD = re.compile(r"[a-z0-9]+(?:[’'][a-z]+)?")
STOPWORDS = frozenset(
    "a an the and or but if of to in on at for from by with about as is are was were be been being do does did "
    "have has had i you he she it we they me my your our their its this that these those what which who whom how "
    "when where why can could would should will shall may might must not no yes please there here than then so "
    "just also any some all am i'm it's get got give gives tell know need want like into over under per "
    "us them him her his hers ours yours theirs very much many more most such only own same too s t".split()
)


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.snowball import SnowballStemmer  # pure Python; nltk ships with llama-index-core

    return SnowballStemmer("english")


@lru_cache(maxsize=50000)
def stem(word: str) -> str:
    return _stemmer().stem(word)


def content_words(text: str) -> List[str]:
    return [w for w in WORD.findall(text.lower().replace("’", "'")) if w not in STOPWORDS and len(w) > 1]


def stems(text: str) -> List[str]:
    return list(_stems(text))


@lru_cache(maxsize=8192)
def _stems(text: str) -> tuple:
    # Passages come back answer after answer: their words are stemmed once (the gate and the
    # composer read the same chunk texts, headings and titles many times). 8,192 texts at most: a
    # tenant's hot passages and sentences fit, and chunk-sized keys stay within tens of MB.
    return tuple(stem(w) for w in content_words(text))


@lru_cache(maxsize=8192)
def stem_set(text: str) -> FrozenSet[str]:
    """The distinct stems of ``text``, remembered (what word-overlap tests need)."""
    return frozenset(_stems(text))


# What PostgreSQL keeps of a question's phrasing that says nothing about its topic: the stems of the
# words above it does not count as stop words ("give", "much", "tell", "per") and the halves of
# negative contractions it splits ("doesn't" -> "doesn"). Weighed by idf, such a word is rare in
# documents ("give" in 3 chunks of 842) and would count as a topic word no passage holds.
CONTRACTION_STEMS = frozenset("doesn isn aren don didn won wasn weren hasn haven hadn shouldn couldn wouldn "
                              "mustn needn can ll ve re".split())


@lru_cache(maxsize=1)
def _phrasing_stems() -> FrozenSet[str]:
    return frozenset(stem(w) for w in STOPWORDS) | CONTRACTION_STEMS


def topic_lexemes(lexemes: dict) -> dict:
    """``lexemes`` {lexeme: count} of a question without its phrasing words (see ``CONTRACTION_STEMS``)."""
    noise = _phrasing_stems()
    return {lexeme: count for lexeme, count in lexemes.items() if lexeme not in noise}
