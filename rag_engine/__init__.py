"""rag_engine: per-tenant knowledge bases (ingest, retrieve, answer) on LlamaIndex + pgvector.

    from rag_engine import KnowledgeBase
    kb = KnowledgeBase.from_env()
    kb.ingest("acme", "manual.pdf")
    kb.answer("acme", "How long do I have to return an item?")

``detect_type(data, filename)`` says what ``ingest`` would read a file as ("pdf", "docx", "html",
"markdown", "text"), or raises the IngestError it would raise: callers can refuse an upload early.
"""

from .errors import (
    ConfigurationError, DocumentNotFoundError, EmbeddingMismatchError, IngestError, InvalidTenantError,
    ProviderError, QueryTooLongError, RagEngineError,
)
from .knowledge_base import KnowledgeBase
from .readers import detect_type
from .settings import DEFAULT_FALLBACK, Settings
from .tenants import TENANT_ID_PATTERN, validate_tenant
from .types import Answer, DocumentInfo, Hit, IngestResult, Source

__all__ = [
    "KnowledgeBase", "Settings", "DEFAULT_FALLBACK", "Answer", "DocumentInfo", "Hit", "IngestResult", "Source",
    "RagEngineError", "IngestError", "InvalidTenantError", "DocumentNotFoundError", "EmbeddingMismatchError",
    "ConfigurationError", "ProviderError", "QueryTooLongError", "TENANT_ID_PATTERN", "validate_tenant", "detect_type",
]
