"""The offline answer: the retrieved sentences that answer the question, composed to read well.

Without a generative model the answer is made of the documents' own sentences, so the work
is in choosing and arranging them. Each sentence is ranked by a linear model over a few
features (``FEATURES``): its embedding similarity to the question (with its section as
context), the rarity-weighted share of the question's words it and its heading hold, the
passage's rank and score, whether it holds the kind of value asked for ("how much / how long /
when / how many"; for "what are the limitations / exceptions …", a sentence that says "not", "only",
"unless"), and how much *new, specific* vocabulary it brings (documents written to
reassure repeat the question's topic in sentences that say nothing: "We strive to provide the
best coverage for X"; the sentence that answers names things the question didn't). The weights
are fitted on the answer benchmark's train split (``python -m bench.fit_composer``). Then
repeated and near-repeated sentences (overlapping chunks of one page) are dropped, and up to about 90
words are chosen by maximal marginal relevance (60 more for each further ask of a compound question), each
part after the first gaining for the question's words no part has said yet. A question that names a document
is answered with that document's words (another's only when they name it too); a follow-up's answer does not
say the answer before it again; a table row whose values another part states is left out; a part far less
similar to the question than the best is left out.

The parts are read from the passages by ``answer_parts.py`` (sentences, list items with their intro, table
rows, label lines); the chosen ones are written as the answer, labelled, listed and cited, by ``answer_text.py``.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

from .answer_parts import OTHER, SIBLING, Unit, units_of, usable_text
from .answer_text import Composition, render
from .chunking import CONTEXT_SEPARATOR, display_title
from .english import is_english_word
from .naming import named_documents, title_words
from .text import stem_set, stems
from .types import Hit

VALUE = {
    "money": re.compile(r"[$€£]\s?\d|\d\s?(?:dollars|euros|usd|percent|%)", re.I),
    "time": re.compile(r"\b\d+\s*(?:-\s*\d+\s*)?(?:business\s+|calendar\s+)?(?:days?|weeks?|months?|years?|hours?|minutes?)\b"
                       r"|\b(?:daily|weekly|monthly|annually|yearly|per\s+(?:day|week|month|year))\b", re.I),
    "date": re.compile(r"\b(?:january|february|march|april|may|june|july|august|september|october|november|december|"
                       r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|\d{1,2}\s*(?:am|pm)|\d{4})\b", re.I),
    "count": re.compile(r"\b\d+\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve)\b", re.I),
    # what is not covered, or only in part: the sentences that say "not", "only", "unless", "excluded"
    "limit": re.compile(r"\b(?:not|no|never|cannot|can['’]t|\w+n['’]t|except|exclu\w*|limit\w*|restrict\w*|only|unless)\b",
                        re.I),
}
QUESTION_VALUE = [
    (re.compile(r"\bhow\s+much\b|\bcost|\bprice|\bpay\b|\bfee|\bcopay|\bdeductible|\breimburs|\bmoney\b|\bamount\b", re.I), "money"),
    (re.compile(r"\bhow\s+(?:long|soon|often)\b|\bdeadline\b|\bwithin\b", re.I), "time"),
    (re.compile(r"\bwhen\b|\bwhat\s+(?:time|date|day)\b|\bhours\b|\bopen\b", re.I), "date"),
    (re.compile(r"\bhow\s+many\b|\bnumber\s+of\b|\blimit\b", re.I), "count"),
    (re.compile(r"\b(?:limitations?|exclusions?|exceptions?|restrictions?|excluded|not\s+covered)\b|"
                r"\b(?:doesn['’]t|does\s+not|isn['’]t|is\s+not|won['’]t)\s+(?:\w+\s+)?cover", re.I), "limit"),
]
FIGURE = re.compile(r"\d[\d,.]*")
# What a sentence's rank is computed from (see ``sentence_features``), and the weights of the linear
# model over them, fitted by `python -m bench.fit_composer` on the answer benchmark's train split
# (listwise: a sentence holding a key fact ranked first; 5-fold cross-validated there). All but the last:
# "defines" (a "What is X?" question, a sentence saying "X is …") is set by hand, about a figure's worth —
# the train split holds no such question to learn it from (weights 0–3 there: the same answers).
FEATURES = ("similarity", "coverage", "text_coverage", "value", "named_document", "passage_rank", "novelty",
            "rare_words", "length", "is_item", "is_intro", "passage_score", "opens_passage", "defines")
SENTENCE_WEIGHTS = (7.057, 4.201, 2.846, 1.282, 0.282, 1.535, 5.489, 1.220, -0.572, -0.156, -0.057, -0.094, 0.819, 2.0)
Rarity = Callable[[Iterable[str]], Dict[str, float]]  # stems -> idf in the tenant / the largest idf (0..1)
INTRO_SAYS = 8  # words from which a list's intro says what the list is about (6, 8 and 10: the same answers)


def _is_a_name(title: str) -> bool:
    """Whether a document's title names it rather than a topic: two words or more ("Northwind Standard Benefits
    Details"), or one that is no English word ("PerksPlus"; not "hospice")."""
    words = display_title(title).split()
    return len(words) > 1 or bool(words) and not is_english_word(words[0])


