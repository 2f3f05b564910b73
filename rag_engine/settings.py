"""The engine's settings: one typed field per environment variable (pydantic-settings).

rag_engine never reads Flask's config: a notebook and the server behave the same. Each setting
has its default in one place (its field) and one validation message (its ``Problem``), whether
the value comes from the environment (``Settings.from_env``), from code (``Settings(top_k=8)``)
or from ``with_overrides``; a bad value raises ConfigurationError ``NAME must be …, got '…'``.
Blank variables count as unset. ``Settings()`` alone is the defaults, without the environment.
"""

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from .errors import ConfigurationError

DEFAULT_FALLBACK = (
    "I don't have information about that. Would you like me to connect you with a human agent?"
)

EMBED_PROVIDERS = ("local", "openai")
LLM_PROVIDERS = ("extractive", "openai", "openai-compatible")
# Pasted into SQL as the stem of the store's table names (rag_engine/store/tables.py checks it again).
TABLE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,40}$"

# Answerability gate: the lowest cosine similarity of the best retrieved chunk for which the
# engine still tries to answer. "local" is calibrated with bench/calibrate_gate.py: maximum
# balanced accuracy on 50 answerable Contoso questions vs. 52 unanswerable ones (50/50 answered,
# 51/52 refused) for any threshold in (0.424, 0.507]; the lowest, rounded up (when in doubt,
# answer). See bench/README.md. "openai" is not calibrated (no network here).
DEFAULT_MIN_SCORE = {"local": 0.43, "openai": 0.30}


class Problem(str):
    """What a setting's value must look like, said once per setting."""


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def Whole(low: int, high: int, env: Optional[str] = None):
    return Annotated[int, Field(ge=low, le=high, validation_alias=env),
                     Problem(f"must be a whole number between {low} and {high}")]


def Number(low: float, high: float, env: Optional[str] = None):
    return Annotated[float, Field(ge=low, le=high, validation_alias=env), Problem(f"must be between {low} and {high}")]


def OneOf(choices: tuple, env: Optional[str] = None):
    return Annotated[Literal[choices], BeforeValidator(_lower), Field(validation_alias=env),
                     Problem(f"must be one of {', '.join(choices)}")]


def Text(env: Optional[str] = None):
    return Annotated[Optional[str], Field(validation_alias=env), Problem("must be text")]


