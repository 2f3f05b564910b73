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
- ``sentence``: how close the best sentence of the passages is to the question;
- ``sentence_coverage``: the idf-weighted share of the question's words in one of the best
  sentences (with its heading): a passage can hold "CEO" and "phone" in different sentences;
- ``follow_up``: whether the last turn leans on the conversation (a joined question's words are
  covered less well: the model learns by how much);
- ``value_found``: when the question asks for a kind of value (a phone number, an e-mail or web
  address, an amount, a duration or date, a count, a password or code), whether one of the best
  sentences holds one (1 when the question asks for none).

A logistic model combines them; its weights are fitted on the train split of the answer
benchmark (``python -m bench.calibrate_gate``) and live below. The same decision runs before
any LLM call.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from difflib import get_close_matches
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from .english import frequency
from .text import stem, stem_set, stems
from .types import Hit


@dataclass(frozen=True)
class Signals:
    similarity: float
    coverage_best: float
    coverage_all: float
    missing: float
    agreement: float
    sentence: float
    sentence_coverage: float
    value_found: float
    follow_up: float = 0.0  # 1 when the last turn leans on the history (its joined words cover less)
    exact_value: float = 1.0  # 0 when a phone number, address, code or person's name is asked for and none is found (a veto)

    def as_list(self) -> List[float]:  # what the logistic model weighs (the veto is not weighed)
        return [float(getattr(self, f.name)) for f in fields(self) if f.name != "exact_value"]

    @classmethod
    def names(cls) -> List[str]:
        return [f.name for f in fields(cls) if f.name != "exact_value"]


def idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def spellings(lexemes: Dict[str, int], hits: Sequence[Hit]) -> Dict[str, Optional[str]]:
    """How the passages spell each of the question's words: the word itself, a close spelling
    ("gendr" → "gender", "helth" → "health": customers make typos), or None. Computed once per
    question; fuzzy matching is the gate's costliest step."""
    present = set().union(*(_passage_words(h) for h in hits)) if hits else set()
    vocabulary = sorted(present)
    return {lx: lx if lx in present else _close(lx, vocabulary) for lx in lexemes}


def strangers(question: str, hits: Sequence[Hit]) -> bool:
    """A follow-up's own words, none in the passages found for it ("What is the capital of Australia?"
    after a question about coinsurance): it is not about them. False when it has no words of its own
    ("What do I get for it?" continues the turn before entirely)."""
    own = stem_set(question)
    return bool(own) and not any(own & _passage_words(hit) for hit in hits)


def unknown_words(question: str, lexemes: Dict[str, int]) -> bool:
    """Every word of the customer's own message that the full-text index reads is in none of the
    tenant's chunks ("Is there a family version of it?" where no document says "family" or
    "version"): whatever it continues, the documents cannot answer it. ``lexemes``: {lexeme: chunks
    holding it} of the searched question, which holds the message's words."""
    own = [lexeme for lexeme in stem_set(question) if lexeme in lexemes]
    return bool(own) and all(lexemes[lexeme] == 0 for lexeme in own)


def _passage_words(hit: Hit) -> frozenset:
    # = the stems of "title section text" (no word spans a space); each part's stems are remembered.
    return stem_set(hit.title) | stem_set(hit.section) | stem_set(hit.text)


def lexical_signals(lexemes: Dict[str, int], n: int, hits: Sequence[Hit],
                    spelled: Dict[str, Optional[str]]) -> Tuple[float, float, float]:
    """(coverage_best, coverage_all, missing) of the question's ``lexemes`` {lexeme: df} over ``hits``;
    a word found in a close spelling counts as found, and as not missing."""
    if not lexemes:
        return 0.0, 0.0, 0.0
    weights = {lexeme: idf(df, n) for lexeme, df in lexemes.items()}
    total = sum(weights.values()) or 1.0
    passages = [_passage_words(h) for h in hits]
    best = max((sum(w for lx, w in weights.items() if spelled[lx] in p) / total for p in passages), default=0.0)
    coverage_all = sum(w for lx, w in weights.items() if spelled[lx]) / total
    missing = sum(w for lx, w in weights.items() if lexemes[lx] == 0 and not spelled[lx]) / total
    return best, coverage_all, missing


