"""Answer quality: does ``kb.answer`` cite the right page, state the key facts, and decline when
the documents do not say?

    python -m bench.answers [--split test|train|all] [--sets contoso,unanswerable,conversations,demo]
                            [--llm] [--limit N] [--verbose] [--json out.json]
    python -m bench.answers --check-data      # verify bench/data against the documents' text

Data (``bench/data/*.jsonl``, one record a line, each with an ``id`` and a ``split``):

* ``contoso_questions.jsonl`` — the 50 questions of ``../shared/data/contoso/ground_truth.jsonl``
  with the cited file and page(s) (``expected``) and 1-3 key ``facts`` a correct answer contains;
* ``contoso_unanswerable.jsonl`` — questions the Contoso PDFs cannot answer although their
  words occur in them (contacts, secrets, prices, unwritten policies, …; ``absent`` lists
  strings no document contains, which is what makes them unanswerable), plus a few off-topic;
* ``contoso_conversations.jsonl`` — multi-turn conversations whose last customer message needs
  the history (pronoun, ellipsis, correction, clarification; a few cannot be answered);
* ``demo.jsonl`` — the same three kinds over the demo company's ``samples/``;
* ``mid-conversation`` (made from the above, no file) — each unanswerable question asked as the
  next message after the first exchange of an answerable Contoso conversation: a history to lean on.

``expected`` is ``{"file", "pages"}`` (``pages`` null for documents without pages), a list of
them when several places answer, or null when the question must be declined. A fact is a string
or ``{"any_of": [...]}``, matched case-insensitively after normalising whitespace, quotes and
line-break hyphens ("in- network" = "in-network").

Metrics per set (answerable items unless noted): retrieval page-hit@5 (``kb.retrieve`` of the
question, for conversations of the LAST message alone: any of the top 5 hits at an expected
file + page), answer-source page hit (an expected file + page among ``answer.sources``), all key
facts in ``answer.text`` (and the mean share of facts), answered when answerable, declined when
unanswerable, duplicated-sentence rate (all answers: some sentence twice or nearly twice) and
``kb.answer`` latency p50/p95 (all items), and errors (items where ``kb.answer`` raised: neither
answered nor declined; the run goes on).

The run starts an embedded PostgreSQL in a temporary directory unless ``DATABASE_URL`` is set,
ingests the 6 Contoso PDFs (``../shared/data/contoso/pdfs``) as tenant ``contoso`` and
``samples/`` as tenant ``acme`` with the offline embedding model, and answers extractively, or
with ``--llm`` through the LLM path against ``bench/llm_standin.py`` (a deterministic local
OpenAI-compatible server: mechanics only, not a model's quality).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CONTOSO_PDFS = ROOT / "../shared/data/contoso/pdfs"
SAMPLES = ROOT / "samples"
TABLE = "bench_answers"
TOP_K = 5

# set name -> (file, tenant)
SETS: Dict[str, Tuple[str, str]] = {
    "contoso": ("contoso_questions.jsonl", "contoso"),
    "unanswerable": ("contoso_unanswerable.jsonl", "contoso"),
    "conversations": ("contoso_conversations.jsonl", "contoso"),
    "demo": ("demo.jsonl", "acme"),
}
TENANT_DOCUMENTS = {"contoso": CONTOSO_PDFS, "acme": SAMPLES}
# Sets made from the others: each unanswerable question asked as the next message of an answerable
# conversation's first exchange (does the history make it look answerable?).
DERIVED: Dict[str, str] = {"mid-conversation": "contoso"}
ALL_SETS = list(SETS) + list(DERIVED)


# ------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Location:
    file: str
    pages: Optional[Tuple[int, ...]]  # None: any page (documents without pages)

    def matches(self, title: str, page: Optional[int]) -> bool:
        return title == self.file and (self.pages is None or page in self.pages)


@dataclass(frozen=True)
class Fact:
    alternatives: Tuple[str, ...]

    def found_in(self, text: str) -> bool:
        haystack = normalize(text)
        return any(normalize(a) in haystack for a in self.alternatives)

    def __str__(self) -> str:
        return " | ".join(self.alternatives)


@dataclass(frozen=True)
class Item:
    id: str
    split: str
    set: str
    kind: str
    tenant: str
    question: str  # the last customer message
    history: Tuple[dict, ...] = ()  # earlier turns, {"role", "content"}
    expected: Tuple[Location, ...] = ()  # empty: the question must be declined
    facts: Tuple[Fact, ...] = ()
    absent: Tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.expected)

    def found_at(self, refs: Iterable[Tuple[str, Optional[int]]]) -> bool:
        return any(loc.matches(title, page) for title, page in refs for loc in self.expected)


def split_of(item_id: str) -> str:
    """The deterministic train/test split the data files were written with."""
    return "train" if hashlib.sha256(item_id.encode()).digest()[0] % 2 == 0 else "test"


def _locations(expected) -> Tuple[Location, ...]:
    if not expected:
        return ()
    entries = expected if isinstance(expected, list) else [expected]
    return tuple(Location(e["file"], tuple(e["pages"]) if e.get("pages") else None) for e in entries)


def _facts(facts) -> Tuple[Fact, ...]:
    return tuple(Fact((f,) if isinstance(f, str) else tuple(f["any_of"])) for f in facts or [])


def parse_item(record: dict, set_name: str, tenant: str) -> Item:
    turns = record.get("turns")
    if turns:
        if turns[-1]["role"] != "user":
            raise ValueError(f"{record['id']}: the last turn must be the customer's")
        question, history = turns[-1]["content"], tuple(turns[:-1])
    else:
        question, history = record["question"], ()
    return Item(id=record["id"], split=record["split"], set=set_name, kind=record.get("kind") or set_name,
                tenant=tenant, question=question, history=history, expected=_locations(record.get("expected")),
                facts=_facts(record.get("facts")), absent=tuple(record.get("absent") or ()))


def tenant_of(name: str) -> str:
    return DERIVED[name] if name in DERIVED else SETS[name][1]


def mid_conversation(split: str = "all", data_dir: Path = DATA) -> List[Item]:
    """Unanswerable question i after the first exchange of answerable conversation i (cycled), in the
    question's split: the same questions as ``unanswerable``, now with a history to lean on."""
    openings = [c for c in load_set("conversations", data_dir=data_dir) if c.answerable and len(c.history) >= 2]
    items = []
    for i, item in enumerate(load_set("unanswerable", split, data_dir)):
        opening = openings[i % len(openings)]
        items.append(replace(item, id=f"{item.id}@{opening.id}", set="mid-conversation", history=opening.history[:2]))
    return items


