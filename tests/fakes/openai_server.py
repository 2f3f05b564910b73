"""A local OpenAI-compatible server: chat completions (plain and streamed) and embeddings."""

from __future__ import annotations

import hashlib
import json
from typing import Callable

import numpy as np

from .http_server import FakeServer, Recorded


def fake_embedding(text: str, dim: int = 1536) -> list:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).normal(size=dim)
    return (vector / np.linalg.norm(vector)).tolist()


def openai_server(reply: Callable[[dict], str]) -> FakeServer:
    """``reply(request_json) -> assistant text``."""

    def handle(request: Recorded):
        body = request.json()
        if request.path.endswith("/embeddings"):
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [{"object": "embedding", "index": i, "embedding": fake_embedding(str(t))} for i, t in enumerate(inputs)]
            payload = {"object": "list", "data": data, "model": body["model"],
                       "usage": {"prompt_tokens": 1, "total_tokens": 1}}
            return 200, {"Content-Type": "application/json"}, json.dumps(payload)
        if not request.path.endswith("/chat/completions"):
            return 404, {"Content-Type": "application/json"}, json.dumps({"error": {"message": "not found"}})
        text = reply(body)
        base = {"id": "chatcmpl-test", "created": 1700000000, "model": body["model"]}
        if not body.get("stream"):
            payload = dict(base, object="chat.completion", choices=[
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                usage={"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20})
            return 200, {"Content-Type": "application/json"}, json.dumps(payload)

        def events():
            words = text.split(" ")
            for i, word in enumerate(words):
                delta = {"content": word + (" " if i < len(words) - 1 else "")}
                if i == 0:
                    delta["role"] = "assistant"
                chunk = dict(base, object="chat.completion.chunk",
                             choices=[{"index": 0, "delta": delta, "finish_reason": None}])
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            end = dict(base, object="chat.completion.chunk", choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
            yield f"data: {json.dumps(end)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return 200, {"Content-Type": "text/event-stream"}, events()

    return FakeServer(handle)
