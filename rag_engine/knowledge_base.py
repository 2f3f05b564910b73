"""KnowledgeBase: the public face of the engine (what a notebook user and the Flask app call)."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Union

from cachetools import TTLCache

from .answering import (
    LLMSynthesizer, StreamingAnswer, is_fallback, normalize_history, sources_for, split_sentences, word_deltas,
)
from .answer_text import Composition
from .composer import ExtractiveComposer
from .database import async_url, create_engine, resolve_database_url
from .embeddings import build_embed_model
from .followups import (
    Search, continues_explicitly, core_question, plan_searches, spelled_out_names, split_compound, last_answer,
)
from .gate import (
    LOCAL_GATE, Signals, value_missing, idf, lexical_signals, person_named, sentence_coverage, spellings,
    strangers, unknown_words, value_found,
)
from .errors import DocumentNotFoundError, QueryTooLongError, RagEngineError
from .chunking import build_nodes, settled
from .ingestion import ProgressCallback, run_pipeline
from .llms import build_llm
from .naming import NAME_RUN, named_documents, spelled_as_titled, title_words
from .rarity import WordRarity
from .readers import parse_text_with_previews, parse_with_previews
from .readers.limits import check_chunks
from .retrieval import CrossEncoderReranker, HybridRetriever, RetrievalResult
from .settings import Settings
from .spelling import corrections, respell
from .store import ChunkStore, DocumentRecord
from .tenants import validate_tenant
from .text import topic_lexemes
from .types import Answer, DocumentInfo, Hit, IngestResult

log = logging.getLogger(__name__)
DOCUMENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
# Threads sending an answer's SQL side by side (up to 7 legs for a follow-up). At most 4, so the legs
# stay within the engine pool's 5 kept connections: with 8, a follow-up opened and closed overflow
# connections (a PostgreSQL backend started per answer: +1 to 3 ms of server CPU an answer, one run each).
LEG_THREADS = 4
# A question that names a document gets at least this many of its passages (of the 8 composed from).
MIN_NAMED_PASSAGES = 6


def clean_query(text: str) -> str:
    """PostgreSQL text cannot hold NUL characters or lone surrogates: drop them from questions."""
    return text.replace("\x00", "").encode("utf-8", errors="replace").decode("utf-8")


class KnowledgeBase:
    """Per-tenant knowledge bases in one shared PostgreSQL + pgvector store.

    Every method takes the tenant id first; nothing crosses tenants.
    """

    def __init__(self, settings: Optional[Settings] = None, *, embed_model=None, embed_model_id: Optional[str] = None,
                 embed_dim: Optional[int] = None, llm=None):
        self.settings = settings or Settings()
        self.settings.check()
        if embed_model is None:
            embed_model, embed_model_id, embed_dim = build_embed_model(self.settings)
        elif embed_model_id is None or embed_dim is None:
            raise RagEngineError("A custom embed_model needs embed_model_id and embed_dim")
        self.embed_model = embed_model
        self.llm = llm if llm is not None else build_llm(self.settings)
        self.database_url = resolve_database_url(self.settings.database_url, self.settings.data_dir)
        self.store = ChunkStore(
            create_engine(self.database_url), async_url(self.database_url), self.settings.table_name,
            embed_dim, embed_model_id, exact_search_max_rows=self.settings.exact_search_max_rows,
            hnsw_ef_search=self.settings.hnsw_ef_search,
        )
        self.store.setup()
        self.reranker = CrossEncoderReranker(self.settings.reranker_model) if self.settings.reranker_model else None
        self.composer = ExtractiveComposer(self.embed_model, split_sentences)
        self.rarity = WordRarity(self.store.lexeme_frequencies)
        # Each tenant's document titles, for names written short ("Northwind Plus"); a minute old at most.
        self._titles: TTLCache = TTLCache(maxsize=10_000, ttl=60.0)
        self._titles_lock = threading.Lock()  # cachetools' caches are not thread-safe
        self._legs_pool: Optional[ThreadPoolExecutor] = None
        self._legs_lock = threading.Lock()
        self.synthesizer = LLMSynthesizer(self.llm) if self.llm is not None else None

    @classmethod
    def from_env(cls, env_file: Optional[str] = ".env", **overrides: Any) -> "KnowledgeBase":
        """Settings from the environment (and ``.env`` if present); keyword overrides win."""
        if env_file and Path(env_file).is_file():
            from dotenv import load_dotenv

            load_dotenv(env_file, override=False)
        settings = Settings.from_env(os.environ)
        if overrides:
            settings = settings.with_overrides(**overrides)
        return cls(settings)

    # ------------------------------------------------------------------ documents
    def ingest(self, tenant_id: str, path: Union[str, os.PathLike, None] = None, *, data: Optional[bytes] = None,
               filename: Optional[str] = None, text: Optional[str] = None, title: Optional[str] = None,
               document_id: Optional[str] = None, progress: Optional[ProgressCallback] = None,
               force: bool = False, url: Optional[str] = None) -> IngestResult:
        """Add or update one document: a path, ``data=bytes`` + ``filename``, or ``text`` + ``title``.

        Identical content again is a no-op ("unchanged"); new content for the same document
        (same ``document_id``, or same title/file name) replaces its chunks atomically.
        Unreadable files raise IngestError with a message for the company admin. ``url``: the web
        page the content came from, kept with each chunk so answers can link it (not embedded).
        """
        validate_tenant(tenant_id)
        given = sum(x is not None for x in (path, data, text))
        if given != 1:
            raise RagEngineError("Pass exactly one of: a path, data=bytes (with filename=), or text= (with title=)")
        title = clean_query(title) if title else title
        text = clean_query(text) if text is not None else None
        if path is not None:
            path = Path(path)
            data, filename = path.read_bytes(), filename or path.name
        if data is not None:
            if not filename:
                raise RagEngineError("data=bytes needs filename= (the type is detected from the bytes and the name)")
            content_hash = hashlib.sha256(data).hexdigest()
        else:
            if not title:
                raise RagEngineError("text= needs title=")
            content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
        key = title or filename
        if document_id is None:
            document_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rag-engine:{tenant_id}:{key}"))
        elif not DOCUMENT_ID_PATTERN.fullmatch(document_id):
            raise RagEngineError("document_id must be 1-128 letters, digits, '_', '.', ':' or '-'")

        existing = self.store.get_document(tenant_id, document_id)
        if existing and existing.content_hash == content_hash and not force:
            return IngestResult(document_id, existing.title, existing.chunk_count, "unchanged")

        max_chars = self.settings.max_document_chars
        stages = parse_with_previews(data, filename, max_chars) if data is not None \
            else parse_text_with_previews(text, title, max_chars)
        chunk_settings = dict(tenant_id=tenant_id, document_id=document_id, content_hash=content_hash,
                              chunk_size=self.settings.chunk_size, chunk_overlap=self.settings.chunk_overlap)
        records: list = []

        def split(parsed, final: bool):
            nodes = build_nodes(parsed.blocks, title=title or parsed.title, source_type=parsed.source_type,
                                **chunk_settings)
            if not final:  # a preview: what is worth embedding while later pages are read
                return settled(nodes, parsed.blocks) if len(nodes) <= self.settings.max_document_chunks else []
            if url:
                for node in nodes:
                    node.metadata["url"] = url
                    node.excluded_embed_metadata_keys.append("url")
                    node.excluded_llm_metadata_keys.append("url")
            check_chunks(len(nodes), self.settings.max_document_chunks)
            records.append(DocumentRecord(document_id, tenant_id, title or parsed.title, parsed.source_type,
                                          content_hash, len(nodes)))
            return nodes

        outcome = run_pipeline(stages, split, self.embed_model, self.settings.embed_batch_size,
                               lambda nodes: self.store.document_writer(records[-1]), progress)
        self._forget_titles(tenant_id)
        log.info("ingested %s/%s: %d chunks (%d embedded), %s, %s", tenant_id, document_id, len(outcome.nodes),
                 outcome.embedded, outcome.status, outcome.timings)
        return IngestResult(document_id, records[-1].title, len(outcome.nodes), outcome.status, outcome.timings)

    def list_documents(self, tenant_id: str) -> List[DocumentInfo]:
        return [self._info(r) for r in self.store.list_documents(tenant_id)]

    def get_document(self, tenant_id: str, document_id: str) -> DocumentInfo:
        record = self.store.get_document(tenant_id, document_id)
        if record is None:
            raise DocumentNotFoundError(f"No document {document_id!r} in this knowledge base.")
        return self._info(record)

    def delete_document(self, tenant_id: str, document_id: str) -> None:
        self.store.delete_document(tenant_id, document_id)
        self._forget_titles(tenant_id)

    def delete_tenant(self, tenant_id: str) -> int:
        """Remove every document of a tenant; returns how many there were."""
        removed = self.store.delete_tenant(tenant_id)
        self._forget_titles(tenant_id)
        return removed

    def _forget_titles(self, tenant_id: str) -> None:
        """This process reads the tenant's titles again at once (others within a minute)."""
        with self._titles_lock:
            self._titles.pop(tenant_id, None)

    @staticmethod
    def _info(r: DocumentRecord) -> DocumentInfo:
        return DocumentInfo(r.document_id, r.title, r.source_type, r.chunk_count, r.content_hash, r.created_at,
                            r.updated_at)

    # ------------------------------------------------------------------ websites (rag_engine/web)
    def import_url(self, tenant_id: str, url: str, *, mode: str = "page", max_pages: int = 200, max_depth: int = 3,
                   **kwargs: Any):
        """Import a web page, a sitemap or a crawl (mode "page" | "sitemap" | "crawl"); again = a sync.

        Returns an ImportResult with one PageResult per page; see rag_engine/web/sync.py for
        ``source_id``, ``options`` (WebOptions), ``progress``, ``should_stop`` and ``force``.
        """
        from .web import import_url

        return import_url(self, tenant_id, url, mode=mode, max_pages=max_pages, max_depth=max_depth, **kwargs)

    def web_pages(self, tenant_id: str, source_id: str) -> list:
        """The pages a website source holds (what its next sync starts from)."""
        from .web import web_pages

        return web_pages(self, tenant_id, source_id)

    def remove_web_source(self, tenant_id: str, source_id: str) -> int:
        """Delete a website source's documents and records; returns how many documents were deleted."""
        from .web import remove_source

        return remove_source(self, tenant_id, source_id)

    # ------------------------------------------------------------------ retrieval
    def retriever(self, tenant_id: str, *, top_k: Optional[int] = None, mode: str = "hybrid") -> HybridRetriever:
        """A LlamaIndex retriever over one tenant (compose it with postprocessors, query engines…)."""
        s = self.settings
        return HybridRetriever(
            self.store, self.embed_model, tenant_id, top_k=top_k or s.top_k, candidates=s.candidates, mode=mode,
            rrf_k=s.rrf_k, vector_weight=s.vector_weight, text_weight=s.text_weight, reranker=self.reranker,
            fusion=s.fusion,
        )

    def retrieve(self, tenant_id: str, query: str, top_k: Optional[int] = None, mode: str = "hybrid") -> List[Hit]:
        query = spelled_out_names(clean_query(query))
        if len(query) > self.settings.max_query_chars:
            raise QueryTooLongError(f"The search is longer than {self.settings.max_query_chars:,} characters.")
        retriever = self.retriever(tenant_id, top_k=top_k, mode=mode)
        # The full-text leg needs no embedding: PostgreSQL runs it while the model embeds the query.
        text_leg = self._legs.submit(retriever.text_leg, query)
        vector_rows = retriever.vector_leg(query)
        return retriever.search(query, legs=(vector_rows, text_leg.result())).hits

    # ------------------------------------------------------------------ answering
    def _prepare(self, tenant_id: str, question: str, history) -> "Prepared":
        """Condense or plan the searches, retrieve, compose (offline) and decide answerability."""
        validate_tenant(tenant_id)
        question = clean_query(question or "")
        if not question.strip():
            raise RagEngineError("The question is empty.")
        if len(question) > self.settings.max_query_chars:
            raise QueryTooLongError(f"The question is longer than {self.settings.max_query_chars:,} characters.")
        question = spelled_out_names(core_question(question))
        turns = normalize_history(history)
        if turns and self.synthesizer is not None:
            standalone = self.synthesizer.condense(turns, question)
            searches = [Search(standalone, 1.0)]
        else:
            searches, standalone = plan_searches(turns, question)
        if NAME_RUN.search(standalone):  # "Does Northwind Plus plan cover …?" → "… Northwind Health Plus plan …"
            titles = self._titles_of(tenant_id)
            spelled = spelled_as_titled(standalone, titles)
            if spelled != standalone:
                searches = [Search(spelled_as_titled(s.query, titles), s.weight) for s in searches]
                question = spelled if standalone == question else question  # the customer's own, spelled out
                standalone = spelled
        # Each ask of "How does X work, and what does Y cost?" is searched too (the customer's own question:
        # a follow-up joined to the turn it continues is one ask, not two).
        asks = split_compound(standalone) if standalone == question else []
        searches = searches + [Search(ask, 1.0) for ask in asks if ask != standalone]
        # The term statistics need no embedding: PostgreSQL counts them while the searches run.
        statistics = self._legs.submit(self.store.term_statistics, tenant_id, standalone)
        hits, similarity, agreement, embeddings, named = self._search_all(tenant_id, searches, standalone)
        n, lexemes = statistics.result()
        lexemes = topic_lexemes(lexemes)
        fixes = corrections(lexemes, hits, standalone)
        if fixes:  # a typo ("hearin"), spelled as the passages found spell it: searched again
            question, standalone = respell(question, fixes), respell(standalone, fixes)
            searches = [Search(respell(s.query, fixes), s.weight) for s in searches]
            asks = [respell(ask, fixes) for ask in asks]
            statistics = self._legs.submit(self.store.term_statistics, tenant_id, standalone)
            hits, similarity, agreement, embeddings, named = self._search_all(tenant_id, searches, standalone)
            n, lexemes = statistics.result()
            lexemes = topic_lexemes(lexemes)
        weights = {lexeme: idf(df, n) for lexeme, df in lexemes.items()}
        rarity = self.rarity.of_tenant(tenant_id, n)
        composition = self.composer.compose(standalone, embeddings[standalone], hits, value_question=question,
                                            weights=weights, rarity=rarity,
                                            asks=[(ask, embeddings[ask]) for ask in asks],
                                            said=last_answer(turns), named=named) \
            if hits else Composition("", [], -1.0)
        spelled = spellings(lexemes, hits)
        coverage_best, coverage_all, missing = lexical_signals(lexemes, n, hits, spelled)
        best = [(f"{hits[u.hit].title} {u.section}", u.section, f"{u.text} {' '.join(i.text for i in u.items)}")
                for u in composition.ranked[:5]]
        sentences = [f"{section} {text}" for _, section, text in best]
        # A phone number, address, code or person's name asked for, or "how much / when / how many?" asked
        # outright, and none there: declined outright. So is a message read as a follow-up only for being
        # short, none of whose own words the passages found hold ("What is the capital of Australia?" after
        # a question about coinsurance): joined to the turn before, it would be answered with that turn's
        # passages. And so is any follow-up whose own words no document holds ("Is there a family version of it?").
        names = title_words(h.title for h in hits)
        vetoed = value_missing(question, sentences, names) or not person_named(
            question, [(context, text) for context, _, text in best], self.rarity.common_word(tenant_id, n)) \
            or (standalone != question and not continues_explicitly(question) and strangers(question, hits)) \
            or (standalone != question and unknown_words(question, lexemes))
        signals = Signals(similarity, coverage_best, coverage_all, missing, agreement, composition.best_score,
                          sentence_coverage(lexemes, n, sentences, spelled), value_found(question, sentences),
                          0.0 if standalone == question else 1.0, 0.0 if vetoed else 1.0)
        answerable = bool(hits) and self._answerable(signals)
        return Prepared(turns, standalone, hits, signals, answerable, composition, weights, n, named)

    def _titles_of(self, tenant_id: str) -> List[str]:
        with self._titles_lock:
            titles = self._titles.get(tenant_id)
        if titles is None:
            titles = [r.title for r in self.store.list_documents(tenant_id)]
            with self._titles_lock:
                self._titles[tenant_id] = titles
        return titles

    def _search_all(self, tenant_id: str, searches: List[Search], standalone: str):
        """Run each search, fuse their hits by weight; signals come from the standalone question's search.
        Also returns each search's query embedding (the standalone question's under its text) and the
        documents the question names (what the composer favours too)."""
        # Each search's whole fused list: a named document's passages may rank below the first 8.
        retriever = self.retriever(tenant_id, top_k=self.settings.candidates)
        # Each search's legs run in PostgreSQL side by side: the full-text ones while the model embeds
        # the searches, the vector ones as soon as their embedding is known (the same hits, sooner).
        text_legs = [self._legs.submit(retriever.text_leg, s.query) for s in searches]
        embeddings = self.embed_model.get_text_embedding_batch([s.query for s in searches]) \
            if len(searches) > 1 else [self.embed_model.get_query_embedding(searches[0].query)]
        vector_legs = [self._legs.submit(retriever.vector_leg, s.query, e) for s, e in zip(searches, embeddings)]
        similarity, agreement = -1.0, 0.0
        by_query = {standalone: embeddings[0]}
        results: List[RetrievalResult] = []
        for search, embedding, vector_leg, text_leg in zip(searches, embeddings, vector_legs, text_legs):
            result: RetrievalResult = retriever.search(search.query, embedding,
                                                       legs=(vector_leg.result(), text_leg.result()))
            results.append(result)
            by_query.setdefault(search.query, embedding)
            if search.query == standalone:
                similarity, agreement, by_query[standalone] = result.best_similarity, result.agreement, embedding
        k = self.settings.max_context_chunks
        hits = _fused(searches, results, k)
        # A question that names one of the documents found ("… in Northwind Standard?") is answered from it:
        # a sibling document's passages that do not name it themselves make room for the named one's.
        found = {h.chunk_id: h for r in results for h in r.hits}
        named = named_documents(standalone, [(h.document_id, h.title, h.text) for h in found.values()])
        if named:
            on_named = {c for c, h in found.items() if named.covers(h.document_id, h.text)}
            covered = [h for h in hits if h.chunk_id in on_named]
            if len(covered) < MIN_NAMED_PASSAGES:
                have = {h.chunk_id for h in covered}
                more = _fused(searches, results, k, keep=lambda h: h.chunk_id in on_named)
                covered += [h for h in more if h.chunk_id not in have][: MIN_NAMED_PASSAGES - len(covered)]
            hits = (covered + [h for h in hits if h.chunk_id not in on_named])[:k]
        return hits, similarity, agreement, by_query, named.documents

    def _answerable(self, signals: Signals) -> bool:
        if self.settings.min_score is not None:  # an operator's explicit threshold wins
            return signals.similarity >= self.settings.min_score
        if self.settings.embed_provider != "local":  # the calibrated gate is the local model's
            return signals.similarity >= self.settings.answer_min_score
        return LOCAL_GATE.answerable(signals)

    def answer(self, tenant_id: str, question: str, *, history=None, company_name: str = "",
               personality: str = "", fallback_message: Optional[str] = None) -> Answer:
        """Answer from the tenant's documents only, with sources; the fallback when they don't say."""
        return self.stream_answer(tenant_id, question, history=history, company_name=company_name,
                                  personality=personality, fallback_message=fallback_message).to_answer()

    def stream_answer(self, tenant_id: str, question: str, *, history=None, company_name: str = "",
                      personality: str = "", fallback_message: Optional[str] = None) -> StreamingAnswer:
        """Like ``answer``, token by token: iterate for text deltas, then read ``sources``/``answered``.

        Retrieval (and the answerability gate) run now; generation runs as you iterate.
        """
        fallback = (fallback_message or "").strip() or self.settings.fallback_message
        prepared = self._prepare(tenant_id, question, history)
        declined = StreamingAnswer(word_deltas(fallback), lambda _: ([], False), question=prepared.standalone)
        if not prepared.answerable:
            return declined
        if self.synthesizer is None:
            composition = prepared.composition
            if not composition.text:
                return declined
            return StreamingAnswer(word_deltas(composition.text), lambda _: (composition.sources, True),
                                   question=prepared.standalone)

        hits = prepared.hits
        messages = self.synthesizer.messages(question if not prepared.turns else prepared.standalone, hits,
                                             prepared.turns, company_name, personality, fallback)

        def finish(text: str):
            if is_fallback(text, fallback):
                return [], False
            return sources_for(hits, LLMSynthesizer.cited(text, len(hits))), True

        return StreamingAnswer(self.synthesizer.stream(messages), finish, question=prepared.standalone)

    def query_engine(self, tenant_id: str, **kwargs: Any):
        """A LlamaIndex RetrieverQueryEngine over one tenant (needs an LLM provider configured)."""
        from llama_index.core.query_engine import RetrieverQueryEngine

        if self.llm is None:
            raise RagEngineError("query_engine() needs LLM_PROVIDER=openai or openai-compatible; use answer() offline")
        return RetrieverQueryEngine.from_args(self.retriever(tenant_id), llm=self.llm, **kwargs)

    @property
    def vector_store(self):
        """The underlying LlamaIndex PGVectorStore (shared by all tenants: filter by tenant_id!)."""
        return self.store.vector_store

    @property
    def _legs(self) -> ThreadPoolExecutor:
        """Threads for an answer's SQL that can run side by side (its searches' legs, the term statistics);
        made on first use (a forking worker's parent holds none) and again after ``close``."""
        with self._legs_lock:
            if self._legs_pool is None:
                self._legs_pool = ThreadPoolExecutor(max_workers=LEG_THREADS, thread_name_prefix="rag-legs")
            return self._legs_pool

    def close(self) -> None:
        with self._legs_lock:
            pool, self._legs_pool = self._legs_pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.store.dispose()

    def __enter__(self) -> "KnowledgeBase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fused(searches: List[Search], results: List[RetrievalResult], k: int, keep=None) -> List[Hit]:
    """Each search's best ``k`` passages (those ``keep`` accepts), their scores summed by search weight."""
    total = sum(s.weight for s in searches) or 1.0
    scores: dict = {}
    by_id: dict = {}
    for search, result in zip(searches, results):
        for hit in [h for h in result.hits if keep is None or keep(h)][:k]:
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + search.weight * hit.score / total
            by_id.setdefault(hit.chunk_id, hit)
    ordered = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))
    return [by_id[c] for c in ordered[:k]]


@dataclass
class Prepared:
    turns: list
    standalone: str
    hits: List[Hit]
    signals: Signals
    answerable: bool
    composition: Composition
    weights: dict  # {lexeme of the standalone question: its idf in the tenant}
    chunk_count: int  # the tenant's chunks
    named: frozenset = frozenset()  # the documents the question names