def sentence_coverage(lexemes: Dict[str, int], n: int, sentences: Sequence[str],
                      spelled: Dict[str, Optional[str]]) -> float:
    """The best idf-weighted share of the question's ``lexemes`` found in one of ``sentences``."""
    if not lexemes or not sentences:
        return 0.0
    weights = {lexeme: idf(df, n) for lexeme, df in lexemes.items()}
    total = sum(weights.values()) or 1.0
    best = 0.0
    for sentence in sentences:
        words = set(stems(sentence))
        best = max(best, sum(w for lx, w in weights.items() if lx in words or spelled[lx] in words) / total)
    return best


ASKED_VALUES = [  # (what the question asks for, what a sentence holding it looks like)
    (re.compile(r"\b(?:phone|telephone|call|fax|hotline)\b", re.I), re.compile(r"\+?\d[\d\s().-]{6,}\d")),
    (re.compile(r"\be-?mail\b", re.I), re.compile(r"\S@\S")),
    (re.compile(r"\b(?:website|web site|url|web address|link)\b", re.I),  # a domain, not an e-mail's
     re.compile(r"https?://|www\.|(?<![\w.@-])[\w-]+(?:\.[\w-]+)*\.(?:com|org|net)\b(?!@)")),
    (re.compile(r"\b(?:password|passcode|pin|access code|door code|wi-?fi)\b", re.I),
     re.compile(r"\b(?:password|passcode|pin|code)\b\s*(?:is|:)\s*\S", re.I)),
    (re.compile(r"\bhow\s+much\b|\b(?:cost|costs|price|fee|fees|salary|revenue|amount)\b", re.I),
     re.compile(r"[$€£]\s?\d|\d\s?(?:dollars|euros|percent|%)|\bfree\b|\bno (?:extra |additional )?(?:cost|charge|fee)s?\b|"
                r"\bcovered in full\b|\bfully covered\b|\b100%", re.I)),
    (re.compile(r"\bhow\s+(?:long|soon|often)\b|\bwhen\b|\bdeadline\b|\bwhat\s+time\b|\bhours\b", re.I),
     re.compile(r"\b(?:\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
                r"sixty|ninety)\s*(?:-\s*\d+\s*)?(?:business\s+|calendar\s+|working\s+)?"
                r"(?:days?|weeks?|months?|years?|hours?|minutes?)\b|"
                # clock times and dates: "at nine", "9:30", "noon", "in 1998"
                r"\bat\s+(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b|\b\d{1,2}[:.]\d{2}\b|"
                r"\b(?:noon|midnight|o'clock|weekdays|weekends|every day|any time|anytime)\b|\b(?:19|20)\d{2}\b|"
                r"\b(?:daily|weekly|monthly|annually|yearly|immediately|before|after|within|until|prior|during)\b|"
                r"\b(?:january|february|march|april|may|june|july|august|september|october|november|december|"
                r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|\d{1,2}\s*(?:am|pm)\b", re.I)),
    (re.compile(r"\bhow\s+many\b|\bnumber\s+of\b", re.I),
     re.compile(r"\b\d+\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|hundred|thousand)\b", re.I)),
]


# Asked for one of these (a phone number, an e-mail or web address, a password or code), an
# answer without one is no answer at all: the gate declines outright (so too for a person's name:
# ``person_named``).
EXACT_VALUES = 4


def asked_values(question: str) -> List[int]:
    return [i for i, (pattern, _) in enumerate(ASKED_VALUES) if pattern.search(question)]


def value_found(question: str, sentences: Sequence[str], kinds: Optional[Sequence[int]] = None) -> float:
    asked = asked_values(question) if kinds is None else kinds
    if not asked:
        return 1.0
    return 1.0 if any(ASKED_VALUES[i][1].search(s) for i in asked for s in sentences) else 0.0


# "Who is the CEO?", "What is the name of the Privacy Officer?": a role described is no name given.
PERSON_ASKED = re.compile(
    r"\bwho\s+(?:is|was)\s+(?:the|our|your|its|their|[A-Z][\w’']*['’]s)\b|\bname\s+of\b|"
    r"\bwhat(?:'s|’s|\s+is)\s+(?:the\s+|his\s+|her\s+|their\s+)?name\b|\bwho\s+(?:runs|leads|heads|founded|owns)\b", re.I)
CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:[-'’][A-Za-z]+)?(?:\s+(?:[A-Z]\.\s+)?[A-Z][a-z]+(?:[-'’][A-Za-z]+)?){1,2}\b")
GIVEN_NAME_FREQUENCY = 15000  # given names are rare as English words (David 2,216; Emily 14,211); roles are not (Chief 71,339)


