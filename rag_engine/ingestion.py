"""The ingestion pipeline's embedding step: chunks (rag_engine/chunking.py) → batched embeddings.

An IngestionPipeline with one custom transform that embeds in batches and reports progress,
so a caller can show it on big files. What is embedded is each chunk's context and text.
"""

from __future__ import annotations

import time
from typing import Any, Callable, List, Optional, Sequence

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import BaseNode, MetadataMode, TransformComponent
from pydantic import ConfigDict

ProgressCallback = Callable[[int, int], None]  # (chunks done, chunks total)


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
