"""Which words are English words, and how common: pyspellchecker's word frequencies (loaded once).

Used to tell a typo ("hearin") from a word the documents merely don't use ("scale"), and a
person's name ("Nadella", "Okafor") from a capitalised role ("Chief Executive Officer").
"""

from __future__ import annotations

import threading
from functools import lru_cache

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _dictionary():
    from spellchecker import SpellChecker  # its English word frequencies load once (~0.15 s)

    return SpellChecker(distance=1)


@lru_cache(maxsize=50000)
def frequency(word: str) -> int:
    """How often ``word`` occurs in pyspellchecker's English corpus (0: not an English word)."""
    with _lock:  # the checker is not documented as thread-safe
        return int(_dictionary().word_frequency[word.lower()])


def is_english_word(word: str) -> bool:
    return frequency(word) > 0
