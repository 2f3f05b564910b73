"""How the parts an offline answer chose read as an answer: arranged, labelled, listed and cited.

Parts that count off ("First, … Second, …") keep the document's order; the answer opens on a part that stands
alone ("For example, …" loses its framing; "This includes …" gives way); a figure keeps its label ("Out-of-network:
$50 …"), said once for the parts under it; a list's intro brings its items as a Markdown list; each part is cited
by the (document, page) it came from, numbered as cited, and those are the answer's sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

from .answer_parts import Unit
from .chunking import CONTEXT_SEPARATOR
from .text import stem_set
from .types import Hit, Source

NUMBER = re.compile(r"\d")
LEANS_BACK = re.compile(r"^(?:this|these|that|those|it|its|they|their|such|also|additionally|in addition|however|"
                        r"furthermore|moreover|finally|lastly|second|secondly|third|then|otherwise|as a result|"
                        r"therefore|thus|in this case|in these cases|in these situations)\b", re.I)
ORDINAL = re.compile(r"^(?:first|firstly|second|secondly|third|thirdly|fourth|finally|lastly)\b", re.I)

# An opening that frames the sentence rather than leans on one before it ("For example, preventive care is covered at
# 100 % …"): dropped when the sentence opens the answer. A sentence that makes a further point ("Additionally, …",
# "However, …") or depends on one before ("In this case, …") gives way instead to the first part that stands alone.
FRAMING = re.compile(r"^(?:for example|for instance|in conclusion|in summary|to summarize|on the other hand),\s+(?=\w)",
                     re.I)


@dataclass
class Composition:
    text: str
    sources: List[Source]
    best_score: float  # the best sentence's relevance: similarity + weighted shared words (-1: nothing usable)
    ranked: List[Unit] = field(default_factory=list)  # the best units considered, best first (for the gate)


def with_label(unit: Unit) -> str:
    """A figure keeps its label: "Out-of-network: $50 primary care" when the sentence doesn't say it;
    a paragraph's first sentence keeps the label line above it."""
    if unit.labelled:
        return f"{unit.label}: {unit.text}"
    leaf = unit.label or (unit.section.split(CONTEXT_SEPARATOR)[-1].strip() if unit.section else "")
    if not leaf or not NUMBER.search(unit.text) or unit.kind == "row":
        return unit.text
    # A heading labels a short figure; a label line labels every figure of its paragraph. A chapter's
    # title in capitals ("DEFINITIONS") qualifies no figure under it, nor does a heading that asks ("How do I
    # contact support?": the answer would quote a question).
    if stem_set(leaf) <= stem_set(unit.text) or len(unit.text.split()) > 14 and not unit.label \
            or not unit.label and leaf.isupper() or leaf.endswith("?"):
        return unit.text
    return f"{leaf}: {unit.text}"


def render(chosen: List[Unit], hits: Sequence[Hit], top: List[Unit]) -> Composition:
    """The chosen parts as the answer's text and its sources: arranged (parts that count off in the document's
    order, an opening that stands alone), labelled, lists as Markdown, each part cited by the (document, page) it
    came from, numbered as cited. ``top``: the best units considered, best first (what the gate reads)."""
    chosen = _opening_first(_in_sequence(chosen))
    numbers: Dict[Tuple[str, Optional[int]], int] = {}
    sources: List[Source] = []

    def where(unit: Unit) -> Tuple[str, Optional[int]]:
        return hits[unit.hit].document_id, unit.page

    def cite(unit: Unit) -> int:
        hit = hits[unit.hit]
        key = where(unit)
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            sources.append(Source(document_id=hit.document_id, title=hit.title, page=unit.page,
                                  chunk_id=hit.chunk_id,
                                  score=hit.vector_score if hit.vector_score is not None else hit.score,
                                  snippet=_snippet(unit.text if not unit.items else
                                                   unit.text + " " + "; ".join(i.text for i in unit.items)),
                                  url=hit.url))
        return numbers[key]

    paragraphs: List[str] = []
    loose_items: List[str] = []
    heading = ""  # the label the part before was given ("Split Copay For Office Visits: …"), said once
    for unit in chosen:
        if unit.kind == "item" and not unit.items:
            loose_items.append(f"- {unit.text} [{cite(unit)}]")
            heading = ""
            continue
        if loose_items:
            paragraphs.append("\n".join(loose_items))
            loose_items = []
        number = cite(unit)
        text = with_label(unit)
        label = text[: len(text) - len(unit.text)] if text.endswith(unit.text) else ""
        text, heading = (unit.text if label and label == heading else text), label
        if unit.items:
            # A list that runs onto the next page cites that page on the items printed there.
            item_lines = "\n".join(f"- {i.text}" + (f" [{cite(i)}]" if where(i) != where(unit) else "")
                                    for i in unit.items)
            paragraphs.append(f"{text} [{number}]\n{item_lines}")
        else:
            paragraphs.append(f"{text} [{number}]")
    if loose_items:
        paragraphs.append("\n".join(loose_items))
    text = _join_paragraphs(paragraphs)
    return Composition(text, sources, max(u.relevance for u in top), top)


def _in_sequence(chosen: List[Unit]) -> List[Unit]:
    """A passage's parts that count off ("First, …", "Second, …") read in the document's order, in the places its
    parts hold in the answer (a value asked for may have put "Second, … within six months" before "First, …")."""
    out = list(chosen)
    for hit in {u.hit for u in chosen if ORDINAL.match(u.text)}:
        places = [i for i, u in enumerate(out) if u.hit == hit]
        for place, unit in zip(places, sorted((out[i] for i in places), key=lambda u: u.order)):
            out[place] = unit
    return out


def _opening_first(chosen: List[Unit]) -> List[Unit]:
    """An answer does not open on a sentence that leans on one before it: "For example, …" opens without its
    framing (``FRAMING``); before "This includes …" or "Additionally, …" the first part that stands alone goes first,
    the rest keep their order."""
    if not chosen:
        return chosen
    framing = FRAMING.match(chosen[0].text)
    if framing and not chosen[0].labelled:
        rest = chosen[0].text[framing.end():]
        return [replace(chosen[0], text=rest[0].upper() + rest[1:])] + chosen[1:]
    if not LEANS_BACK.match(chosen[0].text):
        return chosen
    standalone = next((u for u in chosen if not LEANS_BACK.match(u.text)), None)
    return chosen if standalone is None else [standalone] + [u for u in chosen if u is not standalone]


def _join_paragraphs(paragraphs: List[str]) -> str:
    out = ""
    for paragraph in paragraphs:
        if not out:
            out = paragraph
        elif "\n" in paragraph or paragraph.startswith("- ") or "\n" in out.split("\n\n")[-1] \
                or out.split("\n\n")[-1].startswith("- "):  # a list, even of one item, stands apart
            out += "\n\n" + paragraph
        else:
            out += " " + paragraph
    return out


def _snippet(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
