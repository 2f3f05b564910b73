"""The store's tables by name, and the one place that says "this row belongs to that tenant".

Table names are pasted into SQL (identifiers cannot be bound), so the name they derive from is
checked here as well as in Settings: a ChunkStore built by hand cannot smuggle SQL in either.
Tenant ids are always bound parameters (``:t``), validated by ``scope`` before any SQL runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..settings import TABLE_NAME_PATTERN
from ..tenants import validate_tenant

TEXT_SEARCH_CONFIG = "english"  # the chunks' tsvector and every query's lexemes


@dataclass(frozen=True)
class Tables:
    """The tables of one knowledge base, all named after ``name`` (RAG_TABLE)."""

    name: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.fullmatch(TABLE_NAME_PATTERN, self.name):
            raise ConfigurationError(f"RAG_TABLE must be a lowercase identifier, got {self.name!r}")

    @property
    def chunks(self) -> str:
        """LlamaIndex PGVectorStore's table (it prefixes ``data_``): one row per chunk, tenant in metadata_."""
        return f"data_{self.name}"

    @property
    def documents(self) -> str:
        """The registry: one row per document (tenant, title, type, content hash, chunk and token counts)."""
        return f"{self.name}_documents"

    @property
    def meta(self) -> str:
        """key/value: the embedding model the store was built with, and the version of each schema change."""
        return f"{self.name}_meta"

    @property
    def postings(self) -> str:
        """BM25 postings: (chunk, tenant, lexeme, term frequency, chunk length)."""
        return f"{self.name}_postings"

    @property
    def terms(self) -> str:
        """Per document and lexeme: the chunks holding it (the tenant's df is their sum)."""
        return f"{self.name}_terms"

    def of_tenant(self, table: str, alias: str = "") -> str:
        """The tenant predicate of a row of ``table`` (bind ``:t`` with ``scope``); the only one written."""
        column = "metadata_->>'tenant_id'" if table == self.chunks else "tenant_id"
        return f"{alias}.{column} = :t" if alias else f"{column} = :t"


def scope(tenant_id: str, **params: Any) -> dict:
    """The bound parameters of a tenant's statement: ``:t`` (validated) and ``params``."""
    return {"t": validate_tenant(tenant_id), **params}


@dataclass(frozen=True)
class ChunkRow:
    node_id: str
    text: str
    metadata: dict
    score: float


@dataclass(frozen=True)
class DocumentRecord:
    document_id: str
    tenant_id: str
    title: str
    source_type: str
    content_hash: str
    chunk_count: int
    created_at: Any = None
    updated_at: Any = None


DOCUMENT_COLUMNS = "document_id, tenant_id, title, source_type, content_hash, chunk_count, created_at, updated_at"
CHUNK_DOCUMENT = "metadata_->>'document_id'"  # a chunk's document id (tenant-scoped ids: always with of_tenant)