def person_named(question: str, passages: Sequence[Tuple[str, str]],
                 common_word: Optional[Callable[[str], bool]] = None) -> float:
    """1 when the question asks for no person's name or one of ``passages`` [(context, text)] holds one:
    two or three capitalised words that are neither the question's nor the passage's heading's
    words (a role), none of them everyday vocabulary of the tenant (``common_word(stem)``: the
    company's own name, "Bachelor's Degree" in a role library), starting with a word rare in
    English, as given names are."""
    if not PERSON_ASKED.search(question):
        return 1.0
    for context, text in passages:
        known = {w.lower() for w in re.findall(r"[A-Za-z]+", f"{question} {context}")}
        for match in CAPITALISED.finditer(text):
            words = [w for w in re.findall(r"[A-Za-z]+", match.group(0)) if len(w) > 1]
            if any(w.lower() in known for w in words) or frequency(words[0]) >= GIVEN_NAME_FREQUENCY:
                continue
            if common_word is not None and any(common_word(stem(w.lower())) for w in words):
                continue
            return 1.0
    return 0.0


# The question itself is "how much …?", "when …?", "how long …?", "how many …?" (its opening word, not
# "costs" or "when" somewhere inside it): best sentences with no amount, time or count hold no answer
# either. Checked against every answerable item of the harness (none declined by it).
VALUE_ASKED = [
    (4, re.compile(r"(?:^|[.?!;:]\s+|\b(?:and|so|but|then)\s+)how\s+much\b(?!\s+(?:time|notice|longer|sooner))", re.I)),
    (5, re.compile(r"(?:^|[.?!;:]\s+|\b(?:and|so|but|then)\s+)(?:when\b|how\s+(?:long|soon|often)\b|"
                   r"how\s+much\s+(?:time|notice)\b)", re.I)),
    (6, re.compile(r"(?:^|[.?!;:]\s+|\b(?:and|so|but|then)\s+)how\s+many\b", re.I)),
]


# "How many paid sick days do …": what is counted is the word before the verb ("days").
COUNTED = re.compile(r"\bhow\s+many\s+((?:[\w'’-]+\s+){0,3}?)([\w'’-]+)\s+(?:do|does|did|can|could|are|is|will|would|"
                     r"should|may|must|has|have)\b", re.I)
NUMBER = re.compile(r"^(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
                    r"thirty|hundred|thousand)$", re.I)


def count_found(question: str, sentences: Sequence[str]) -> bool:
    """For "how many X …?": some sentence holds a number within a few words of X ("12 visits", "up to 20
    physical therapy visits", "Visits: 12"); a number about something else is no count of X."""
    asked = COUNTED.search(question)
    if asked is None:
        return value_found(question, sentences, [6]) == 1.0
    counted = stem(asked.group(2).lower())
    for sentence in sentences:
        words = re.findall(r"[\w'’-]+", sentence)
        stems_ = [stem(w.lower()) for w in words]
        for i, word in enumerate(words):
            if NUMBER.match(word) and counted in stems_[max(0, i - 3):i + 5]:
                return True
    return False


# "What is the annual maximum benefit …?", "What's the deductible for …?": what is asked for is itself a
# figure (a limit) or an amount (a price), however the question opens.
_WHAT_IS_THE = (r"^\s*what(?:'s|’s|\s+is|\s+are|\s+was|\s+were)\s+(?:the|my|our|your|its|their|"
                r"[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)*['’]s)\s+(?:[\w'’-]+\s+){0,3}?")
# (Not "cost": "What are the costs of skipping prior authorization?" is answered in words.)
AMOUNT_NAMED = re.compile(_WHAT_IS_THE + r"(?:deductibles?|co-?pay(?:ment)?s?|premiums?|prices?|fees?)(?![\w-])", re.I)
LIMIT_NAMED = re.compile(_WHAT_IS_THE + r"(?:maximum|minimum|limit|cap|rating|score)s?(?![\w-])|"
                         r"^\s*what\s+(?:[\w'’-]+\s+){0,2}?(?:rating|score|percentage|rate)\s+(?:scale\s+)?"
                         r"(?:is|are|do|does|will|would|applies|apply)\b", re.I)