# "What is prior-authorization in Northwind Standard?": asks what something is; "Prior-authorization is a
# process in which …" says it.
DEFINITION_ASKED = re.compile(r"^\s*what\s+(?:is|are|'s)\s+(?:an?\s+|the\s+)?(?P<term>.+?)"
                              r"(?:\s+(?:in|under|for|at|with|according\s+to)\s+.*?)?\s*\??\s*$", re.I)
DEFINITION_GIVEN = re.compile(r"^\s*(?:an?\s+|the\s+)?(?P<subject>(?:[\w’'-]+\s+){0,5}?[\w’'-]+)\s+"
                              r"(?:is|are|refers\s+to|means)\b", re.I)


def defined_term(question: str) -> frozenset:
    """The stems of what a "What is X?" question asks about (empty for any other question)."""
    match = DEFINITION_ASKED.match(question)
    return stem_set(match.group("term")) if match else frozenset()


def defines(text: str, term: frozenset) -> bool:
    """Whether ``text`` opens by saying what ``term`` is ("Prior authorization is a process …")."""
    match = DEFINITION_GIVEN.match(text) if term else None
    if not match:
        return False
    subject = stem_set(match.group("subject"))
    return bool(subject) and subject <= term and 2 * len(subject & term) >= len(term)


def value_kinds(question: str) -> List[str]:
    return [kind for pattern, kind in QUESTION_VALUE if pattern.search(question)]


def _evidence(weights: Dict[str, float], unit: Unit) -> Dict[str, float]:
    """The question's weighted stems that count for ``unit`` when shared (all but its ``not_evidence``)."""
    if not unit.not_evidence:
        return weights
    return {w: v for w, v in weights.items() if w not in unit.not_evidence} or weights


def _shared(weights: Dict[str, float], unit: Unit) -> Tuple[float, float]:
    """The weighted share of the question's stems (its ``_evidence``) that ``unit``'s heading and text hold, and
    that its text alone holds: the ``coverage`` and ``text_coverage`` features."""
    own = _evidence(weights, unit)
    total = sum(own.values()) or 1.0
    text = stem_set(unit.text)
    words = stem_set(unit.section) | text  # = the stems of "section text"
    return (sum(v for w, v in own.items() if w in words) / total,
            sum(v for w, v in own.items() if w in text) / total)


def _as_part_of_list(units: List[Unit]) -> None:
    """An item is quoted with its whole list, so it ranks as part of it: an item whose intro says what the list is
    about (INTRO_SAYS words or more) scores the mean of its own score and the lower of its own and its intro's.
    "Use the searchable directory … to find in-network providers" matches a question about the benefits of
    in-network providers; its list, "When choosing an in-network provider, there are a few tips to keep in
    mind:", does not answer it. A short intro ("You can do this by:", "These include:") says too little to judge by."""
    scored = {id(u) for u in units}
    for unit in units:
        intro = unit.parent
        if intro is not None and id(intro) in scored and len(intro.text.split()) >= INTRO_SAYS:
            unit.score = (unit.score + min(unit.score, intro.score)) / 2


