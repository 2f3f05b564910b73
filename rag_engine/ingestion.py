"""The ingestion pipeline: parse → split → embed → write, the steps running beside each other.

Embedding is most of the work (the local model: ~80 % of an upload). So the model should never wait:

* a **reader thread** parses the file and splits it into chunks. A long PDF is read page by page;
  the chunks of the pages read so far (a preview: see ``parse_with_previews``) go to the embedder
  while later pages are read. The final chunks come from the whole file, exactly as without
  previews; a preview only decides what is embedded early (a chunk whose text a preview got wrong
  is embedded again; one it got right is never embedded twice);
* the **calling thread** embeds in batches (ONNX releases the GIL while it runs) and reports
  progress (a job's progress callback may use its thread's database session);
* a **writer thread** inserts batch k's chunks while batch k+1 is embedded, all in ONE
  transaction that commits only when every chunk and its postings are in: a document is never
  half-visible, and a failure anywhere leaves nothing written (the old version stays).
"""

from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode

ProgressCallback = Callable[[int, int], None]  # (chunks done, chunks total)
STEPS = ("parse", "split", "embed", "write")


class Stopwatch:
    """Seconds each step was busy (parse / split / embed / write). The steps overlap, so their sum
    can exceed the wall time; each step adds only from its own thread."""

    def __init__(self):
        self.timings: Dict[str, float] = {step: 0.0 for step in STEPS}

    @contextmanager
    def timing(self, step: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = round(self.timings[step] + time.perf_counter() - start, 4)


def embed_batch(embed_model: BaseEmbedding, texts: List[str]) -> List[List[float]]:
    """The one place ingestion calls the model (a seam to count what is embedded)."""
    return embed_model.get_text_embedding_batch(texts)


def embed_text(node: BaseNode) -> str:
    """What the model sees for a chunk: its context (title, heading path) and its text."""
    return node.get_content(metadata_mode=MetadataMode.EMBED)


@dataclass
class Chunked:
    """What the reader thread hands over: a preview's settled chunks, or the document's chunks."""

    nodes: List[BaseNode]
    final: bool


@dataclass
class Outcome:
    nodes: List[BaseNode]
    status: str
    timings: Dict[str, float]
    embedded: int = 0  # texts the model embedded (more than len(nodes) when a preview guessed wrong)


def run_pipeline(stages: Iterable[Tuple[Any, bool]], split: Callable[[Any, bool], List[BaseNode]],
                 embed_model: BaseEmbedding, batch_size: int, open_writer: Callable[[List[BaseNode]], Any],
                 progress: Optional[ProgressCallback] = None) -> Outcome:
    """Ingest one document.

    ``stages``: parse results, ``(preview, False)``… then ``(parsed, True)``; ``split(parsed, final)``
    their chunks (for a preview, only those later pages cannot change). ``open_writer(nodes)``
    starts the document's transaction once its chunks are known (``add`` / ``commit`` / ``abort``).
    """
    watch = Stopwatch()
    inbox: "queue.Queue[Any]" = queue.Queue()
    stop = threading.Event()
    reader = threading.Thread(target=_read, args=(stages, split, inbox, stop, watch), name="ingest-reader",
                              daemon=True)
    reader.start()
    writer: Optional[_BackgroundWriter] = None
    try:
        embedder = _Embedder(embed_model, batch_size, watch)
        nodes = embedder.embed_previews(inbox)
        texts = [embed_text(node) for node in nodes]
        writer = _BackgroundWriter(lambda: open_writer(nodes), watch)
        todo = embedder.missing(texts)
        written = 0

        def hand_over() -> int:
            ready = written
            while ready < len(nodes) and texts[ready] in embedder.vectors:
                nodes[ready].embedding = embedder.vectors[texts[ready]]
                ready += 1
            if ready > written:
                writer.add(nodes[written:ready])
            if progress:
                progress(ready, len(nodes))
            return ready

        written = hand_over()
        for start in range(0, len(todo), batch_size):
            embedder.embed(todo[start:start + batch_size])
            writer.raise_if_failed()
            written = hand_over()
        status = writer.commit()
        return Outcome(nodes, status, watch.timings, embedder.count)
    except BaseException:
        stop.set()
        if writer is not None:
            writer.abort()
        raise
    finally:
        stop.set()
        reader.join()


def _read(stages: Iterable[Tuple[Any, bool]], split, inbox: "queue.Queue[Any]", stop: threading.Event,
          watch: Stopwatch) -> None:
    """The reader thread: parse and split, handing each preview's and the final chunks to the inbox."""
    iterator: Iterator[Tuple[Any, bool]] = iter(stages)
    try:
        while not stop.is_set():
            with watch.timing("parse"):
                parsed, final = next(iterator, (None, True))
            if parsed is None:
                raise RuntimeError("the parser ended without a final result")
            with watch.timing("split"):
                nodes = split(parsed, final)
            inbox.put(Chunked(nodes, final))
            if final:
                return
    except BaseException as exc:  # handed to the embedding thread, which raises it
        inbox.put(exc)
    finally:
        close = getattr(iterator, "close", None)
        if close:
            close()


class _Embedder:
    """Embeds texts in batches, each text once; ``vectors`` maps a text to its embedding."""

    def __init__(self, embed_model: BaseEmbedding, batch_size: int, watch: Stopwatch):
        self.embed_model, self.batch_size, self.watch = embed_model, batch_size, watch
        self.vectors: Dict[str, List[float]] = {}
        self.count = 0

    def embed(self, texts: Sequence[str]) -> None:
        with self.watch.timing("embed"):
            vectors = embed_batch(self.embed_model, list(texts))
        self.vectors.update(zip(texts, vectors))
        self.count += len(texts)

    def missing(self, texts: Sequence[str]) -> List[str]:
        return [t for t in dict.fromkeys(texts) if t not in self.vectors]

    def embed_previews(self, inbox: "queue.Queue[Any]") -> List[BaseNode]:
        """Embed previews' chunks until the final chunks arrive; returns them.

        A preview chunk still waiting when the final chunks arrive is embedded only if it is one
        of them (so a wrong guess costs at most the batches embedded before)."""
        waiting: List[str] = []
        while True:
            item = _get_nowait(inbox) if len(waiting) >= self.batch_size else inbox.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Chunked):
                if item.final:
                    return item.nodes
                seen = set(waiting)
                waiting += [t for t in dict.fromkeys(map(embed_text, item.nodes))
                            if t not in self.vectors and t not in seen]
            if len(waiting) >= self.batch_size:
                # Full batches only: a small batch runs the model below its throughput, and the reader
                # (PDFium parses a page in milliseconds) soon sends more.
                batch, waiting = waiting[:self.batch_size], waiting[self.batch_size:]
                self.embed(batch)


