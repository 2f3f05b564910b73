"""From retrieved chunks to an answer: condense follow-ups, gate, synthesize, cite.

Two synthesizers share one interface: ``LLMSynthesizer`` (any LlamaIndex LLM: OpenAI, or an
OpenAI-compatible server such as llama.cpp, Ollama or vLLM) and ``ExtractiveSynthesizer``,
the offline default, which answers with the most relevant sentences of the retrieved chunks,
cited like the LLM's answers. Neither is ever asked when nothing relevant was retrieved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from .errors import ProviderError
from .prompts import condense_prompt, system_prompt
from .types import Answer, Hit, Source

History = Sequence[Any]  # dicts {"role", "content"}, (role, content) pairs or ChatMessages
USER_ROLES = {"customer", "user", "human"}
ASSISTANT_ROLES = {"assistant", "ai", "staff", "agent", "bot"}
WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = set(
    "a an the and or but if of to in on at for from by with about as is are was were be been being do does did "
    "have has had i you he she it we they me my your our their its this that these those what which who whom how "
    "when where why can could would should will shall may might must not no yes please there here than then so "
    "just also any some all".split()
)
FOLLOW_UP_START = re.compile(r"^\s*(and|or|but|also|what about|how about|same for|what if)\b", re.I)
FOLLOW_UP_WORDS = {"it", "its", "they", "them", "their", "that", "this", "those", "these", "there", "one", "ones"}


def normalize_history(history: Optional[History]) -> List[Tuple[str, str]]:
    """[(role, content)] with role "user" or "assistant"; other roles are dropped."""
    turns: List[Tuple[str, str]] = []
    for item in history or []:
        if isinstance(item, ChatMessage):
            role, content = item.role.value, item.content or ""
        elif isinstance(item, dict):
            role, content = str(item.get("role", "")), str(item.get("content", "") or "")
        else:
            role, content = item
        role = role.lower()
        if not content.strip():
            continue
        if role in USER_ROLES:
            turns.append(("user", content))
        elif role in ASSISTANT_ROLES:
            turns.append(("assistant", content))
    return turns


def content_words(text: str) -> set:
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


def heuristic_condense(turns: List[Tuple[str, str]], question: str) -> str:
    """Without an LLM: a follow-up ("and for Europe?") borrows the previous question's words."""
    previous = next((content for role, content in reversed(turns) if role == "user"), None)
    if previous is None:
        return question
    words = WORD.findall(question.lower())
    looks_like_follow_up = (
        FOLLOW_UP_START.match(question) is not None
        or len(words) <= 3
        or (len(words) <= 8 and FOLLOW_UP_WORDS.intersection(words))
    )
    return f"{previous.strip()} {question.strip()}" if looks_like_follow_up else question


def sources_for(hits: Sequence[Hit], used: Iterable[int]) -> List[Source]:
    return [
        Source(document_id=hits[i].document_id, title=hits[i].title, page=hits[i].page, chunk_id=hits[i].chunk_id,
               score=hits[i].vector_score if hits[i].vector_score is not None else hits[i].score,
               snippet=_snippet(hits[i].text))
        for i in used
    ]