def load_set(name: str, split: str = "all", data_dir: Path = DATA) -> List[Item]:
    """The items of one set (``contoso``, ``unanswerable``, ``conversations``, ``demo``, ``mid-conversation``)."""
    if name == "mid-conversation":
        return mid_conversation(split, data_dir)
    filename, tenant = SETS[name]
    with open(data_dir / filename, encoding="utf-8") as fh:
        items = [parse_item(json.loads(line), name, tenant) for line in fh if line.strip()]
    return [i for i in items if split == "all" or i.split == split]


def load_item(item_id: str, data_dir: Path = DATA) -> Item:
    for name in SETS:
        for item in load_set(name, data_dir=data_dir):
            if item.id == item_id:
                return item
    raise KeyError(item_id)


# ------------------------------------------------------------------------------ text checks
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u00a0": " "})


def normalize(text: str) -> str:
    """Lowercase, straight quotes, line-break hyphens joined ("in- network"), single spaces."""
    text = text.translate(_QUOTES).lower()
    text = re.sub(r"(\w)-\s+(\w)", r"\1-\2", text)
    return " ".join(text.split())


_CITATION = re.compile(r"\[\d{1,2}\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*|\s*•\s*")
_WORD = re.compile(r"[a-z0-9$%]+(?:[,.'-][a-z0-9]+)*")
DUPLICATE_JACCARD = 0.9
DUPLICATE_MIN_WORDS = 4


