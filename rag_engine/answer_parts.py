"""The parts an offline answer is made of: a retrieved passage read as sentences, list items (with the
intro that brings them), table rows, and the label lines that head a paragraph ("In-Network Copays:").

``units_of`` reads passages into ``Unit``s; ``usable_text`` says which can be quoted (no bare headings, link
fragments or questions). The composer (``composer.py``) scores and chooses among them; ``answer_text.py``
writes the chosen ones as the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, List, Optional, Sequence

import numpy as np

from .chunking import CONTEXT_SEPARATOR
from .types import Hit

POINTS_BACK = re.compile(r"^(?:these|this|they|those|such|it|which|them)\b", re.I)
URLISH = re.compile(r"^(?:https?://|www\.)\S+$|^\S+\.(?:com|org|net|example)\S*$", re.I)

# A short line that ends in a colon and heads the paragraph under it ("Out-of-Network Copays:").
LABEL = re.compile(r"^[A-Z][^.!?:]{0,60}:$")
LIST_INTRO = re.compile(r"(?::|\b(?:include|includes|including|following|such as|are|these))\s*$", re.I)
SIBLING, OTHER = "sibling", "other"  # what Unit.elsewhere says of a part's document


@dataclass
class Unit:
    hit: int
    line: int
    order: int
    kind: str  # sentence | item | row
    text: str
    page: Optional[int]
    section: str
    score: float = 0.0
    items: List["Unit"] = field(default_factory=list)  # a list intro's items
    parent: Optional["Unit"] = None  # an item's intro ("PerksPlus covers … including:")
    label: str = ""  # the label line over its paragraph ("Out-of-Network Copays:"), if any
    labelled: bool = False  # the first sentence under that label: read with it
    vector: Optional[np.ndarray] = None
    relevance: float = 0.0  # similarity + weighted shared words: what the gate reads (not the rank)
    features: Optional[np.ndarray] = None
    not_evidence: frozenset = frozenset()  # stems of the question it gets no credit for sharing (its document's name)
    elsewhere: str = ""  # SIBLING / OTHER: from a document other than the one the question names, not naming it

    @property
    def words(self) -> int:
        return len(self.text.split()) + sum(len(i.text.split()) for i in self.items)


def units_of(hits: Sequence[Hit], split_sentences: Callable[[str], List[str]]) -> List[Unit]:
    units: List[Unit] = []
    for h, hit in enumerate(hits):
        last_sentence: Optional[Unit] = None
        lines = [(n, line.strip()) for n, line in enumerate(hit.text.split("\n")) if line.strip()]
        section, label, fresh_label = hit.section, "", False
        for i, (line_number, line) in enumerate(lines):
            page = hit.pages[line_number] if hit.pages and line_number < len(hit.pages) else hit.page
            if line.startswith("- "):
                unit = Unit(h, line_number, len(units), "item", line[2:].strip(), page, section)
                if last_sentence is not None and LIST_INTRO.search(last_sentence.text):
                    last_sentence.items.append(unit)
                    unit.parent = last_sentence
                units.append(unit)
                continue
            following = lines[i + 1][1] if i + 1 < len(lines) else None
            if LABEL.match(line) and not (following or "").startswith("- "):
                # "In-Network Copays:" over a paragraph is that paragraph's heading, not a sentence:
                # the paragraph reads under it ("In-Network Copays: … $20 …"); a label ending the
                # chunk labels nothing here (the next chunk starts with it).
                label = line.rstrip(":").strip()
                section = f"{hit.section}{CONTEXT_SEPARATOR}{label}" if hit.section else label
                fresh_label = True
                continue
            kind = "row" if re.match(r"^[^:;]{1,40}: ", line) and "; " in line else "sentence"
            pieces = [line] if kind == "row" else _with_short_intro(split_sentences(line))
            for piece in pieces:
                piece = piece.strip()
                if piece:
                    last_sentence = Unit(h, line_number, len(units), kind, piece, page, section, label=label,
                                         labelled=fresh_label)
                    units.append(last_sentence)
                    fresh_label = False
    return units


def _with_short_intro(sentences: List[str]) -> List[str]:
    """"… exempt from prior authorization. These include:" is one list intro: its last words alone
    introduce nothing — too short, or pointing back ("These include but are not limited to:")."""
    if len(sentences) > 1 and LIST_INTRO.search(sentences[-1]) and (
            len(sentences[-1].split()) < 4 or POINTS_BACK.match(sentences[-1])):
        return sentences[:-2] + [f"{sentences[-2]} {sentences[-1]}"]
    return sentences


@lru_cache(maxsize=20000)
def usable_text(kind: str, text: str) -> bool:
    words = text.split()
    if URLISH.match(text.strip()):
        return False
    if kind == "sentence":
        # Bare headings, fragments and shouted titles are not sentences an answer can quote; nor is a
        # question ("Who is eligible for Split Copay for Office Visits?": a heading, or one the text asks).
        if text.rstrip("\"”’) ").endswith("?"):
            return False
        letters = [c for c in text if c.isalpha()]
        if letters and sum(c.isupper() for c in letters) / len(letters) > 0.6:
            return False
        return len(words) >= 4 and not (len(words) <= 12 and not re.search(r"[.!?:;)\"”]$", text))
    return len(words) >= 1
