"""The engine's settings, read once from the environment with typed, loud parsing.

rag_engine never reads Flask's config: a notebook and the server behave the same.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping, Optional

from .errors import ConfigurationError

DEFAULT_FALLBACK = (
    "I don't have information about that. Would you like me to connect you with a human agent?"
)

EMBED_PROVIDERS = ("local", "openai")
LLM_PROVIDERS = ("extractive", "openai", "openai-compatible")

# Answerability gate: the lowest cosine similarity of the best retrieved chunk for which the
# engine still tries to answer. "local" is calibrated with bench/calibrate_gate.py: maximum
# balanced accuracy on 50 answerable Contoso questions vs. 52 unanswerable ones (50/50 answered,
# 51/52 refused) for any threshold in (0.424, 0.507]; the lowest, rounded up (when in doubt,
# answer). See bench/README.md. "openai" is not calibrated (no network here).
DEFAULT_MIN_SCORE = {"local": 0.43, "openai": 0.30}


def _get(env: Mapping[str, str], name: str) -> Optional[str]:
    value = env.get(name)
    return value.strip() if value is not None and value.strip() != "" else None


def _int(env, name, default, minimum=None, maximum=None) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigurationError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _float(env, name, default, minimum=None, maximum=None) -> Optional[float]:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigurationError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _choice(env, name, default, choices) -> str:
    value = (_get(env, name) or default).lower()
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    # Storage. No database_url: an embedded PostgreSQL + pgvector is started in data_dir.
    database_url: Optional[str] = None
    data_dir: Path = Path("var")
    table_name: str = "chunks"

    # Embeddings.
    embed_provider: str = "local"
    embed_model: str = "text-embedding-3-small"  # used by the openai provider
    embed_batch_size: int = 32
    openai_api_key: Optional[str] = None
    openai_base_url: Optional[str] = None

    # Generation. "extractive" needs no network: it quotes the most relevant sentences.
    llm_provider: str = "extractive"
    llm_model: str = "gpt-4o-mini"
    llm_base_url: Optional[str] = None
    llm_api_key: Optional[str] = None
    temperature: float = 0.3
    max_tokens: int = 500
    llm_timeout: float = 60.0

    # Chunking (tokens).
    chunk_size: int = 200
    chunk_overlap: int = 40

    # Bounds per document (rag_engine/readers/limits.py): more fails the ingestion with a reason, once.
    max_document_chars: int = 5_000_000
    max_document_chunks: int = 10_000
    max_query_chars: int = 10_000  # a longer question or search is refused (QueryTooLongError)

    # Retrieval.
    top_k: int = 5
    # Hybrid fusion: each leg's scores min-max normalised over its candidates, then weighted and
    # added (rag_engine/retrieval.py). Tuned on SciFact's train split with bench/tune_fusion.py.
    candidates: int = 60  # per retrieval leg, before fusion
    fusion: str = "score"  # "score" (min-max normalised sum) or "rrf" (reciprocal rank)
    rrf_k: int = 60  # only for reciprocal-rank fusion
    vector_weight: float = 1.0
    text_weight: float = 1.0
    exact_search_max_rows: int = 20000  # tenants this small are searched exactly, never via HNSW
    hnsw_ef_search: int = 100
    reranker_model: Optional[str] = None  # a cross-encoder path/name, for deployments that have one

    # Answering.
    min_score: Optional[float] = None  # None: the calibrated default for the embedding provider
    fallback_message: str = DEFAULT_FALLBACK
    max_context_chunks: int = 8  # passages an answer is composed from (tuned on the answer benchmark's train split)

    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        env = os.environ if env is None else env
        table = _get(env, "RAG_TABLE") or "chunks"
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", table):
            raise ConfigurationError(f"RAG_TABLE must be a lowercase identifier, got {table!r}")
        chunk_size = _int(env, "CHUNK_SIZE", 200, 32, 8192)
        settings = cls(
            database_url=_get(env, "DATABASE_URL"),
            data_dir=Path(_get(env, "RAG_DATA_DIR") or "var"),
            table_name=table,
            embed_provider=_choice(env, "EMBED_PROVIDER", "local", EMBED_PROVIDERS),
            embed_model=_get(env, "EMBED_MODEL") or "text-embedding-3-small",
            embed_batch_size=_int(env, "EMBED_BATCH_SIZE", 32, 1, 2048),
            openai_api_key=_get(env, "OPENAI_API_KEY"),
            openai_base_url=_get(env, "OPENAI_BASE_URL"),
            llm_provider=_choice(env, "LLM_PROVIDER", "extractive", LLM_PROVIDERS),
            llm_model=_get(env, "LLM_MODEL") or "gpt-4o-mini",
            llm_base_url=_get(env, "LLM_BASE_URL"),
            llm_api_key=_get(env, "LLM_API_KEY"),
            temperature=_float(env, "LLM_TEMPERATURE", 0.3, 0.0, 2.0),
            max_tokens=_int(env, "MAX_TOKENS", 500, 16, 32000),
            llm_timeout=_float(env, "LLM_TIMEOUT", 60.0, 1.0, 600.0),
            chunk_size=chunk_size,
            chunk_overlap=_int(env, "CHUNK_OVERLAP", min(40, chunk_size // 4), 0, chunk_size - 1),
            max_document_chars=_int(env, "MAX_DOCUMENT_CHARS", 5_000_000, 1000, 10**10),
            max_document_chunks=_int(env, "MAX_DOCUMENT_CHUNKS", 10_000, 1, 10**8),
            max_query_chars=_int(env, "MAX_QUERY_CHARS", 10_000, 100, 10**7),
            top_k=_int(env, "TOP_K", 5, 1, 100),
            candidates=_int(env, "RETRIEVAL_CANDIDATES", 60, 1, 1000),
            fusion=_choice(env, "HYBRID_FUSION", "score", ("score", "rrf")),
            rrf_k=_int(env, "RRF_K", 60, 1, 10000),
            vector_weight=_float(env, "HYBRID_VECTOR_WEIGHT", 1.0, 0.0, 100.0),
            text_weight=_float(env, "HYBRID_TEXT_WEIGHT", 1.0, 0.0, 100.0),
            exact_search_max_rows=_int(env, "EXACT_SEARCH_MAX_ROWS", 20000, 0, 10**9),
            hnsw_ef_search=_int(env, "HNSW_EF_SEARCH", 100, 1, 1000),
            reranker_model=_get(env, "RERANKER_MODEL"),
            min_score=_float(env, "ANSWER_MIN_SCORE", None, -1.0, 1.0),
            fallback_message=_get(env, "FALLBACK_MESSAGE") or DEFAULT_FALLBACK,
            max_context_chunks=_int(env, "MAX_CONTEXT_CHUNKS", 8, 1, 50),
        )
        settings.check()
        return settings

    def check(self) -> None:
        if self.chunk_overlap >= self.chunk_size:
            raise ConfigurationError("CHUNK_OVERLAP must be smaller than CHUNK_SIZE")
        if self.llm_provider == "openai-compatible" and not self.llm_base_url:
            raise ConfigurationError("LLM_PROVIDER=openai-compatible needs LLM_BASE_URL")
        if self.llm_provider == "openai" and not (self.llm_api_key or self.openai_api_key):
            raise ConfigurationError("LLM_PROVIDER=openai needs OPENAI_API_KEY")
        if self.embed_provider == "openai" and not self.openai_api_key:
            raise ConfigurationError("EMBED_PROVIDER=openai needs OPENAI_API_KEY")

    @property
    def answer_min_score(self) -> float:
        if self.min_score is not None:
            return self.min_score
        return DEFAULT_MIN_SCORE[self.embed_provider]

    def with_overrides(self, **changes) -> "Settings":
        """A copy with some fields changed (validated again): ``settings.with_overrides(top_k=10)``."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigurationError(f"Unknown settings: {', '.join(sorted(unknown))}")
        updated = replace(self, **changes)
        updated.check()
        return updated
