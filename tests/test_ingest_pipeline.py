"""The ingestion pipeline (rag_engine/ingestion.py): pages are read while earlier chunks embed,
chunks are written while later ones embed, and a failure anywhere leaves nothing written.

The overlap is shown by events, not by timing: an instrumented embedder (around the real model)
holds its first batch until the reader reads another page, and a page after the first preview is
only read once that batch has started. Were the steps one after the other, the batch would wait
in vain (and the test fail after its timeout)."""

import hashlib
import threading
from typing import Any, Callable, List

import pytest
import sqlalchemy as sa
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag_engine import KnowledgeBase
from rag_engine.chunking import build_nodes
from rag_engine.embeddings import MINILM_DIM, MINILM_NAME
from rag_engine.readers import parse_bytes
from rag_engine.readers.pdf import PdfPages
from rag_engine.store.documents import DocumentWriter
from tests.conftest import FIXTURES

HANDBOOK = FIXTURES / "contoso" / "employee_handbook.pdf"  # 11 pages: previews after 4 and 8
WAIT = 60  # seconds; only a failing test waits (once); a loaded CI host took over 20 s to start the model


class InstrumentedEmbedding(BaseEmbedding):
    """The real model, with a hook called before each batch (with the batch's number, from 1)."""

    _inner: Any = PrivateAttr()
    _hook: Callable[[int, List[str]], None] = PrivateAttr()
    _calls: int = PrivateAttr(default=0)

    def __init__(self, inner: BaseEmbedding, hook: Callable[[int, List[str]], None]):
        super().__init__(model_name="instrumented", embed_batch_size=2048)  # one call per pipeline batch
        self._inner, self._hook = inner, hook

    @property
    def calls(self) -> int:
        return self._calls

    def _get_text_embeddings(self, texts: List[str]) -> List[List[float]]:
        self._calls += 1
        self._hook(self._calls, texts)
        return self._inner.get_text_embedding_batch(texts)

    def _get_text_embedding(self, text: str) -> List[float]:
        return self._get_text_embeddings([text])[0]

    def _get_query_embedding(self, query: str) -> List[float]:
        return self._inner.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> List[float]:
        return self._get_query_embedding(query)


@pytest.fixture
def instrumented_kb(make_kb, embed_model):
    """make(hook, **settings) → a KnowledgeBase on a fresh table whose embedder calls ``hook``."""
    made = []

    def make(hook, **overrides):
        settings = make_kb(**overrides).settings
        kb = KnowledgeBase(settings, embed_model=InstrumentedEmbedding(embed_model, hook),
                           embed_model_id=MINILM_NAME, embed_dim=MINILM_DIM)
        made.append(kb)
        return kb

    yield make
    for kb in made:
        kb.close()


def stored(kb, tenant):
    """What the store holds for a tenant: chunks (id, text, metadata), registry rows, posting count."""
    t = kb.store.tables
    with kb.store.engine.connect() as conn:
        chunks = conn.execute(sa.text(f"SELECT node_id, text, metadata_ FROM {t.chunks} "
                                      f"WHERE metadata_->>'tenant_id' = :t ORDER BY node_id"), {"t": tenant}).all()
        documents = conn.execute(sa.text(f"SELECT document_id, content_hash, chunk_count FROM {t.documents} "
                                         f"WHERE tenant_id = :t ORDER BY document_id"), {"t": tenant}).all()
        postings = conn.execute(sa.text(f"SELECT count(*) FROM {t.postings} WHERE tenant_id = :t"),
                                {"t": tenant}).scalar()
    return [tuple(c) for c in chunks], [tuple(d) for d in documents], postings


