"""From retrieved chunks to an answer with an LLM; history, streaming and citations for both paths.

``LLMSynthesizer`` drives any LlamaIndex LLM (OpenAI, or an OpenAI-compatible server such as
llama.cpp, Ollama or vLLM); the offline default is ``composer.ExtractiveComposer``. Neither
is ever asked when the answerability gate (``gate.py``) says the documents don't hold the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from .errors import ProviderError
from .prompts import condense_prompt, system_prompt
from .types import Answer, Hit, Source

History = Sequence[Any]  # dicts {"role", "content"}, (role, content) pairs or ChatMessages
USER_ROLES = {"customer", "user", "human"}
ASSISTANT_ROLES = {"assistant", "ai", "staff", "agent", "bot"}
WORD = re.compile(r"[a-z0-9]+")


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


def sources_for(hits: Sequence[Hit], used: Iterable[int]) -> List[Source]:
    """One source per (document, page) among the ``used`` hits, in the order given."""
    sources: dict = {}
    for i in used:
        hit = hits[i]
        sources.setdefault((hit.document_id, hit.page), Source(
            document_id=hit.document_id, title=hit.title, page=hit.page, chunk_id=hit.chunk_id,
            score=hit.vector_score if hit.vector_score is not None else hit.score, snippet=_snippet(hit.text),
            url=hit.url))
    return list(sources.values())


def _snippet(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def is_fallback(text: str, fallback: str) -> bool:
    """Did the model answer with the fallback sentence (possibly with small changes)?"""
    squash = lambda s: " ".join(WORD.findall(s.lower()))  # noqa: E731
    reply, expected = squash(text), squash(fallback)
    return bool(expected) and (reply == expected or reply.startswith(expected[: max(20, len(expected) // 2)]))


# ------------------------------------------------------------------------------ sentences
_sentence_splitter: Optional[Callable[[str], List[str]]] = None


def split_sentences(text: str) -> List[str]:
    """Sentences of one line of a chunk (chunks hold one paragraph or list item per line)."""
    global _sentence_splitter
    if _sentence_splitter is None:
        from llama_index.core.node_parser.text.utils import split_by_sentence_tokenizer

        _sentence_splitter = split_by_sentence_tokenizer()  # NLTK punkt, shipped with llama-index
    return [s.strip() for s in _sentence_splitter(" ".join(text.split())) if s.strip()]


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
