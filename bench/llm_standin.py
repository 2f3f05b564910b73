"""A local OpenAI-compatible stand-in for an LLM, for measuring the engine's LLM path offline.

    with LLMStandin() as llm:
        Settings(llm_provider="openai-compatible", llm_base_url=llm.base_url, llm_api_key="standin",
                 llm_model="standin")

It serves ``POST /v1/chat/completions``, plain and streamed (server-sent events, as the ``openai``
client and LlamaIndex's ``OpenAILike`` read them), on 127.0.0.1 at a free port. It is not a
language model: it answers deterministically from the prompt, which is enough to exercise the
mechanics around a real model (prompt format, condensing, citations, fallback detection):

* a **condense** request (``rag_engine.prompts.CONDENSE_PROMPT``) gets the last customer
  message back, with the previous customer question appended when the last message looks like
  a follow-up (short, a pronoun, "and …", "what about …", "I mean …");
* an **answer** request (the system prompt with numbered ``[n] (title, page p)`` context
  blocks) gets the one or two context sentences with the best word overlap with the last user
  message, each followed by its ``[n]`` citation, or exactly the prompt's fallback sentence
  when no sentence overlaps enough.

Every request is recorded (``requests``: ``(kind, body)`` with kind ``condense`` | ``answer``
| ``other``) so tests can check what the engine sent.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, List, Optional, Tuple

CONDENSE_MARKER = "Rewrite the customer's last message as one standalone question"
FALLBACK_MARKER = "reply with exactly this sentence and nothing else:"
WORD = re.compile(r"[a-z0-9$%][a-z0-9$%,.'-]*[a-z0-9%]|[a-z0-9$%]")
STOPWORDS = set(
    "a an the and or but if of to in on at for from by with about as is are was were be been being do does did "
    "have has had i you he she it we they me my your our their its this that these those what which who whom how "
    "when where why can could would should will shall may might must not no yes please there here than then so "
    "just also any some all get got much many there one ones mean meant sorry actually confused exactly sure "
    "like only tell know per".split()
)
FOLLOW_UP_START = re.compile(r"^\s*(and|or|but|also|what about|how about|same for|what if|so|wait|"
                             r"sorry|no|actually|i mean|i meant|i'm|just to)\b", re.I)
PRONOUNS = {"it", "its", "they", "them", "their", "that", "this", "those", "these", "there", "one", "ones",
            "he", "she", "his", "her"}
CONTEXT_BLOCK = re.compile(r"(?m)^\[(\d+)\] \(([^)\n]*)\)\n")
MIN_OVERLAP_WORDS = 2
MIN_OVERLAP_SHARE = 0.3


def words(text: str) -> List[str]:
    return WORD.findall(text.lower().replace("\u2019", "'"))


def content_words(text: str) -> set:
    return {_stem(w) for w in words(text) if w not in STOPWORDS}


def _stem(word: str) -> str:
    """Plural/verb -s only ("takes" = "take", "policies" = "policy")."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# ------------------------------------------------------------------------------- condensing
def condense(prompt: str) -> str:
    """The standalone question for a condense prompt (deterministic, no model)."""
    last = _between(prompt, "Last message:", "Standalone question:").strip()
    conversation = _between(prompt, "Conversation:", "Last message:")
    previous = None
    for line in conversation.splitlines():
        if line.startswith("Customer:"):
            previous = line[len("Customer:"):].strip()
    if not previous or not looks_like_follow_up(last):
        return last
    return f"{last} (about: {previous})"


def looks_like_follow_up(message: str) -> bool:
    tokens = words(message)
    return (FOLLOW_UP_START.match(message) is not None or len(tokens) <= 6
            or (len(tokens) <= 10 and bool(PRONOUNS.intersection(tokens))))


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    if i < 0:
        return ""
    i += len(start)
    j = text.find(end, i)
    return text[i:] if j < 0 else text[i:j]


# ---------------------------------------------------------------------------------- answers
def parse_context(system: str) -> List[Tuple[int, str, str]]:
    """[(number, "title, page p", text)] from the system prompt's numbered context blocks."""
    context = system.split("\nContext:\n", 1)[1] if "\nContext:\n" in system else ""
    parts = CONTEXT_BLOCK.split(context)
    return [(int(parts[i]), parts[i + 1], parts[i + 2].strip()) for i in range(1, len(parts) - 2, 3)]