def answer_sentences(text: str) -> List[List[str]]:
    """The answer's sentences (and list items) as word lists, citations dropped."""
    out = []
    for sentence in _SENTENCE_END.split(_CITATION.sub(" ", text)):
        tokens = _WORD.findall(normalize(sentence))
        if len(tokens) >= 2:
            out.append(tokens)
    return out


def duplicated_sentences(text: str) -> Optional[Tuple[str, str]]:
    """Two sentences of the answer that say the same, or None: identical words, or (both of at
    least 4 words) Jaccard >= 0.9 on word sets, or one's words contained in the other's as a run."""
    sentences = answer_sentences(text)
    for i in range(len(sentences)):
        for j in range(i + 1, len(sentences)):
            a, b = sentences[i], sentences[j]
            if a == b:
                return " ".join(a), " ".join(b)
            if min(len(a), len(b)) < DUPLICATE_MIN_WORDS:
                continue
            sa, sb = set(a), set(b)
            jaccard = len(sa & sb) / len(sa | sb)
            short, long_ = (a, b) if len(a) <= len(b) else (b, a)
            contained = f" {' '.join(short)} " in f" {' '.join(long_)} "
            if jaccard >= DUPLICATE_JACCARD or contained:
                return " ".join(a), " ".join(b)
    return None


# ------------------------------------------------------------------------------- evaluation
FOLLOW_UP_KINDS = {"pronoun", "ellipsis", "correction", "clarification", "conversation"}


@dataclass
class Result:
    id: str
    set: str
    kind: str
    split: str
    answerable: bool
    question: str
    retrieval_hit: Optional[bool]  # None for unanswerable items
    source_hit: Optional[bool]
    facts_found: int
    facts_total: int
    answered: bool
    latency_ms: float
    duplicate: Optional[Tuple[str, str]]
    text: str
    standalone: str
    sources: List[Tuple[str, Optional[int]]] = field(default_factory=list)
    retrieved: List[Tuple[str, Optional[int]]] = field(default_factory=list)
    error: Optional[str] = None  # the engine raised (with evaluate_item(catch=True))

    @property
    def all_facts(self) -> bool:
        return self.facts_found == self.facts_total

    @property
    def ok(self) -> bool:
        """The answer is right (a follow-up's retrieval of its last message alone may miss)."""
        if self.error:
            return False
        if not self.answerable:
            return not self.answered and not self.duplicate
        retrieval_ok = self.retrieval_hit or self.kind in FOLLOW_UP_KINDS
        return bool(retrieval_ok and self.source_hit and self.all_facts and self.answered and not self.duplicate)

    def failures(self) -> List[str]:
        out = [f"error {self.error}"] if self.error else []
        if self.answerable:
            if not self.retrieval_hit:
                out.append("retrieval miss (last message alone)" if self.kind in FOLLOW_UP_KINDS
                           else "retrieval miss")
            if not self.answered and not self.error:
                out.append("declined")
            elif not self.source_hit:
                out.append("wrong sources")
            if self.facts_found < self.facts_total:
                out.append(f"facts {self.facts_found}/{self.facts_total}")
        elif self.answered:
            out.append("answered (should decline)")
        if self.duplicate:
            out.append("duplicated sentence")
        return out


