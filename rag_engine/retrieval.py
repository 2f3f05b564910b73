"""Hybrid retrieval: vector similarity and BM25 full-text rank, fused by normalised scores.

Each leg's scores are min-max normalised over its candidates and added with weights (the
default); weighted reciprocal-rank fusion is available too (``fusion="rrf"``). On SciFact's
train split score fusion measured 0.737 nDCG@10 against 0.730 for the best RRF (rrf_k=5)
and 0.720 for RRF with k=60 (bench/tune_fusion.py, bench/README.md).

PGVectorStore's hybrid mode only concatenates the two result lists; fusion is done here, in
a LlamaIndex retriever (the seam it offers), so it composes with postprocessors and query
engines in a notebook.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Optional, Tuple

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from .store import ChunkRow, ChunkStore
from .tenants import validate_tenant
from .types import Hit

MODES = ("hybrid", "vector", "text")
FUSIONS = ("score", "rrf")


@dataclass
class RetrievalResult:
    hits: List[Hit]
    best_similarity: float  # the best cosine similarity of the vector leg (-1 when it found nothing)
    agreement: float = 0.0  # 1 when the fused best passage is among the first three of both legs


def _hit(row: ChunkRow, score: float, vector_score=None, text_score=None) -> Hit:
    meta = row.metadata or {}
    page = meta.get("page")
    return Hit(
        chunk_id=row.node_id, document_id=meta.get("document_id", ""), title=meta.get("title", ""),
        text=row.text, score=score, page=int(page) if page is not None else None,
        vector_score=vector_score, text_score=text_score, section=meta.get("section") or "",
        pages=tuple(meta["pages"]) if meta.get("pages") else None, url=meta.get("url") or None,
    )


def fuse(vector_rows: List[ChunkRow], text_rows: List[ChunkRow], k: int = 60,
         vector_weight: float = 1.0, text_weight: float = 1.0) -> List[Hit]:
    """Weighted reciprocal-rank fusion: score = Σ weight / (k + rank)."""
    scores: dict[str, float] = {}
    rows: dict[str, ChunkRow] = {}
    vector_scores = {r.node_id: r.score for r in vector_rows}
    text_scores = {r.node_id: r.score for r in text_rows}
    for weight, ranked in ((vector_weight, vector_rows), (text_weight, text_rows)):
        for rank, row in enumerate(ranked, start=1):
            scores[row.node_id] = scores.get(row.node_id, 0.0) + weight / (k + rank)
            rows.setdefault(row.node_id, row)
    ordered = sorted(scores, key=lambda node_id: (-scores[node_id], node_id))
    return [_hit(rows[n], scores[n], vector_scores.get(n), text_scores.get(n)) for n in ordered]


def _min_max(rows: List[ChunkRow]) -> dict[str, float]:
    if not rows:
        return {}
    high, low = max(r.score for r in rows), min(r.score for r in rows)
    span = high - low
    return {r.node_id: (r.score - low) / span if span > 0 else 1.0 for r in rows}


def fuse_scores(vector_rows: List[ChunkRow], text_rows: List[ChunkRow], vector_weight: float = 1.0,
                text_weight: float = 1.0) -> List[Hit]:
    """Score fusion: each leg's scores min-max normalised over its candidates, then a weighted sum."""
    vector_norm, text_norm = _min_max(vector_rows), _min_max(text_rows)
    rows: dict[str, ChunkRow] = {}
    for row in list(vector_rows) + list(text_rows):
        rows.setdefault(row.node_id, row)
    scores = {n: vector_weight * vector_norm.get(n, 0.0) + text_weight * text_norm.get(n, 0.0) for n in rows}
    vector_scores = {r.node_id: r.score for r in vector_rows}
    text_scores = {r.node_id: r.score for r in text_rows}
    ordered = sorted(scores, key=lambda node_id: (-scores[node_id], node_id))
    return [_hit(rows[n], scores[n], vector_scores.get(n), text_scores.get(n)) for n in ordered]