def _get_nowait(inbox: "queue.Queue[Any]") -> Any:
    try:
        return inbox.get_nowait()
    except queue.Empty:
        return None


class _BackgroundWriter:
    """The document's transaction, written from its own thread: ``add`` returns at once."""

    _COMMIT, _ABORT = object(), object()

    def __init__(self, open_writer: Callable[[], Any], watch: Stopwatch):
        self.open_writer, self.watch = open_writer, watch
        self.jobs: "queue.Queue[Any]" = queue.Queue()
        self.error: Optional[BaseException] = None
        self.status: Optional[str] = None
        self.thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self.thread.start()

    def add(self, nodes: Sequence[BaseNode]) -> None:
        self.jobs.put(list(nodes))

    def commit(self) -> str:
        self.jobs.put(self._COMMIT)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.status

    def abort(self) -> None:
        self.jobs.put(self._ABORT)
        self.thread.join()

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        writer, job = None, None
        try:
            with self.watch.timing("write"):
                writer = self.open_writer()
            while True:
                job = self.jobs.get()
                if job is self._ABORT:
                    writer.abort()
                    return
                with self.watch.timing("write"):
                    if job is self._COMMIT:
                        self.status = writer.commit()
                        return
                    writer.add(job)
        except BaseException as exc:  # raised in the embedding thread (at its next batch or the commit)
            self.error = exc
            if writer is not None:
                writer.abort()
            while job not in (self._COMMIT, self._ABORT):
                job = self.jobs.get()  # wait until the embedding thread finishes or gives up