def evaluate_item(kb, item: Item, top_k: int = TOP_K, catch: bool = False) -> Result:
    """Retrieve the (last) question alone, then answer it with its history; score both.
    With ``catch``, an exception from the engine is recorded in ``Result.error`` (counted as a
    failure: neither answered nor declined) instead of ending the run."""
    hits = kb.retrieve(item.tenant, item.question, top_k=top_k)
    retrieved = [(h.title, h.page) for h in hits]
    started = time.perf_counter()
    try:
        answer = kb.answer(item.tenant, item.question, history=list(item.history) or None)
    except Exception as exc:
        if not catch:
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        return Result(
            id=item.id, set=item.set, kind=item.kind, split=item.split, answerable=item.answerable,
            question=item.question, retrieval_hit=item.found_at(retrieved) if item.answerable else None,
            source_hit=False if item.answerable else None, facts_found=0, facts_total=len(item.facts),
            answered=False, latency_ms=latency_ms, duplicate=None, text="", standalone="", retrieved=retrieved,
            error=f"{type(exc).__name__}: {exc}",
        )
    latency_ms = (time.perf_counter() - started) * 1000
    sources = [(s.title, s.page) for s in answer.sources]
    found = sum(f.found_in(answer.text) for f in item.facts) if answer.answered else 0
    return Result(
        id=item.id, set=item.set, kind=item.kind, split=item.split, answerable=item.answerable,
        question=item.question, retrieval_hit=item.found_at(retrieved) if item.answerable else None,
        source_hit=item.found_at(sources) if item.answerable else None, facts_found=found,
        facts_total=len(item.facts), answered=answer.answered, latency_ms=latency_ms,
        duplicate=duplicated_sentences(answer.text) if answer.answered else None, text=answer.text,
        standalone=answer.question, sources=sources, retrieved=retrieved,
    )


def summarize(results: Sequence[Result]) -> dict:
    """Counts and rates of every metric (answerable / unanswerable / all denominators)."""
    pos = [r for r in results if r.answerable]
    neg = [r for r in results if not r.answerable]
    answered = [r for r in results if r.answered]

    def count(hits: int, n: int) -> dict:
        return {"hits": hits, "n": n, "rate": hits / n if n else None}

    return {
        "n": len(results),
        "answerable": len(pos),
        "unanswerable": len(neg),
        "retrieval_hit": count(sum(bool(r.retrieval_hit) for r in pos), len(pos)),
        "source_hit": count(sum(bool(r.source_hit) for r in pos), len(pos)),
        "all_facts": count(sum(r.all_facts for r in pos), len(pos)),
        "fact_share": statistics.fmean(r.facts_found / r.facts_total for r in pos if r.facts_total)
        if any(r.facts_total for r in pos) else None,
        "answered": count(sum(r.answered for r in pos), len(pos)),
        "declined": count(sum(not r.answered and not r.error for r in neg), len(neg)),
        "duplicated": count(sum(r.duplicate is not None for r in answered), len(answered)),
        "latency_p50_ms": percentile([r.latency_ms for r in results], 50),
        "latency_p95_ms": percentile([r.latency_ms for r in results], 95),
        "errors": sum(r.error is not None for r in results),
    }


def _cell(c: dict) -> str:
    return "—" if not c["n"] else f"{c['hits']}/{c['n']} ({c['rate']:.2f})"


COLUMNS = ("rows", "n", "retrieval page-hit@5", "answer-source page hit", "all key facts", "facts (mean share)",
           "answered (answerable)", "declined (unanswerable)", "duplicated sentences", "p50 ms", "p95 ms", "errors")


def table_row(label: str, s: dict) -> str:
    share = "—" if s["fact_share"] is None else f"{s['fact_share']:.2f}"
    cells = [label, str(s["n"]), _cell(s["retrieval_hit"]), _cell(s["source_hit"]), _cell(s["all_facts"]), share,
             _cell(s["answered"]), _cell(s["declined"]), _cell(s["duplicated"]),
             f"{s['latency_p50_ms']:.0f}", f"{s['latency_p95_ms']:.0f}", str(s["errors"])]
    return "| " + " | ".join(cells) + " |"


