"""Customers' typos, read as the tenant's documents spell the words ("hearin care servises").

A misspelled word is in no passage, so the full-text search cannot find it and the composer
cannot match it; the embedding model copes only partly. When a word of the question is held by
no chunk of the tenant, is not an English word (pyspellchecker's dictionary: "scale" asked of
documents that only say "sale" is no typo) and a close spelling of it is in the passages the
first search found, the question is searched again as the documents spell it. Only then: a
question without an unknown word costs nothing more.
"""

from __future__ import annotations

import re
from typing import Dict, Sequence

from .english import is_english_word
from .gate import spellings
from .text import WORD, STOPWORDS, stem
from .types import Hit


def corrections(lexemes: Dict[str, int], hits: Sequence[Hit], question: str) -> Dict[str, str]:
    """{stem of a misspelled word of ``question``: the word as the passages write it}; ``lexemes``: the
    question's {lexeme: chunks holding it}."""
    unknown = {lexeme: df for lexeme, df in lexemes.items() if df == 0}
    if not unknown or not hits:
        return {}
    words = {stem(w): w for w in WORD.findall(question.lower().replace("’", "'"))}
    unknown = {lexeme: df for lexeme, df in unknown.items() if not is_english_word(words.get(lexeme, lexeme))}
    if not unknown:
        return {}
    close = {lexeme: spelled for lexeme, spelled in spellings(unknown, hits).items() if spelled and spelled != lexeme}
    if not close:
        return {}
    surface: Dict[str, str] = {}
    wanted = set(close.values())
    for hit in hits:
        for word in WORD.findall(f"{hit.section} {hit.text}".lower().replace("’", "'")):
            if word not in STOPWORDS and stem(word) in wanted and stem(word) not in surface:
                surface[stem(word)] = word
        if len(surface) == len(wanted):
            break
    return {lexeme: surface[spelled] for lexeme, spelled in close.items() if spelled in surface}


def respell(text: str, fixes: Dict[str, str]) -> str:
    """``text`` with each word whose stem is a key of ``fixes`` replaced by its spelling there."""
    if not fixes:
        return text

    def replace(match: re.Match) -> str:
        word = match.group(0)
        fixed = fixes.get(stem(word.lower()))
        return fixed if fixed is not None else word

    return re.sub(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?", replace, text)