class Settings(BaseSettings):
    """Environment variable = the field name in capitals, or the name given with ``env``."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="forbid", frozen=True, validate_by_name=True)

    # Storage. No database_url: an embedded PostgreSQL + pgvector is started in data_dir.
    database_url: Text() = None
    data_dir: Annotated[Path, Field(validation_alias="RAG_DATA_DIR"), Problem("must be a directory path")] = Path("var")
    table_name: Annotated[str, Field(pattern=TABLE_NAME_PATTERN, validation_alias="RAG_TABLE"),
                          Problem("must be a lowercase identifier (a letter, then up to 40 letters, digits or _)")
                          ] = "chunks"

    # Embeddings.
    embed_provider: OneOf(EMBED_PROVIDERS) = "local"
    embed_model: Annotated[str, Problem("must be a model name")] = "text-embedding-3-small"  # the openai provider's
    embed_batch_size: Whole(1, 2048) = 32
    openai_api_key: Text() = None
    openai_base_url: Text() = None

    # Generation. "extractive" needs no network: it quotes the most relevant sentences.
    llm_provider: OneOf(LLM_PROVIDERS) = "extractive"
    llm_model: Annotated[str, Problem("must be a model name")] = "gpt-4o-mini"
    llm_base_url: Text() = None
    llm_api_key: Text() = None
    temperature: Number(0.0, 2.0, env="LLM_TEMPERATURE") = 0.3
    max_tokens: Whole(16, 32000) = 500
    llm_timeout: Number(1.0, 600.0) = 60.0

    # Chunking (tokens). CHUNK_OVERLAP unset: a quarter of CHUNK_SIZE, at most 40.
    chunk_size: Whole(32, 8192) = 200
    chunk_overlap: Annotated[Optional[int], Field(ge=0), Problem("must be between 0 and CHUNK_SIZE - 1")] = None

    # Bounds per document (rag_engine/readers/limits.py): more fails the ingestion with a reason, once.
    max_document_chars: Whole(1000, 10**10) = 5_000_000
    max_document_chunks: Whole(1, 10**8) = 10_000
    max_query_chars: Whole(100, 10**7) = 10_000  # a longer question or search is refused (QueryTooLongError)

    # Retrieval.
    top_k: Whole(1, 100) = 5
    # Hybrid fusion: each leg's scores min-max normalised over its candidates, then weighted and
    # added (rag_engine/retrieval.py). Tuned on SciFact's train split with bench/tune_fusion.py.
    candidates: Whole(1, 1000, env="RETRIEVAL_CANDIDATES") = 60  # per retrieval leg, before fusion
    fusion: OneOf(("score", "rrf"), env="HYBRID_FUSION") = "score"  # min-max normalised sum, or reciprocal rank
    rrf_k: Whole(1, 10000) = 60  # only for reciprocal-rank fusion
    vector_weight: Number(0.0, 100.0, env="HYBRID_VECTOR_WEIGHT") = 1.0
    text_weight: Number(0.0, 100.0, env="HYBRID_TEXT_WEIGHT") = 1.0
    exact_search_max_rows: Whole(0, 10**9) = 20000  # tenants this small are searched exactly, never via HNSW
    hnsw_ef_search: Whole(1, 1000) = 100
    reranker_model: Text() = None  # a cross-encoder path/name, for deployments that have one

    # Answering.
    min_score: Annotated[Optional[float], Field(ge=-1.0, le=1.0, validation_alias="ANSWER_MIN_SCORE"),
                         Problem("must be between -1.0 and 1.0")] = None  # None: calibrated per embedding provider
    fallback_message: Annotated[str, Problem("must be text")] = DEFAULT_FALLBACK
    max_context_chunks: Whole(1, 50) = 8  # passages an answer is composed from (tuned on the answer benchmark's train)

    def __init__(self, **values: Any):
        try:
            super().__init__(**values)
        except ValidationError as err:
            raise ConfigurationError("; ".join(_describe(problem) for problem in err.errors())) from None

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings,)  # the environment comes through from_env(), which may be given a mapping

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        """Settings from ``os.environ`` (or ``env``); every variable unset or blank keeps its default."""
        return cls(**EnvironmentSource(cls, os.environ if env is None else env)())

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.chunk_overlap is None:  # not a user's value: stays out of model_fields_set (with_overrides)
            object.__setattr__(self, "chunk_overlap", min(40, self.chunk_size // 4))
        self.check()
        return self

    def check(self) -> None:
        """The rules between settings (each setting's own range is checked when it is set)."""
        if self.chunk_overlap >= self.chunk_size:
            raise ConfigurationError(f"CHUNK_OVERLAP {_problem('chunk_overlap')} ({self.chunk_size - 1}), "
                                     f"got {self.chunk_overlap}")
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

    def with_overrides(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (validated again): ``settings.with_overrides(top_k=10)``."""
        unknown = set(changes) - set(type(self).model_fields)
        if unknown:
            raise ConfigurationError(f"Unknown settings: {', '.join(sorted(unknown))}")
        kept = {name: getattr(self, name) for name in self.model_fields_set}
        return type(self)(**{**kept, **changes})


class EnvironmentSource(EnvSettingsSource):
    """``os.environ`` or a given mapping; values stripped, blank ones treated as unset (the app's
    settings read their environment through it too)."""

    def __init__(self, settings_cls, environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str]:
        return {name.lower(): value.strip() for name, value in self._environ.items()
                if isinstance(value, str) and value.strip()}


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return (alias if isinstance(alias, str) else field).upper()


def _problem(field: str) -> str:
    return next(m for m in Settings.model_fields[field].metadata if isinstance(m, Problem))


def _describe(problem: dict) -> str:
    if not problem["loc"]:  # a rule between settings (check()): its own message
        error = problem.get("ctx", {}).get("error")
        return str(error) if error is not None else problem["msg"]
    given = str(problem["loc"][0])
    field = next((name for name, info in Settings.model_fields.items()
                  if given in (name, info.validation_alias)), None)
    if field is None:
        return f"Unknown setting: {given}"
    return f"{env_name(field)} {_problem(field)}, got {problem['input']!r}"