def markdown_table(results: Sequence[Result]) -> str:
    """One row for all items, then one per kind (when there are several kinds)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines.append(table_row("**all**", summarize(results)))
    kinds = list(dict.fromkeys(r.kind for r in results))
    if len(kinds) > 1:
        for kind in kinds:
            lines.append(table_row(kind, summarize([r for r in results if r.kind == kind])))
    return "\n".join(lines)


def describe_failure(r: Result) -> str:
    lines = [f"- {r.id} [{r.kind}] {', '.join(r.failures())}: {r.question}"]
    if r.standalone and r.standalone != r.question:
        lines.append(f"    standalone: {r.standalone}")
    lines.append(f"    answer: {r.text[:300]}{'…' if len(r.text) > 300 else ''}")
    lines.append(f"    sources: {', '.join(f'{t} p{p}' for t, p in r.sources) or '—'}; "
                 f"retrieved: {', '.join(f'{t} p{p}' for t, p in r.retrieved)}")
    if r.duplicate:
        lines.append(f"    duplicate: «{r.duplicate[0]}» ~ «{r.duplicate[1]}»")
    return "\n".join(lines)


# ------------------------------------------------------------------------- documents' text
def document_pages(path: Path) -> Dict[Optional[int], str]:
    """{page: text} of a document as read independently of the engine (pypdf, python-docx, HTML
    text); documents without pages under the key None. Used to verify the data, not to answer."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from pypdf import PdfReader

        return {n: page.extract_text() or "" for n, page in enumerate(PdfReader(str(path)).pages, start=1)}
    if suffix == ".docx":
        import docx

        document = docx.Document(str(path))
        parts = [p.text for p in document.paragraphs]
        parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
        return {None: "\n".join(parts)}
    text = path.read_text(encoding="utf-8", errors="replace")
    if suffix in (".html", ".htm"):
        text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)
        text = re.sub(r"<[^>]+>", " ", text)
    return {None: text}


def check_data(data_dir: Path = DATA) -> List[str]:
    """Problems in the data: ids, splits, expected pages that do not exist, facts not on the
    expected pages, unanswerable items whose ``absent`` strings do occur in the documents."""
    problems: List[str] = []
    corpora: Dict[str, Dict[str, Dict[Optional[int], str]]] = {}
    for tenant, folder in TENANT_DOCUMENTS.items():
        corpora[tenant] = {p.name: {k: normalize(v) for k, v in document_pages(p).items()}
                           for p in sorted(folder.iterdir()) if p.suffix.lower() in (".pdf", ".docx", ".html")}
    seen = set()
    for name in SETS:
        for item in load_set(name, data_dir=data_dir):
            if item.id in seen:
                problems.append(f"{item.id}: duplicate id")
            seen.add(item.id)
            if item.split != split_of(item.id):
                problems.append(f"{item.id}: split {item.split!r}, expected {split_of(item.id)!r}")
            docs = corpora[item.tenant]
            if item.answerable and not item.facts:
                problems.append(f"{item.id}: answerable but no facts")
            if not item.answerable and item.facts:
                problems.append(f"{item.id}: unanswerable but has facts")
            texts = []
            for loc in item.expected:
                if loc.file not in docs:
                    problems.append(f"{item.id}: no document {loc.file}")
                    continue
                pages = docs[loc.file]
                for page in loc.pages or (None,):
                    if page not in pages and loc.pages is not None:
                        problems.append(f"{item.id}: {loc.file} has no page {page}")
                    elif loc.pages is None and None not in pages:
                        problems.append(f"{item.id}: {loc.file} has pages; give them")
                    else:
                        texts.append(pages.get(page, ""))
            joined = "\n".join(texts)
            for fact in item.facts:
                if not any(normalize(a) in joined for a in fact.alternatives):
                    problems.append(f"{item.id}: fact «{fact}» not on the expected pages")
            all_text = "\n".join(t for pages in docs.values() for t in pages.values())
            for phrase in item.absent:
                if re.search(rf"(?<!\w){re.escape(normalize(phrase))}(?!\w)", all_text):
                    problems.append(f"{item.id}: «{phrase}» does occur in the documents (answerable?)")
    return problems


# -------------------------------------------------------------------------------------- run
def documents_for(tenant: str) -> List[Path]:
    folder = TENANT_DOCUMENTS[tenant]
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".pdf", ".docx", ".html", ".htm", ".md", ".txt"))