def fallback_sentence(system: str) -> str:
    return _between(system, FALLBACK_MARKER, "\n\nContext:").strip()


def sentences(text: str) -> List[str]:
    out = []
    for line in re.split(r"\n+|\s*•\s*", text):
        out.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if len(words(s)) >= 3)
    return out


def answer(messages: List[dict]) -> str:
    """The 1-2 context sentences sharing the most words with the last user message, each with its
    [n] citation; the fallback sentence when the best shares fewer than 2 words or under 30% of
    the message's content words."""
    system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
    question = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
    fallback = fallback_sentence(system) or "I don't know."
    query = content_words(question)
    scored = []
    for number, _, text in parse_context(system):
        for position, sentence in enumerate(sentences(text)):
            common = len(query & content_words(sentence))
            scored.append((common, -number, -position, number, sentence))
    if not query or not scored:
        return fallback
    scored.sort(reverse=True)
    best = scored[0]
    if best[0] < MIN_OVERLAP_WORDS or best[0] / len(query) < MIN_OVERLAP_SHARE:
        return fallback
    chosen = [best]
    for candidate in scored[1:]:
        if candidate[0] >= max(MIN_OVERLAP_WORDS, 0.8 * best[0]) and candidate[4] != best[4]:
            chosen.append(candidate)
            break
    return " ".join(f"{sentence} [{number}]" for *_, number, sentence in chosen)


def reply(body: dict) -> Tuple[str, str]:
    """(kind, text) for a chat completion request body."""
    messages = body.get("messages") or []
    text = "\n".join(str(m.get("content") or "") for m in messages)
    if CONDENSE_MARKER in text:
        return "condense", condense(text)
    if any(m.get("role") == "system" and "\nContext:\n" in str(m.get("content") or "") for m in messages):
        return "answer", answer(messages)
    return "other", "OK"


# ----------------------------------------------------------------------------------- server
class LLMStandin:
    """The HTTP server (a context manager); ``base_url`` ends in ``/v1``."""

    def __init__(self) -> None:
        self.requests: List[Tuple[str, dict]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self._send(400, {"error": {"message": "invalid JSON"}})
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                kind, text = reply(body)
                with outer._lock:
                    outer.requests.append((kind, body))
                if body.get("stream"):
                    return self._stream(body, text)
                return self._send(200, dict(_base(body), object="chat.completion", choices=[
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                    usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}))

            def do_GET(self):  # noqa: N802
                if self.path.rstrip("/").endswith("/models"):
                    return self._send(200, {"object": "list", "data": [{"id": "standin", "object": "model"}]})
                return self._send(404, {"error": {"message": f"no route {self.path}"}})

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict, text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in _events(body, text):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                # A client closing a kept-alive connection (the OpenAI client's pool, at the end of a
                # run) is no error of the stand-in; anything else is printed as usual.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self._thread: Optional[threading.Thread] = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.requests if k == kind)

    def start(self) -> "LLMStandin":
        self._thread = threading.Thread(target=self.server.serve_forever, name="llm-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "LLMStandin":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _base(body: dict) -> dict:
    return {"id": "chatcmpl-standin", "created": 1700000000, "model": body.get("model") or "standin"}


def _events(body: dict, text: str) -> Iterator[bytes]:
    base = _base(body)
    pieces = re.findall(r"\S+\s*|\s+", text) or [""]
    for i, piece in enumerate(pieces):
        delta = {"content": piece}
        if i == 0:
            delta["role"] = "assistant"
        chunk = dict(base, object="chat.completion.chunk", choices=[{"index": 0, "delta": delta, "finish_reason": None}])
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    end = dict(base, object="chat.completion.chunk", choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
    yield f"data: {json.dumps(end)}\n\n".encode()
    yield b"data: [DONE]\n\n"


if __name__ == "__main__":  # run it by hand: python -m bench.llm_standin
    import time

    with LLMStandin() as standin:
        print(f"LLM stand-in at {standin.base_url} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
