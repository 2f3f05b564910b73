"""Follow-up questions without an LLM: which searches to run for the customer's last turn.

Every turn with history is searched several ways and the results fused (see
``KnowledgeBase._retrieve``): the last turn alone, the last turn joined with the previous
customer turn(s), and the last turn joined with the assistant's previous answer (which names
what "it" or "that" refers to). How much each search weighs depends on how self-contained the
last turn is. A correction ("I mean the Standard plan") replaces the earlier question's subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Tuple

from .chunking import display_title
from .text import STOPWORDS

WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
PRONOUNS = {"it", "its", "it's", "they", "them", "their", "that", "this", "those", "these", "there", "one", "ones",
            "he", "she", "him", "her", "same", "which", "such"}
FOLLOW_UP_START = re.compile(
    r"^\s*(and|or|but|also|so|then|what about|how about|same for|what if|is that|are those|does that|do they|"
    r"does it|is it|i'?m confused|sorry|wait|ok(ay)?|really|why|(?:so\s+)?(?:do\s+)?you\s+mean|does\s+that\s+mean)\b",
    re.I)
CORRECTION = re.compile(
    r"^\s*(?:(?:no|nope|sorry|oops|actually|wait|well)[,.!]?\s+)*(?:i\s+meant?\b|i\s+was\s+asking\s+about|"
    r"i'?m\s+asking\s+about|not\s+that[,;]?\s+(?:i\s+mean\s+)?)\s*(?:the\s+)?(?P<subject>.+?)[?.!]*\s*$", re.I)
ELLIPSIS = re.compile(r"^\s*(?:and|or|but)?\s*(?:what|how)\s+about\s+(?:the\s+)?(?P<subject>.+?)[?.!]*\s*$", re.I)
# "and for families?", "or in the Plus plan?": the question before, for them instead (or as well).
AND_PHRASE = re.compile(r"^\s*(?i:and|or)\s+(?P<subject>(?i:for|in|with|under|at|on|to)\s+[^?.!]+?)[?.!]*\s*$")
# "and the Plus plan?", "or Northwind Standard?": a name alone, asked about instead of the one before.
NAMED_ELLIPSIS = re.compile(r"^\s*(?i:and|or|but)\s+(?P<lead>(?i:(?:for|with|in|under|on)\s+)?(?i:the\s+)?)"
                            r"(?P<subject>[A-Z][\w’'-]*(?:\s+[\w’'-]+){0,3}?)\s*[?.!]*\s*$")
STOP = set("a an the of to in on at for from by with about as is are was were be do does did i you me my your "
           "our we it its and or but what which who how when where why can could would should will please".split())


@dataclass(frozen=True)
class Search:
    query: str
    weight: float


GREETING = re.compile(r"^\s*(?:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening)|greetings)\b[^\n]{0,40}$", re.I)
SIGN_OFF = re.compile(r"^\s*(?:thanks?(?:\s+you)?(?:\s+(?:so\s+much|in\s+advance))?|many\s+thanks|cheers|regards|"
                      r"best(?:\s+regards|\s+wishes)?|kind\s+regards|sincerely|br)\b[\s,.!]*$", re.I)


def core_question(text: str) -> str:
    """The message without its greeting and sign-off ("Hi,", "Thanks, Maria"): they are not the question,
    and their words (a name, "thanks") only blur the search and the answerability decision."""
    lines = [line for line in text.splitlines()]
    while lines and (not lines[0].strip() or GREETING.match(lines[0])):
        lines.pop(0)
    for index in range(len(lines) - 1, -1, -1):
        if SIGN_OFF.match(lines[index]) and len(lines) - index <= 3:  # the sign-off and a name or two
            lines = lines[:index]
            break
    core = "\n".join(lines).strip()
    return core or text.strip()


# A file name, or words joined by underscores as file names are ("Benefits_Details"; not an
# identifier such as "CRF01_1b2k").
FILE_NAME = re.compile(r"\b[A-Za-z0-9][\w-]*\.(?:pdf|docx?|html?|md|markdown|txt)\b|\b[A-Za-z]{2,}(?:_+[A-Za-z]{2,})+\b",
                       re.I)


def spelled_out_names(text: str) -> str:
    """A document named by its file ("the Northwind_Standard_Benefits_Details.pdf") as words: the
    full-text index reads the file name as one token no passage holds, which would count as a word
    of the question the documents lack."""
    return FILE_NAME.sub(lambda m: display_title(m.group(0)), text)


# "Which" that asks for one of a kind named at once ("Which dentists …?") refers to nothing said before;
# "Which is cheaper?" / "Which one …?" / "Which of them …?" do.
WHICH_OF_A_KIND = re.compile(r"^\s*which\s+(?!(?:is|are|was|were|one|ones|of|do|does|did|should|would|could|can|will)\b)"
                             r"[a-z]", re.I)


def _words(question: str) -> List[str]:
    return [w.lower() for w in WORD.findall(question)]


# "What benefits does Fabrikam offer its employees?": a possessive after a name the question gives
# points to that name, not back to the conversation.
OWN_POSSESSIVE = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][\w’'-]*\b.*?\b(its|their)\b")


def _refers_back(question: str, words: List[str]) -> bool:
    """A pronoun that points to something said before ("Is its decision final?")."""
    pronouns = PRONOUNS.intersection(words[1:] if WHICH_OF_A_KIND.match(question) else words)
    if pronouns and pronouns <= {"its", "their"} and OWN_POSSESSIVE.search(question):
        return False
    return bool(pronouns)


def continues_explicitly(question: str) -> bool:
    """The message says it continues the conversation: "and …", "what about …", "I mean …", or a
    pronoun ("Is its decision final?"), not only by being short ("What is the capital of Australia?")."""
    return bool(FOLLOW_UP_START.match(question) or CORRECTION.match(question) or ELLIPSIS.match(question)
                or NAMED_ELLIPSIS.match(question) or _refers_back(question, _words(question)))


def is_self_contained(question: str) -> bool:
    words = _words(question)
    content = [w for w in words if w not in STOP and w not in PRONOUNS]
    if FOLLOW_UP_START.match(question) or CORRECTION.match(question):
        return False
    if len(content) <= 2:
        return False
    return not (len(words) <= 10 and _refers_back(question, words))


# "the Standard plan", "the Pro tier": a variant of the product named before, called by its variant's word.
VARIANT = re.compile(r"^[A-Z][\w’'-]*\s+(?:plan|program|programme|policy|tier|membership|package|subscription|"
                     r"edition|version|option|account|card)s?$")


def replace_subject(previous: str, subject: str, lead: str = "") -> str:
    """"What is the deductible for Northwind Health Plus?" + "Standard plan" → "... for Northwind Standard plan?"
    (a variant keeps the brand it is a variant of: the first word of the name it replaces)."""
    names = list(re.finditer(r"(?<!^)(?<![.?!] )\b([A-Z][\w’'-]*(?:\s+(?:[A-Z][\w’'-]*|of|and|&))*)", previous))
    names = [m for m in names if m.group(1).lower() not in STOP]
    if names:
        longest = max(names, key=lambda m: len(m.group(1)))
        replaced = longest.group(1).split()
        if len(replaced) > 1 and VARIANT.match(subject) and replaced[0] not in subject.split():
            subject = f"{replaced[0]} {subject}"
        return previous[:longest.start(1)] + subject + previous[longest.end(1):]
    # no name to replace: added, with the words that tie it on ("… for specialists" + "in the Plus plan";
    # a plan or programme with none given is one the question is asked "in")
    if VARIANT.match(subject) and not re.match(r"(?:for|with|in|under|on)\s", lead, re.I):
        lead = f"in {lead or 'the '}"
    return f"{previous.rstrip(' ?.!')} {lead}{subject}?"


# "Does PerksPlus cover …", "Can I use …": the verb after the question's subject; what follows it, or a
# preposition, is what the question asks about.
ASKED_VERB = re.compile(r"^\s*(?i:does|do|did|can|could|will|would|should|is|are)\s+"
                        r"(?:(?:[A-Z][\w’'-]*\s+)+|(?i:i|we|you|they|it)\s+)(?P<verb>[a-z][\w’'-]*)\b")
DETERMINERS = {"the", "a", "an", "my", "our", "your", "their", "its", "his", "her", "this", "that", "these", "those",
               "any", "some"}
DETERMINER = "|".join(sorted(DETERMINERS, key=len, reverse=True))
# What the question asked about follows one of these (and perhaps a determiner): "for (an) individual".
OBJECT_BEFORE = re.compile(rf"\b(?P<preposition>for|of|on|about|with|to|in|towards?|including)\s+"
                           rf"(?:(?:{DETERMINER})\s+)?$", re.I)
AFTER_VERB = re.compile(rf"\s+(?:(?:{DETERMINER})\s+)?", re.I)  # "cover (the) gym memberships"


def _phrases(text: str, after: int = 0) -> List[List[int]]:
    """[start, end] of each run of lower-case words that are no stop words ("primary care visits"), from
    ``after`` on: the things a question can ask about."""
    runs: List[List[int]] = []
    for match in re.finditer(r"[A-Za-z0-9][\w’'-]*", text):
        word = match.group(0)
        if word.lower() in STOPWORDS or not word[0].islower() or match.start() < after:
            continue
        if runs and re.fullmatch(r"\s+", text[runs[-1][1]:match.start()]):
            runs[-1][1] = match.end()
        else:
            runs.append([match.start(), match.end()])
    return runs


def replace_object(previous: str, thing: str) -> str:
    """"Does PerksPlus cover gym memberships?" + "medical treatments" → "Does PerksPlus cover medical treatments?":
    what the customer now asks about takes the place of the last thing the question asked about — its last
    run of lower-case words that are not stop words, right after its verb or a preposition; "" when none."""
    verb = ASKED_VERB.match(previous)
    runs = _phrases(previous, verb.end("verb") if verb else 0)
    objects = [(a, b) for a, b in runs if OBJECT_BEFORE.search(previous[:a])
               or (verb and AFTER_VERB.fullmatch(previous[verb.end("verb"):a]))]
    if not objects:
        return ""
    start, end = objects[-1]
    # "for an individual" → "for families". A phrase with a preposition of its own takes the old phrase's
    # place when it is an aim ("about my personal information" + "to report unethical behaviour") or has
    # the same preposition ("for small orders" + "for large orders"); another ("for specialists" + "in the
    # Plus plan") is added, not swapped ("" here: the caller appends).
    own_preposition = re.match(r"(to|for|about|with|on|in|of)\s+(\w+)", thing, re.I)
    if own_preposition:
        before = OBJECT_BEFORE.search(previous[:start])
        aim = own_preposition.group(1).lower() == "to" and own_preposition.group(2).lower() not in DETERMINERS
        if before is None or not (aim or before.group("preposition").lower() == own_preposition.group(1).lower()):
            return ""
        return previous[:before.start()] + thing + previous[end:]
    article = re.search(r"\b(?:the|a|an)\s+$", previous[:start], re.I)
    return previous[:article.start() if article else start] + thing + previous[end:]


def replace_head(previous: str, thing: str) -> str:
    """"What's the deductible for Northwind Standard?" + "the prescription drug deductible" → "What's the
    prescription drug deductible for Northwind Standard?": a noun phrase whose last word the question has is
    a narrower kind of what it asked about, and takes the place of that word and its modifiers ("primary care
    visits" for "specialist visits"); "" otherwise."""
    thing = re.sub(r"^(?:the|a|an)\s+", "", thing.strip(), flags=re.I)
    words = re.findall(r"[A-Za-z][\w’'-]*", thing)
    # a noun phrase ("the prescription drug deductible"), not one with a clause or a phrase of its own
    if len(words) < 2 or any(w.lower() in STOPWORDS for w in words):
        return ""
    # the phrase the question had with that head, from its first modifier to the head ("for primary care
    # visits" → "primary care visits"; "the deductible" → "deductible")
    head = list(re.finditer(rf"\b{re.escape(words[-1])}\b", previous, re.I))
    if len(head) != 1:
        return ""
    end = head[0].end()
    start = next((a for a, b in _phrases(previous) if a <= head[0].start() < b), head[0].start())
    return previous[:start] + thing + previous[end:]


def plan_searches(turns: List[Tuple[str, str]], question: str) -> Tuple[List[Search], str]:
    """The searches for ``question`` after ``turns`` [(role, content)], and the standalone question.

    The standalone question is what the gate and the composer read: the last turn when it
    stands on its own, else the last turn with the earlier question it continues.
    """
    users = [content.strip() for role, content in turns if role == "user"]
    assistant = last_answer(turns)
    if not users:
        return [Search(question, 1.0)], question
    previous = users[-1]
    if not is_self_contained(previous) and len(users) > 1:
        previous = f"{users[-2]} {previous}"  # the previous turn was itself a follow-up
    correction = CORRECTION.match(question) or ELLIPSIS.match(question) or NAMED_ELLIPSIS.match(question)
    if correction:
        # "I mean the Plus plan, does that one?": what is meant, without the question it trails
        subject = re.split(r"\s*[,;]\s*", correction.group("subject").strip())[0]
        if subject[:1].isupper():  # a name replaces the name asked about before
            lead = correction.groupdict().get("lead") or ""
            rewritten = replace_subject(users[-1] if is_self_contained(users[-1]) else previous, subject, lead)
        else:  # "what about specialists?": the same question, about them instead
            base = users[-1] if is_self_contained(users[-1]) else previous
            rewritten = replace_head(base, subject) or replace_object(base, subject) \
                or f"{previous.rstrip(' ?.!')} {subject}?"
        return [Search(rewritten, 1.0), Search(f"{previous} {question}", 0.5)], rewritten
    phrase = AND_PHRASE.match(question)
    rewritten = replace_object(users[-1], phrase.group("subject").strip()) \
        if phrase and is_self_contained(users[-1]) else ""
    if rewritten:  # "… for an individual?" + "And for a family?" → "… for a family?"
        return [Search(rewritten, 1.0), Search(f"{previous} {question}", 0.5)], rewritten
    joined = f"{previous} {question}"
    if is_self_contained(question):
        searches = [Search(question, 1.0), Search(joined, 0.5)]
        standalone = question
    else:
        searches = [Search(question, 0.4), Search(joined, 1.0)]
        standalone = joined
    if assistant:
        searches.append(Search(f"{_first_words(assistant, 60)} {question}", 0.3 if is_self_contained(question) else 0.6))
    return searches, standalone


# "How does X work, and what does Y cost?": two asks in one message, each needing its own passage.
COMPOUND = re.compile(r"(?:,\s*|\s+)and\s+(?=(?:what|how|which|when|where|who|why|is|are|does|do|can|should|will)\b)"
                      r"|(?<=\?)\s+(?=\S)", re.I)
NAME = re.compile(r"\b[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)+|\b[A-Z][a-z]*[A-Z][\w]*")


def split_compound(question: str) -> List[str]:
    """The asks of a compound question, each readable alone ([] when there is one ask).

    A later part usually leaves its subject to the first ("… and what are the copays for
    specialists?"): the names the first part uses ("Northwind Health Plus") are added to it.
    """
    pieces = [p.strip(" ,;") for p in COMPOUND.split(question.strip()) if p and p.strip(" ,;")]
    pieces = [p for p in pieces if len(WORD.findall(p)) >= 4]
    if len(pieces) < 2:
        return []
    names = [m.group(0) for m in NAME.finditer(pieces[0]) if m.group(0).split()[0].lower() not in STOP]
    parts = [pieces[0]]
    for piece in pieces[1:3]:
        missing = [n for n in dict.fromkeys(names) if n.lower() not in piece.lower()]
        parts.append(f"{piece} {' '.join(missing)}".strip())
    return parts


def _first_words(text: str, limit: int) -> str:
    return " ".join(text.split()[:limit])


def last_answer(turns: List[Tuple[str, str]]) -> str:
    """The assistant's latest reply ("" when none), citations dropped: what a follow-up continues
    (its searches) and what its answer need not say again (the composer)."""
    reply = next((content for role, content in reversed(turns) if role == "assistant"), "")
    return re.sub(r"\[\d+\]", " ", reply).strip()