def ingest_tenants(kb, tenants: Iterable[str], log=print) -> None:
    for tenant in tenants:
        started = time.perf_counter()
        for path in documents_for(tenant):
            result = kb.ingest(tenant, path)
            log(f"ingest {tenant}/{path.name}: {result.status}, {result.chunk_count} chunks")
        log(f"ingest {tenant}: {time.perf_counter() - started:.1f} s")


def benchmark_database():
    """``DATABASE_URL`` if set, else an embedded PostgreSQL in a temporary directory (removed after)."""
    from rag_engine.testing import scratch_database

    return scratch_database("DATABASE_URL", prefix="bench-answers-")


def run(kb, items: Sequence[Item], verbose_log=None) -> List[Result]:
    results = []
    for item in items:
        result = evaluate_item(kb, item, catch=True)
        results.append(result)
        if verbose_log is not None and not result.ok:
            verbose_log(describe_failure(result))
    return results


def evaluate_sets(kb, sets: Dict[str, List[Item]], names: Sequence[str], args) -> dict:
    """Ingest the tenants the sets need, answer every item, print one table per set."""
    ingest_tenants(kb, dict.fromkeys(tenant_of(n) for n in names))
    mode = "LLM path (local stand-in)" if args.llm else "extractive"
    report = {"mode": mode, "split": args.split, "sets": {}}
    for name, items in sets.items():
        started = time.perf_counter()
        log = print if args.verbose else None
        if args.verbose:
            print(f"\nfailures in {name}:")
        results = run(kb, items, log)
        print(f"\n### {name} ({args.split} split, {mode}): {len(items)} items, "
              f"{time.perf_counter() - started:.0f} s\n")
        print(markdown_table(results))
        report["sets"][name] = {"summary": summarize(results),
                                "kinds": {k: summarize([r for r in results if r.kind == k])
                                          for k in dict.fromkeys(r.kind for r in results)},
                                "results": [asdict(r) for r in results]}
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("test", "train", "all"), default="test")
    parser.add_argument("--sets", default=",".join(ALL_SETS), help=f"comma-separated, of: {', '.join(ALL_SETS)}")
    parser.add_argument("--llm", action="store_true", help="answer through the LLM path (local stand-in server)")
    parser.add_argument("--limit", type=int, default=None, help="at most N items per set")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every failing item")
    parser.add_argument("--json", type=Path, default=None, help="write per-item results and summaries here")
    parser.add_argument("--check-data", action="store_true", help="verify bench/data against the documents, then exit")
    args = parser.parse_args(argv)

    if args.check_data:
        problems = check_data()
        for p in problems:
            print(p)
        total = sum(len(load_set(n)) for n in SETS)
        print(f"{total} items checked: {len(problems)} problem(s)")
        return 1 if problems else 0

    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = set(names) - set(ALL_SETS)
    if unknown:
        parser.error(f"unknown set(s): {', '.join(sorted(unknown))}")
    sets = {n: load_set(n, args.split)[: args.limit] for n in names}

    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("rag_engine").setLevel(logging.WARNING)
    from rag_engine import KnowledgeBase, Settings

    wall = time.perf_counter()
    standin = None
    with benchmark_database() as url:
        try:
            settings = Settings(database_url=url, table_name=TABLE)
            if args.llm:
                from bench.llm_standin import LLMStandin

                standin = LLMStandin().start()
                settings = settings.with_overrides(llm_provider="openai-compatible", llm_base_url=standin.base_url,
                                                   llm_api_key="standin", llm_model="standin")
            kb = KnowledgeBase(settings)
            report = evaluate_sets(kb, sets, names, args)
            if standin is not None:
                print(f"\nstand-in requests: {standin.count('condense')} condense, {standin.count('answer')} answer")
            print(f"\ntotal wall time {time.perf_counter() - wall:.0f} s")
            if args.json:
                args.json.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
            kb.close()
        finally:
            if standin is not None:
                standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
