"""The document a question names: "What is prior authorization in Northwind Standard?"

A company's documents are often about sibling products whose passages read alike (two health
plans, each "Northwind Health …"). When the customer names one, passages of the sibling are
wrong answers however well they match the rest of the question. A question names a document when
it holds a phrase of the document's title (two words or more, or a one-word title) that no other
title holds and that the passages found use for that document only: "Northwind Standard" names
Northwind_Standard_Benefits_Details.pdf, but "Northwind Health", which both plans' passages say,
names neither plan even though only one title holds it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from .chunking import display_title
from .text import stems

# A title phrase that passages of other documents use as often as the named one's does not tell
# the documents apart: at most this share of the passages holding it may be other documents'.
OTHERS_SHARE = 0.2


@lru_cache(maxsize=8192)
def _words(text: str) -> Tuple[str, ...]:
    """Stems of the content words, in order."""
    return tuple(stems(text))


def _title_words(title: str) -> Tuple[str, ...]:
    """A title's words, a file name read as words ("employee_handbook.pdf" → employee, handbook)."""
    return _words(display_title(title))


def title_words(titles: Iterable[str]) -> Set[str]:
    """The stems of the words of ``titles`` (what names a document rather than says anything of a topic)."""
    return {word for title in titles for word in _title_words(title)}


def _holds(words: Tuple[str, ...], phrase: Tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(words[i:i + n] == phrase for i in range(len(words) - n + 1))


def _phrases(title: Tuple[str, ...], asked: Set[Tuple[str, ...]]) -> Iterable[Tuple[str, ...]]:
    """The title's phrases that ``asked`` (the question's phrases) holds, longest first."""
    if len(title) == 1:
        if title in asked:
            yield title
        return
    for n in range(len(title), 1, -1):
        for i in range(len(title) - n + 1):
            if title[i:i + n] in asked:
                yield title[i:i + n]


@lru_cache(maxsize=4096)
def _grams(words: Tuple[str, ...]) -> FrozenSet[Tuple[str, ...]]:
    return frozenset(words[i:j] for i in range(len(words)) for j in range(i + 1, len(words) + 1))


@dataclass(frozen=True)
class Named:
    """The documents a question names and the title phrases that name them."""

    documents: FrozenSet[str] = frozenset()
    phrases: Tuple[Tuple[str, ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.documents)

    def covers(self, document_id: str, text: str) -> bool:
        """A passage of a named document, or one that names it itself (a comparison of the plans)."""
        if not self.documents or document_id in self.documents:
            return True
        words = _words(text)
        return any(_holds(words, phrase) for phrase in self.phrases)


def named_documents(question: str, passages: List[Tuple[str, str, str]]) -> Named:
    """The documents ``question`` names, among those of ``passages`` ((document id, title, text)
    triples: what retrieval found)."""
    asked = _words(question)
    if len(asked) == 0:
        return Named()
    titles: Dict[str, Tuple[str, ...]] = {}
    for document_id, title, _ in passages:
        titles.setdefault(document_id, _title_words(title))
    documents: Set[str] = set()
    phrases: List[Tuple[str, ...]] = []
    texts = None
    grams = _grams(asked)
    held = Counter(gram for title in titles.values() for gram in _grams(title) & grams)  # titles holding each
    for document_id, title in titles.items():
        for phrase in _phrases(title, grams):
            if held[phrase] > 1:  # another title holds it too
                continue
            if texts is None:  # only a question that holds a title phrase reads the passages
                texts = [(d, _words(text)) for d, _, text in passages]
            own = sum(1 for d, words in texts if d == document_id and _holds(words, phrase))
            others = sum(1 for d, words in texts if d != document_id and _holds(words, phrase))
            if others <= OTHERS_SHARE * (own + others):
                documents.add(document_id)
                phrases.append(phrase)
                break
    return Named(frozenset(documents), tuple(phrases))


# Two capitalised words or more: a name as a customer, or a rewrite of theirs, writes it.
NAME_RUN = re.compile(r"\b[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)+")


def spelled_as_titled(text: str, titles: Iterable[str]) -> str:
    """"Does Northwind Plus plan cover …?" → "Does Northwind Health Plus plan cover …?": a name whose words one
    title holds in order, but for one word between, is spelled as that title spells it (a correction joins
    the brand of the name before to the variant asked about; customers shorten names alike). A name any
    title holds as written, or that more than one title holds in order, is left as it is."""
    spelled_titles = [display_title(t).split() for t in dict.fromkeys(titles)]
    vocabulary = {w.lower() for title in spelled_titles for w in title}
    out, end = [], 0
    for run in NAME_RUN.finditer(text):
        words = list(re.finditer(r"\S+", run.group(0)))
        while words and words[0].group(0).lower() not in vocabulary:
            words.pop(0)  # "Does Northwind Plus …": the question's first word is capitalised too
        asked = tuple(w.group(0).lower() for w in words)
        if len(asked) < 2:
            continue
        spans = [(title, _subsequence_span([w.lower() for w in title], asked)) for title in spelled_titles]
        spans = [(title, span) for title, span in spans if span is not None]
        if len(spans) == 1 and spans[0][1][1] - spans[0][1][0] == len(asked):  # one title, one word left out
            title, (first, last) = spans[0]
            out.append(text[end:run.start() + words[0].start()] + " ".join(title[first:last + 1]))
            end = run.end()
    return "".join(out) + text[end:]


def _subsequence_span(words: List[str], wanted: Tuple[str, ...]) -> Optional[Tuple[int, int]]:
    """Where ``wanted`` occurs in ``words`` in order (gaps allowed), the tightest span from its first word."""
    best = None
    for start, word in enumerate(words):
        if word != wanted[0]:
            continue
        position, i = start, 1
        for j in range(start + 1, len(words)):
            if i < len(wanted) and words[j] == wanted[i]:
                i, position = i + 1, j
        if i == len(wanted) and (best is None or position - start < best[1] - best[0]):
            best = (start, position)
    return best