class HybridRetriever(BaseRetriever):
    """Retrieve one tenant's chunks: ``mode`` is "hybrid" (default), "vector" or "text"."""

    def __init__(self, store: ChunkStore, embed_model: BaseEmbedding, tenant_id: str, *, top_k: int = 5,
                 candidates: int = 60, mode: str = "hybrid", rrf_k: int = 60, vector_weight: float = 1.0,
                 text_weight: float = 1.0, reranker=None, fusion: str = "score"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}")
        self.fusion = fusion
        self.store = store
        self.embed_model = embed_model
        self.tenant_id = validate_tenant(tenant_id)
        self.top_k = top_k
        self.candidates = max(candidates, top_k)
        self.mode = mode
        self.rrf_k = rrf_k
        self.vector_weight = vector_weight
        self.text_weight = text_weight
        self.reranker = reranker
        super().__init__()

    def text_leg(self, query: str) -> List[ChunkRow]:
        """The full-text candidates (none in vector mode): needs no embedding, so it can run meanwhile."""
        return self.store.text_search(self.tenant_id, query, self.candidates) if self.mode != "vector" else []

    def vector_leg(self, query: str, query_embedding: Optional[List[float]] = None) -> List[ChunkRow]:
        if self.mode == "text":
            return []
        if query_embedding is None:
            query_embedding = self.embed_model.get_query_embedding(query)
        return self.store.vector_search(self.tenant_id, query_embedding, self.candidates)

    def search(self, query: str, query_embedding: Optional[List[float]] = None,
               legs: Optional[Tuple[List[ChunkRow], List[ChunkRow]]] = None) -> RetrievalResult:
        """``legs``: the (vector, text) candidates when the caller fetched them already (see ``vector_leg``)."""
        vector_rows, text_rows = legs if legs is not None else \
            (self.vector_leg(query, query_embedding), self.text_leg(query))
        if self.mode == "vector":
            hits = [_hit(r, r.score, vector_score=r.score) for r in vector_rows]
        elif self.mode == "text":
            hits = [_hit(r, r.score, text_score=r.score) for r in text_rows]
        elif self.fusion == "rrf":
            hits = fuse(vector_rows, text_rows, self.rrf_k, self.vector_weight, self.text_weight)
        else:
            hits = fuse_scores(vector_rows, text_rows, self.vector_weight, self.text_weight)
        if self.reranker is not None and hits:
            hits = self.reranker.rerank(query, hits)
        best = max((r.score for r in vector_rows), default=-1.0)
        top_of_both = {r.node_id for r in vector_rows[:3]} & {r.node_id for r in text_rows[:3]}
        agreement = 1.0 if hits and hits[0].chunk_id in top_of_both else 0.0
        return RetrievalResult(hits=hits[: self.top_k], best_similarity=best, agreement=agreement)

    def _retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        result = self.search(query_bundle.query_str, query_bundle.embedding)
        return [
            NodeWithScore(
                node=TextNode(id_=h.chunk_id, text=h.text,
                              metadata={"document_id": h.document_id, "title": h.title, "page": h.page,
                                        "tenant_id": self.tenant_id}),
                score=h.score,
            )
            for h in result.hits
        ]


class CrossEncoderReranker:
    """Optional re-ranking with a sentence-transformers cross-encoder (RERANKER_MODEL).

    None ships offline on PyPI; deployments that have one point RERANKER_MODEL at it.
    """

    def __init__(self, model_name_or_path: str):
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as exc:  # pragma: no cover - depends on the deployment
            from .errors import ConfigurationError

            raise ConfigurationError("RERANKER_MODEL needs the sentence-transformers package installed") from exc
        self.model = CrossEncoder(model_name_or_path)

    def rerank(self, query: str, hits: List[Hit]) -> List[Hit]:
        scores = self.model.predict([(query, h.text) for h in hits])
        order = sorted(range(len(hits)), key=lambda i: -float(scores[i]))
        return [replace(hits[i], score=float(scores[i])) for i in order]
