"""The ingestion pipeline: parsed Documents → sentence-aware chunks → batched embeddings.

Composed from LlamaIndex pieces (IngestionPipeline, SentenceSplitter); the one custom
transform embeds in batches and reports progress, so a caller can show it on big files.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable, List, Optional, Sequence

from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, MetadataMode, TransformComponent
from pydantic import ConfigDict

ProgressCallback = Callable[[int, int], None]  # (chunks done, chunks total)

# Metadata every chunk carries; none of it is embedded or shown to the LLM as text.
CHUNK_METADATA_KEYS = ["tenant_id", "document_id", "title", "source_type", "page", "chunk_index"]


class BatchEmbedder(TransformComponent):
    """Embed nodes in batches (one model/API call per batch), reporting progress per batch."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    embed_model: BaseEmbedding
    batch_size: int = 32
    progress: Optional[ProgressCallback] = None

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> List[BaseNode]:
        nodes = list(nodes)
        total = len(nodes)
        if self.progress:
            self.progress(0, total)
        for start in range(0, total, self.batch_size):
            batch = nodes[start:start + self.batch_size]
            texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in batch]
            for node, embedding in zip(batch, self.embed_model.get_text_embedding_batch(texts)):
                node.embedding = embedding
            if self.progress:
                self.progress(min(start + self.batch_size, total), total)
        return nodes


def build_chunks(documents: List[Document], *, tenant_id: str, document_id: str, title: str, source_type: str,
                 content_hash: str, chunk_size: int, chunk_overlap: int) -> List[BaseNode]:
    """Split documents into chunks that carry the tenant, document and page of their origin."""
    for number, doc in enumerate(documents):
        # ref_doc_id of the chunks: unique across tenants, and distinct per page (LlamaIndex's
        # splitter copies metadata by parent id, so pages sharing one id would share a page number).
        doc.id_ = document_id if len(documents) == 1 else f"{document_id}:part{number}"
        doc.metadata.update(tenant_id=tenant_id, document_id=document_id, title=title, source_type=source_type)
        doc.excluded_embed_metadata_keys = list(CHUNK_METADATA_KEYS)
        doc.excluded_llm_metadata_keys = list(CHUNK_METADATA_KEYS)
    splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    pipeline = IngestionPipeline(transformations=[splitter], disable_cache=True)
    nodes = pipeline.run(documents=documents)
    for index, node in enumerate(nodes):
        node.metadata["chunk_index"] = index
        # Deterministic ids: the same content re-ingested gets the same chunk ids.
        node.id_ = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{document_id}/{content_hash}/{index}"))
    return nodes


def embed_chunks(nodes: List[BaseNode], embed_model: BaseEmbedding, batch_size: int,
                 progress: Optional[ProgressCallback] = None) -> List[BaseNode]:
    pipeline = IngestionPipeline(
        transformations=[BatchEmbedder(embed_model=embed_model, batch_size=batch_size, progress=progress)],
        disable_cache=True,
    )
    return pipeline.run(nodes=nodes)


class Stopwatch:
    """Collects how long each named step took (parse / split / embed / write)."""

    def __init__(self):
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - self._last, 4)
        self._last = now