def test_later_pages_are_read_while_the_first_chunks_embed(instrumented_kb, monkeypatch):
    batch_started, page_read_during_batch = threading.Event(), threading.Event()
    first_batch = {}
    original_extract = PdfPages.extract

    def extract(self, index):
        # After the second preview (8 pages): the first (4 pages) settles fewer chunks than a batch, and the
        # model takes full batches only, so holding page 5 back would stall both until WAIT ran out.
        if index >= 8 and not first_batch.get("gave up"):
            first_batch["gave up"] = not batch_started.wait(WAIT)
        if batch_started.is_set() and not first_batch.get("done"):
            page_read_during_batch.set()
        first_batch.setdefault("pages read", []).append(index + 1)
        return original_extract(self, index)

    def hook(call, texts):
        if call == 1:
            first_batch["pages before"] = len(first_batch.get("pages read", []))
            batch_started.set()
            first_batch["saw a page read"] = page_read_during_batch.wait(WAIT)
            first_batch["done"] = True

    monkeypatch.setattr(PdfPages, "extract", extract)
    kb = instrumented_kb(hook, embed_batch_size=4)
    result = kb.ingest("acme", HANDBOOK)

    assert not first_batch.get("gave up")  # the model started on the pages read so far, not after WAIT
    assert first_batch["pages before"] < 11  # the model started before the file was read
    assert first_batch["saw a page read"]  # and a later page was read while it embedded
    assert first_batch["pages read"] == list(range(1, 12))  # every page, once, in order

    # The chunks are the ones the whole file gives, read in one go: previews change nothing.
    data = HANDBOOK.read_bytes()
    parsed = parse_bytes(data, HANDBOOK.name)
    expected = build_nodes(parsed.blocks, tenant_id="acme", document_id=result.document_id, title=parsed.title,
                           source_type="pdf", content_hash=hashlib.sha256(data).hexdigest(),
                           chunk_size=kb.settings.chunk_size, chunk_overlap=kb.settings.chunk_overlap)
    chunks, documents, postings = stored(kb, "acme")
    assert [(c[0], c[1]) for c in chunks] == sorted((n.node_id, n.text) for n in expected)
    by_id = {c[0]: c[2] for c in chunks}
    for node in expected:
        assert {k: by_id[node.node_id][k] for k in node.metadata} == node.metadata
    assert documents == [(result.document_id, hashlib.sha256(data).hexdigest(), len(expected))]
    assert postings > 0
    assert kb.embed_model.calls >= 2


def test_a_batch_is_written_while_the_next_one_embeds(instrumented_kb, monkeypatch):
    added = threading.Event()
    seen = {}
    original_add = DocumentWriter.add

    def add(self, nodes):
        original_add(self, nodes)
        added.set()

    def hook(call, texts):
        if call == 2:
            seen["written before batch 2"] = added.wait(WAIT)

    monkeypatch.setattr(DocumentWriter, "add", add)
    kb = instrumented_kb(hook, embed_batch_size=2, chunk_size=40, chunk_overlap=0)
    text = "\n\n".join(f"Section {i}. " + f"Store {i} opens at {i} am and closes at {i + 8} pm on weekdays. " * 3
                       for i in range(1, 7))
    result = kb.ingest("acme", text=text, title="Opening hours")
    assert result.chunk_count >= 4 and seen["written before batch 2"]
    assert kb.retrieve("acme", "When does store 3 open?", top_k=1)[0].document_id == result.document_id

    calls = kb.embed_model.calls
    assert kb.ingest("acme", text=text, title="Opening hours").status == "unchanged"
    assert kb.embed_model.calls == calls  # the content hash short-circuits before any embedding


def test_a_failure_mid_pipeline_leaves_nothing_written(instrumented_kb, monkeypatch):
    added = threading.Event()
    original_add = DocumentWriter.add
    failing = {"from call": None}

    def add(self, nodes):
        original_add(self, nodes)
        added.set()

    def hook(call, texts):
        # Fail at a second batch, once the first is in the document's (uncommitted) transaction.
        if failing["from call"] is not None and call >= failing["from call"] and added.wait(WAIT):
            raise RuntimeError("the model crashed")

    monkeypatch.setattr(DocumentWriter, "add", add)
    kb = instrumented_kb(hook, embed_batch_size=2, chunk_size=40, chunk_overlap=0)
    old = kb.ingest("acme", text="Returns are accepted within 30 days of delivery.", title="Returns")
    before = stored(kb, "acme")
    long_text = "\n\n".join(f"Rule {i}: items bought in week {i} may be returned within {i + 30} days. " * 3
                            for i in range(1, 7))

    for title in ("Returns", "Exchanges"):  # a new version of the document, then a new document
        added.clear()
        failing["from call"] = kb.embed_model.calls + 2
        with pytest.raises(RuntimeError, match="crashed"):
            kb.ingest("acme", text=long_text, title=title)
        assert added.is_set()
    failing["from call"] = None

    assert stored(kb, "acme") == before  # the old version, whole; nothing of the new document
    hits = kb.retrieve("acme", "within how many days can I return items?", top_k=5)
    assert [h.text for h in hits] == ["Returns are accepted within 30 days of delivery."]
    assert [d.document_id for d in kb.list_documents("acme")] == [old.document_id]