def _signature(text: str) -> frozenset:
    return stem_set(text)


def _near_duplicate(a: frozenset, b: frozenset) -> bool:
    if not a or not b:
        return a == b
    overlap = len(a & b)
    return overlap / len(a | b) >= 0.8 or overlap / min(len(a), len(b)) >= 0.95


def _remembered(split_sentences: Callable[[str], List[str]]) -> Callable[[str], List[str]]:
    cached = lru_cache(maxsize=20000)(lambda line: tuple(split_sentences(line)))
    return lambda line: list(cached(line))


class ExtractiveComposer:
    """Compose an answer of at most ``max_words`` words from the best sentences of ``hits``."""

    def __init__(self, embed_model: BaseEmbedding, split_sentences: Callable[[str], List[str]],
                 max_words: int = 90, max_parts: int = 4, keep_margin: float = 6.0, overlap_weight: float = 0.6,
                 redundancy: float = 1.5, embed_section: float = 1.0, max_units: int = 14,
                 cache_size: int = 10000, sentence_weights: Sequence[float] = SENTENCE_WEIGHTS,
                 max_candidates: int = 12, same_point: float = 0.85, own_words: int = 4,
                 ask_words: int = 60, ask_parts: int = 1, fresh_coverage: float = 8.0, min_similarity: float = 0.4):
        self.embed_model = embed_model
        # A chunk's lines come back answer after answer: each is split into sentences once.
        self.split_sentences = _remembered(split_sentences)
        self.max_words = max_words
        self.max_parts = max_parts
        self.keep_margin = keep_margin  # a part scores within this of the best (in the model's log-odds)
        self.overlap_weight = overlap_weight  # shared words in ``relevance`` (what the gate reads)
        self.redundancy = redundancy
        self.embed_section = embed_section  # a sentence is embedded with its heading ("Copays: $20 …")
        self.max_units = max_units
        self.cache_size = cache_size
        self.sentence_weights = np.asarray(sentence_weights, dtype=np.float32)
        self.same_point = same_point  # cosine over which two parts make one point (tuned on train) …
        self.own_words = own_words  # … unless one brings more words of its own than this
        self.max_candidates = max_candidates  # the parts are chosen among the best of these
        # Each further ask of a compound question is a question of its own: it gets this much more room
        # (`bench.tune_composer --grid ask_words=0,30,60,90 ask_parts=0,1,2` on train: 60 and 1, one fact more).
        self.ask_words = ask_words
        self.ask_parts = ask_parts
        # What a part gains for each share of the question's words it adds (`bench.tune_composer --grid
        # fresh_coverage=0,1,2,4,6,8,12,16,24` on train: 0–4 the same, 6–24 one fact more; 8 taken).
        self.fresh_coverage = fresh_coverage
        # A part whose similarity to the question is below this share of the best candidate's is about something
        # else, whatever words it shares ("Responsibilities: … via phone, email, and chat" for "What is their email
        # address?"). `bench.tune_composer --grid min_similarity=0,0.3,0.4,0.5,0.6` on train: page and facts the
        # same up to 0.5 (0.6: a page fewer); 0.4 taken, the train answers it changes read better and 0.5's more
        # do not (and cost a held-out fact, seen in the same run).
        self.min_similarity = min_similarity
        self._cache: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self._lock = threading.Lock()

    def score(self, question: str, question_embedding: Sequence[float], hits: Sequence[Hit],
              wanted: Optional[List[str]] = None, weights: Optional[Dict[str, float]] = None,
              enough: Optional[Callable[[List[Unit], Unit], bool]] = None,
              rarity: Optional[Rarity] = None, max_units: Optional[int] = None,
              named: Optional[FrozenSet[str]] = None) -> List[Unit]:
        """Every usable unit of ``hits``, scored against the question, best first, repeats removed.

        ``weights``: how much each stemmed word of the question weighs (its idf in the tenant);
        ``rarity``: how rare words are in the tenant (without it, novelty reads as nil);
        ``enough(kept, next_unit)``: when it says so, the rest (all scored lower) is left out
        unchecked — the near-repeat test compares every pair, and callers read only the best;
        ``max_units``: how many of the likeliest units are embedded and scored (default ``self.max_units``);
        ``named``: the documents the question names (``naming.named_documents``; worked out from ``hits`` when
        not given — the engine gives what its search decided)."""
        units = [u for u in units_of(hits, self.split_sentences) if self._usable(u)]
        if not units:
            return []
        weights = weights or {w: 1.0 for w in stems(question)}
        wanted = value_kinds(question) if wanted is None else wanted
        if named is None:
            named = named_documents(question, [(h.document_id, h.title, h.text) for h in hits]).documents
        if named:
            # A question that names a document is not answered by a sentence naming its sibling — a document whose
            # title shares a word with the named one's ("Northwind Health Plus may require pre-authorization …" for
            # a question about Northwind Standard); one naming both (a comparison) stays.
            passages = [(h.document_id, h.title, h.text) for h in hits]
            named_words = title_words(h.title for h in hits if h.document_id in named)
            siblings = {h.document_id for h in hits if h.document_id not in named
                        and title_words([h.title]) & named_words}
            # only a sentence holding a word of a sibling's title that the named one's lacks ("plus") is read
            telling = title_words(h.title for h in hits if h.document_id in siblings) - named_words
            about = [named_documents(u.text, passages).documents if stem_set(u.text) & telling else frozenset()
                     for u in units]
            # What another document says is no answer about the named one (see ``compose``) unless it names that one
            # too, by the words of its title no other title has that the question used ("Unlike Northwind Standard,
            # …" compares the two; "Northwind Health" alone, as both plans' booklets say, names neither). A sibling's
            # sentence is always the other product's; another document's only when the name is a name: "hospice.md"
            # is named by any question about hospice care, which other documents may answer in part.
            others = {h.document_id for h in hits if h.document_id not in named}
            own_name = named_words - title_words(h.title for h in hits if h.document_id in others)
            asked_name = own_name & stem_set(question) or own_name
            proper = all(_is_a_name(h.title) for h in hits if h.document_id in named)
            for unit in units:
                document = hits[unit.hit].document_id
                if document in others and not asked_name <= stem_set(unit.text):
                    unit.elsewhere = SIBLING if document in siblings else OTHER if proper else ""
            units = [u for u, documents in zip(units, about)
                     if not documents & siblings or documents & named] or units
        rare = rarity(set().union(*(stem_set(u.text) for u in units)) - set(weights)) if rarity else {}
        if named:
            # In the named document its name is no evidence: "Use the searchable directory on the Northwind Health
            # Plus website …" shares "Northwind Health Plus" with a question asked "according to the Northwind
            # Health Plus Benefits Details", as half that booklet does (the named feature already favours it).
            # Another document's sentence naming it still counts the name: there, it says what it is about.
            name = frozenset(named_words & weights.keys())
            for unit in units:
                if hits[unit.hit].document_id in named:
                    unit.not_evidence = name
        top_passage = max((h.score for h in hits), default=0.0) or 1.0
        term = defined_term(question) if not wanted else frozenset()  # "What is the copay …?" asks a value
        for unit in units:
            unit.features = self._features(unit, hits, weights, wanted, named, rare, top_passage, term)
        # Embedding sentences is most of an answer's time: only the likeliest are embedded, by the
        # model's own score with the similarity still unknown (a "$20" sentence of the fifth passage
        # outranks the first passage's general remarks when the question asks what something costs).
        max_units = max_units or self.max_units
        if len(units) > max_units:
            cheap = sorted(range(len(units)), key=lambda i: (-float(units[i].features @ self.sentence_weights), i))
            units = [units[i] for i in sorted(cheap[:max_units])]
            # An item's list is quoted whole, under its intro: the intro is scored too (see _as_part_of_list).
            kept = {id(u) for u in units}
            intros = {id(u.parent): u.parent for u in units
                      if u.parent is not None and id(u.parent) not in kept and u.parent.features is not None}
            units = units + list(intros.values())
        texts = [f"{u.section.split(CONTEXT_SEPARATOR)[-1]}: {u.text}" if u.section and self.embed_section else u.text
                 for u in units]
        vectors = self._embed(texts)
        similarity = vectors @ np.array(question_embedding, dtype=np.float32)
        for unit, sim, vector in zip(units, similarity, vectors):
            unit.vector = vector
            unit.relevance = float(sim) + self.overlap_weight * float(unit.features[1])
            unit.features[0] = float(sim)
            unit.score = float(unit.features @ self.sentence_weights)
        _as_part_of_list(units)
        ranked = sorted(units, key=lambda u: (-u.score, u.order))
        kept: List[Unit] = []
        signatures: List[frozenset] = []
        for unit in ranked:
            if enough is not None and kept and enough(kept, unit):
                break
            signature = _signature(unit.text)
            if any(_near_duplicate(signature, s) for s in signatures):
                continue
            signatures.append(signature)
            kept.append(unit)
        return kept

    @staticmethod
    def _features(unit: Unit, hits: Sequence[Hit], weights: Dict[str, float], wanted: List[str],
                  named: set, rare: Dict[str, float], top_passage: float, term: frozenset = frozenset()) -> np.ndarray:
        """``FEATURES`` of one unit, its similarity (the first) left at 0 until it is embedded."""
        new = [rare[w] for w in stem_set(unit.text) if w in rare]
        return np.array([
            0.0,
            *_shared(weights, unit),
            1.0 if wanted and any(VALUE[k].search(unit.text) for k in wanted) else 0.0,
            1.0 if hits[unit.hit].document_id in named else 0.0,
            1.0 / (unit.hit + 1),
            sum(new) / len(new) if new else 0.0,
            min(sum(r > 0.5 for r in new), 8) / 8,
            math.log(len(unit.text.split())),
            1.0 if unit.kind == "item" else 0.0,
            1.0 if unit.items else 0.0,
            hits[unit.hit].score / top_passage,
            1.0 if unit.line == 0 else 0.0,
            1.0 if defines(unit.text, term) else 0.0,
        ], dtype=np.float32)

    def enough(self, kept: List[Unit], unit: Unit) -> bool:
        """What ``compose`` reads: the best ten (the gate's) and those within ``keep_margin`` of the best,
        ``max_candidates`` at most (the near-repeat test compares every pair kept)."""
        return len(kept) >= self.max_candidates or (len(kept) >= 10 and unit.score < kept[0].score - self.keep_margin)

    def _embed(self, texts: List[str]) -> np.ndarray:
        """Sentence embeddings, remembered: popular passages come back in question after question."""
        with self._lock:  # answers run in several threads of one process
            known = {t: self._cache[t] for t in texts if t in self._cache}
        # Shortest first: the model's batches then hold texts of similar length (little padding).
        missing = sorted((t for t in dict.fromkeys(texts) if t not in known), key=len)
        if missing:
            fresh = self.embed_model.get_text_embedding_batch(missing)
            with self._lock:
                for text, vector in zip(missing, fresh):
                    known[text] = self._cache[text] = np.asarray(vector, dtype=np.float32)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts])

    @staticmethod
    def _usable(unit: Unit) -> bool:
        if unit.kind == "item" and unit.parent is None and len(unit.text.split()) < 4:
            # "- Certain Imaging Services" whose list's intro is in another passage: a fragment alone
            return False
        return usable_text(unit.kind, unit.text)

    def compose(self, question: str, question_embedding: Sequence[float], hits: Sequence[Hit],
                value_question: Optional[str] = None, weights: Optional[Dict[str, float]] = None,
                rarity: Optional[Rarity] = None, asks: Sequence[Tuple[str, Sequence[float]]] = (),
                said: str = "", named: Optional[FrozenSet[str]] = None) -> Composition:
        """``value_question``: the customer's own last words, when ``question`` joins it to earlier ones;
        ``weights`` and ``rarity``: as for ``score``; ``asks``: the (text, embedding) of each ask of a
        compound question ("How does X work, and what does Y cost?"): each gets its best sentence first;
        ``said``: the answer the customer got before this (a follow-up's answer says something new);
        ``named``: as for ``score``."""
        wanted = value_kinds(value_question or question)
        weights = weights or {w: 1.0 for w in stems(question)}
        # Each ask of a compound question needs its own likeliest sentences embedded.
        ranked = self.score(question, question_embedding, hits, wanted, weights, enough=self.enough, rarity=rarity,
                            max_units=self.max_units * max(1, len(asks)), named=named)
        if not ranked:
            return Composition("", [], -1.0)
        top = ranked[:10]
        best = ranked[0].score
        chosen: List[Unit] = []
        used_ids = set()
        words = 0
        # Maximal marginal relevance: each further part must add something the chosen ones don't say.
        firsts = [self._ask_scores(ranked, text, embedding, weights) for text, embedding in asks]
        # The parts are chosen among those close to the best, and each ask's own best, however the whole
        # question ranks them (a rarer second ask must not take the whole answer).
        candidates = [u for u in ranked if u.score >= best - self.keep_margin
                      or any(scores[id(u)] >= max(scores.values()) - self.keep_margin for scores in firsts)]
        # An answer about the document the question names is made of what that document says, not another's ("Sorry,
        # I mean the Standard plan" answered with the Plus booklet's $20 copay; "How much money does PerksPlus give me
        # per year?" with Northwind Standard's out-of-pocket maximum), while the named one has anything to say. The
        # gate still reads the whole ranking (what it was calibrated on).
        # (For a compound question only a sibling's: "What is PerksPlus, and what is the deductible?" asks the
        # second of other documents.)
        candidates = [u for u in candidates if not (u.elsewhere == SIBLING or u.elsewhere == OTHER and not asks)] \
            or candidates
        if said and value_question:
            # A follow-up's answer does not repeat the answer before it ("Skiing and snowboarding lessons"
            # again, asked whether PerksPlus also pays for travel): parts with no word of their own or that
            # nearly repeat one of its sentences ("The IRO is a third-party organization that reviews appeals
            # and complaints …" after "The IRO is a third-party organization that reviews appeals …"), and
            # lists with no item of their own, left out, unless they hold a word of the customer's last
            # message ("And what does it cost?" after an answer that said the price) or nothing else is left.
            known, asked = stem_set(said), stem_set(value_question)
            before = [_signature(sentence) for line in said.splitlines() for sentence in self.split_sentences(line)]
            fresh = [u for u in candidates if stem_set(u.text) & asked or
                     (any(stem_set(i.text) - known for i in u.items) if u.items else stem_set(u.text) - known
                      and not any(_near_duplicate(_signature(u.text), b) for b in before))]
            candidates = fresh or candidates
        extra = max(0, len(asks) - 1)
        max_words = self.max_words + extra * self.ask_words
        max_parts = self.max_parts + extra * self.ask_parts
        # A question can ask about two things in one ask ("… for coordinating benefits with other employer plans
        # and the Right of Recovery provision?"): each part after the first gains for the question's words (by
        # weight) that it says and no part chosen has said yet, in its text or heading.
        covered: set = set()

        def says(u: Unit) -> set:
            return stem_set(u.section) | stem_set(u.text) | set().union(*(stem_set(i.text) for i in u.items))

        def says_more(u: Unit) -> float:
            own = _evidence(weights, u)
            said_here = says(u)
            return sum(v for w, v in own.items() if w in said_here and w not in covered) / (sum(own.values()) or 1.0)

        # A part far less similar to the question than the best is about something else (``min_similarity``); not
        # for a compound question, whose asks each have a best of their own.
        top_similarity = max((float(u.features[0]) for u in candidates), default=0.0)
        if self.min_similarity and not asks and top_similarity > 0:
            candidates = [u for u in candidates if float(u.features[0]) >= self.min_similarity * top_similarity]
        while candidates and len(chosen) < max_parts and words < max_words:
            relevance = firsts.pop(0) if firsts else {id(u): u.score for u in candidates}
            unit = max(candidates, key=lambda u: relevance.get(id(u), -math.inf) - self.redundancy * max(
                (float(u.vector @ c.vector) for c in chosen if c.vector is not None), default=0.0)
                + (self.fresh_coverage * says_more(u) if chosen else 0.0))
            candidates.remove(unit)
            if id(unit) in used_ids:
                continue
            matched = unit
            if unit.parent is not None and id(unit.parent) in used_ids:
                # An item of a list already in the answer joins that list (not a second list below it),
                # room permitting. (A list's intro is a sentence: in ``used_ids`` only once chosen.)
                if words + unit.words <= max_words:
                    unit.parent.items = sorted(unit.parent.items + [unit], key=lambda i: i.order)
                    used_ids.add(id(unit))
                    words += unit.words
                continue
            if self._says_again(unit.parent or unit, chosen):
                continue
            if unit.parent is not None and id(unit.parent) not in used_ids:
                # An item is read with its list's intro: "covers …, including: - Gym memberships".
                parent = unit.parent
                others = [i for i in parent.items if i is not unit and id(i) not in used_ids]
                parent.items = sorted([unit] + others[:7], key=lambda i: i.order)
                unit = parent
            elif unit.items:
                unit.items = [i for i in unit.items if id(i) not in used_ids][:8]
            # A list is cut to what the answer has room for (for a compound question, each ask's share)
            # rather than left out; the item that was asked about stays.
            room = max_words - words if not firsts else min(max_words - words, max_words // (len(firsts) + 1))
            while unit.items and unit.words > room and len(unit.items) > 2:
                unit.items.remove(next(i for i in reversed(unit.items) if i is not matched))
            if chosen and words + unit.words > max_words:
                continue
            used_ids.update(id(i) for i in unit.items)
            covered |= says(unit)
            chosen.append(unit)
            used_ids.add(id(unit))
            words += unit.words
        # A row chosen before the sentence that states its values and more is the repeat then.
        for unit in [u for u in chosen if u.kind == "row"]:
            if _row_said(unit, [c for c in chosen if c is not unit]):
                chosen.remove(unit)
        if len(chosen) > 1 and not wanted and not asks:
            # Without a value asked for, parts of one passage read best in the document's order.
            first = chosen[0]
            rest = sorted(chosen[1:], key=lambda u: (u.hit != first.hit, u.hit, u.order))
            chosen = [first] + rest
        return render(chosen, hits, top)

    def _says_again(self, unit: Unit, chosen: List[Unit]) -> bool:
        """A part that makes a point already made, in other words ("… responsible for a greater portion of
        the costs" twice): nearly the same meaning, and hardly a word of its own (the sentence that adds
        "specialty drugs", or the out-of-network copay beside the in-network one, makes a point of its own)."""
        if _row_said(unit, chosen):
            return True
        if unit.vector is None:
            return False
        words, figures = stem_set(unit.text), set(FIGURE.findall(unit.text))
        return any(c.vector is not None and float(unit.vector @ c.vector) > self.same_point
                   and len(words - stem_set(c.text)) <= self.own_words and figures <= set(FIGURE.findall(c.text))
                   for c in chosen)

    def _ask_scores(self, units: Sequence[Unit], text: str, embedding: Sequence[float],
                    weights: Optional[Dict[str, float]]) -> Dict[int, float]:
        """Each unit's score for one ask of a compound question: its similarity and shared words
        counted against the ask instead of the whole question."""
        asked = stem_set(text)
        ask_weights = {w: v for w, v in (weights or {w: 1.0 for w in asked}).items() if w in asked} or \
            {w: 1.0 for w in asked}
        vector = np.asarray(embedding, dtype=np.float32)
        scores = {}
        for unit in units:
            features = unit.features.copy()
            features[0] = float(unit.vector @ vector)
            features[1], features[2] = _shared(ask_weights, unit)
            scores[id(unit)] = float(features @ self.sentence_weights)
        return scores


def _row_said(unit: Unit, others: List[Unit]) -> bool:
    """A table row whose values ``others`` already state ("Plan: Acme Pro; Price: 49 dollars per year" beside
    "Acme Pro members pay 49 dollars per year …"): its column labels are all it would add."""
    if unit.kind != "row" or not others:
        return False
    values = " ".join(cell.split(": ", 1)[-1] for cell in unit.text.split("; "))
    return stem_set(values) <= set().union(*(stem_set(c.text) for c in others)) and \
        set(FIGURE.findall(values)) <= set().union(*(FIGURE.findall(c.text) for c in others))