# "What is the group policy number …?": an identifier holds a digit ("Your policy number" is none).
IDENTIFIER_NAMED = re.compile(_WHAT_IS_THE + r"(?:policy|group|account|member(?:ship)?|customer|order|invoice|tax|"
                              r"registration|licen[cs]e|routing|reference|employee|tracking|serial|case|ticket)\s+"
                              r"(?:number|no\.?|id)(?![\w-])", re.I)
FIGURE = re.compile(r"\d|\b(?:unlimited|no (?:limit|maximum|minimum|cap))\b", re.I)


def limit_missing(question: str, sentences: Sequence[str], names: Set[str] = frozenset()) -> bool:
    """"What is the annual maximum benefit for dental care?": no sentence holds a figure beside a word of
    what the limit is of ("dental", "care"; the documents' own ``names`` say nothing of it). The
    out-of-pocket maximum's "$6,000" is no dental maximum."""
    asked = LIMIT_NAMED.search(question)
    if asked is None:
        return False
    topic = set(stems(question[asked.end():])) - set(names)
    return not any(FIGURE.search(s) and (not topic or topic & set(stems(s))) for s in sentences)


def identifier_missing(question: str, sentences: Sequence[str]) -> bool:
    """"What is the group policy number …?": no sentence holds a digit beside a word of what is asked for
    ("group", "policy", "number"). A year in "the Women's Health and Cancer Rights Act of 1998" is no policy number."""
    asked = IDENTIFIER_NAMED.search(question)
    if asked is None:
        return False
    # the words of what is asked for: not "What is", nor whose it is ("Contoso's tax id")
    named = set(stems(" ".join(w for w in asked.group(0).split()[1:] if not re.search(r"['’]s$", w))))
    return not any(re.search(r"\d", s) and named & set(stems(s)) for s in sentences)


def value_missing(question: str, sentences: Sequence[str], names: Set[str] = frozenset()) -> bool:
    """Asked for a phone number, address or code, or asked outright how much / when / how many, or what
    some amount or limit is, and none of ``sentences`` holds that kind of value: no answer is there (the
    gate declines). ``names``: the stems of the documents' titles (for ``limit_missing``)."""
    kinds = [i for i in asked_values(question) if i < EXACT_VALUES]
    kinds += [kind for kind, pattern in VALUE_ASKED if pattern.search(question.strip())]
    if AMOUNT_NAMED.search(question):
        kinds.append(4)
    if limit_missing(question, sentences, names):
        return True
    if identifier_missing(question, sentences):
        return True
    return any(not count_found(question, sentences) if kind == 6 else value_found(question, sentences, [kind]) == 0.0
               for kind in dict.fromkeys(kinds))


def _close(lexeme: str, vocabulary: Sequence[str]) -> Optional[str]:
    if len(lexeme) < 4:
        return None
    # difflib's ratio is at most 2·min(len)/(len a + len b): words too short or too long to reach the
    # cutoff are left out before it builds a matcher for each (the same result, less work).
    size = len(lexeme)
    vocabulary = [w for w in vocabulary if 2.0 * min(size, len(w)) / (size + len(w)) >= 0.8]
    match = get_close_matches(lexeme, vocabulary, n=1, cutoff=0.8)
    return match[0] if match else None


@dataclass(frozen=True)
class AnswerabilityGate:
    weights: Tuple[float, ...]
    bias: float
    threshold: float = 0.5

    def probability(self, signals: Signals) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, signals.as_list()))
        return 1.0 / (1.0 + math.exp(-z))

    def answerable(self, signals: Signals) -> bool:
        return signals.exact_value >= 1.0 and self.probability(signals) >= self.threshold


# Fitted by `python -m bench.calibrate_gate` on the train split (answering >= 94% of the answerable
# train items); order as in Signals. Train: 47/50 answered, 19/24 declined (+9 by the veto).
LOCAL_GATE = AnswerabilityGate(weights=(1.965, 0.258, -0.193, -0.634, 0.611, 2.259, 0.492, -0.459, 1.161),
                              bias=-3.512, threshold=0.397)