def _snippet(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def is_fallback(text: str, fallback: str) -> bool:
    """Did the model answer with the fallback sentence (possibly with small changes)?"""
    squash = lambda s: " ".join(WORD.findall(s.lower()))  # noqa: E731
    reply, expected = squash(text), squash(fallback)
    return bool(expected) and (reply == expected or reply.startswith(expected[: max(20, len(expected) // 2)]))


# --------------------------------------------------------------------------- extractive
_sentence_splitter: Optional[Callable[[str], List[str]]] = None


def split_sentences(text: str) -> List[str]:
    global _sentence_splitter
    if _sentence_splitter is None:
        from llama_index.core.node_parser.text.utils import split_by_sentence_tokenizer

        _sentence_splitter = split_by_sentence_tokenizer()  # NLTK punkt, shipped with llama-index
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        block: List[str] = []
        for line in (line.strip() for line in paragraph.splitlines()):
            if not line:
                continue
            if _is_heading(line):  # a heading is not the start of the next sentence
                sentences.extend(_split_block(block))
                block = []
                continue
            block.append(line)
        sentences.extend(_split_block(block))
    return sentences


def _is_heading(line: str) -> bool:
    return len(line.split()) <= 6 and not re.search(r"[.!?:;,]$", line) and line[:1].isupper()


def _split_block(lines: List[str]) -> List[str]:
    if not lines:
        return []
    return [s.strip() for s in _sentence_splitter(" ".join(lines)) if s.strip()]


@dataclass
class ExtractiveSynthesizer:
    """Answer with the retrieved sentences closest to the question, cited by source number."""

    embed_model: BaseEmbedding
    max_sentences: int = 3
    max_words: int = 90
    keep_ratio: float = 0.85  # keep further sentences scoring at least this share of the best

    def compose(self, question: str, question_embedding: List[float], hits: Sequence[Hit]) -> Tuple[str, List[int]]:
        candidates: List[Tuple[int, int, str]] = []  # (hit index, position, sentence)
        for hit_index, hit in enumerate(hits):
            for position, sentence in enumerate(split_sentences(hit.text)):
                if len(WORD.findall(sentence)) >= 4:
                    candidates.append((hit_index, position, sentence))
        if not candidates:
            return "", []
        vectors = np.array(self.embed_model.get_text_embedding_batch([c[2] for c in candidates]), dtype=np.float32)
        similarity = vectors @ np.array(question_embedding, dtype=np.float32)
        query_words = content_words(question)
        scores = []
        for (hit_index, _, sentence), sim in zip(candidates, similarity):
            overlap = len(query_words & content_words(sentence)) / len(query_words) if query_words else 0.0
            scores.append(float(sim) + 0.15 * overlap + 0.03 / (hit_index + 1))
        ranked = sorted(range(len(candidates)), key=lambda i: -scores[i])
        best = scores[ranked[0]]
        chosen, words = [], 0
        for i in ranked:
            length = len(candidates[i][2].split())
            if chosen and (scores[i] < self.keep_ratio * best or words + length > self.max_words):
                continue
            chosen.append(i)
            words += length
            if len(chosen) == self.max_sentences:
                break
        chosen.sort(key=lambda i: (candidates[i][0], candidates[i][1]))
        used_hits = list(dict.fromkeys(candidates[i][0] for i in chosen))
        number = {hit_index: n for n, hit_index in enumerate(used_hits, start=1)}
        parts: List[str] = []
        for j, i in enumerate(chosen):
            hit_index, _, sentence = candidates[i]
            parts.append(sentence)
            last_of_group = j == len(chosen) - 1 or candidates[chosen[j + 1]][0] != hit_index
            if last_of_group:
                parts.append(f"[{number[hit_index]}]")
        return " ".join(parts), used_hits


# --------------------------------------------------------------------------------- LLM
CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass
class LLMSynthesizer:
    llm: Any  # a LlamaIndex LLM
    history_turns: int = 10

    def messages(self, question: str, hits: Sequence[Hit], turns: List[Tuple[str, str]], company_name: str,
                 personality: str, fallback: str) -> List[ChatMessage]:
        messages = [ChatMessage(role=MessageRole.SYSTEM,
                                content=system_prompt(list(hits), company_name, personality, fallback))]
        for role, content in turns[-self.history_turns:]:
            messages.append(ChatMessage(role=MessageRole.USER if role == "user" else MessageRole.ASSISTANT,
                                        content=content))
        messages.append(ChatMessage(role=MessageRole.USER, content=question))
        return messages

    def complete(self, messages: List[ChatMessage]) -> str:
        try:
            return (self.llm.chat(messages).message.content or "").strip()
        except Exception as exc:  # the network edge: any provider failure is transient for callers
            raise ProviderError(f"The language model did not answer: {type(exc).__name__}") from exc

    def stream(self, messages: List[ChatMessage]) -> Iterator[str]:
        try:
            for chunk in self.llm.stream_chat(messages):
                if chunk.delta:
                    yield chunk.delta
        except Exception as exc:
            raise ProviderError(f"The language model did not answer: {type(exc).__name__}") from exc

    def condense(self, turns: List[Tuple[str, str]], question: str) -> str:
        lines = [f"{'Customer' if role == 'user' else 'Assistant'}: {content}" for role, content in turns[-6:]]
        prompt = condense_prompt(lines, question)
        standalone = self.complete([ChatMessage(role=MessageRole.USER, content=prompt)])
        standalone = standalone.strip().splitlines()[0].strip().strip('"') if standalone.strip() else ""
        return standalone or question

    @staticmethod
    def cited(text: str, hit_count: int) -> List[int]:
        cited = [int(n) - 1 for n in CITATION.findall(text) if 1 <= int(n) <= hit_count]
        return list(dict.fromkeys(cited)) or list(range(hit_count))


@dataclass
class StreamingAnswer:
    """Iterate for text deltas; afterwards ``text``, ``sources`` and ``answered`` are set."""

    _deltas: Iterator[str]
    _finish: Callable[[str], Tuple[List[Source], bool]]
    question: str = ""
    text: str = ""
    sources: List[Source] = field(default_factory=list)
    answered: bool = False
    done: bool = False

    def __iter__(self) -> Iterator[str]:
        parts: List[str] = []
        for delta in self._deltas:
            parts.append(delta)
            yield delta
        self.text = "".join(parts).strip()
        self.sources, self.answered = self._finish(self.text)
        self.done = True

    def to_answer(self) -> Answer:
        if not self.done:
            for _ in self:
                pass
        return Answer(text=self.text, sources=self.sources, answered=self.answered, question=self.question)


def word_deltas(text: str) -> Iterator[str]:
    """Split a finished text into token-like deltas that join back to exactly the text."""
    yield from (m.group(0) for m in re.finditer(r"\S+\s*|\s+", text))
