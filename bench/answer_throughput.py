"""Offline answer throughput of one worker: answers/s, latency per answer, and where the time goes.

    python -m bench.answer_throughput [--passes 2] [--profile] [--json out.json]

Loads the Contoso PDFs (``../shared/data/contoso/pdfs``) into tenant ``contoso`` on the embedded
PostgreSQL (or ``DATABASE_URL``: a second run against the same server skips the ingestion, the
content is unchanged), then answers a realistic stream one answer after another, through
``kb.answer`` (the call the worker's answer job makes, ``app/services/replies.answer``):

* every item of the Contoso sets in ``bench/data`` (questions, unanswerable questions, and
  conversations with their history), in a fixed shuffled order;
* short WhatsApp-like customer messages (``MESSAGES`` below), some with a greeting or a history.

A warm-up answer loads the models first. Each pass answers the whole stream; the composer's
sentence cache is warm after the first pass (popular passages come back in a real stream too),
so the first pass is the cold figure and later passes the warm one. Per answer it also counts
the SQL statements sent and the texts given to the embedding model (ratios that do not depend
on the machine's load). ``--profile`` runs one more pass under cProfile and prints the top
functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from bench.answers import benchmark_database, ingest_tenants, load_set
from bench.stats import percentile

TABLE = "bench_throughput"
TENANT = "contoso"

# Short customer messages as they arrive on WhatsApp: lower case, typos, greetings, follow-ups.
MESSAGES: List[Tuple[str, Tuple[dict, ...]]] = [
    ("hi, is dental covered?", ()),
    ("how much is the deductible", ()),
    ("eye exams covered??", ()),
    ("Hello! What's the copay for a specialist visit? Thanks", ()),
    ("whats perksplus", ()),
    ("can i use perks plus for a gym membership", ()),
    ("how many vacation days do i get", ()),
    ("who do I call about my benefits", ()),
    ("what is the out of pocket max", ()),
    ("do you cover mental health", ()),
    ("is acupuncture covered", ()),
    ("emergency room cost?", ()),
    ("how do i file a claim", ()),
    ("whats the wifi password", ()),
    ("when is open enrollment", ()),
    ("and for the standard plan?", ({"role": "user", "content": "what is the deductible for northwind health plus?"},
                                    {"role": "assistant", "content": "The deductible for Northwind Health Plus is "
                                                                     "$1,500 per person [1]."})),
    ("what about prescriptions", ({"role": "user", "content": "is hospital care covered?"},
                                  {"role": "assistant", "content": "Yes, inpatient hospital care is covered [1]."})),
    ("does it cover that too", ({"role": "user", "content": "can I see a chiropractor?"},)),
    ("thanks! and how long does reimbursement take", ({"role": "user", "content": "how do I get reimbursed from "
                                                                                  "perksplus?"},)),
    ("ok who approves that", ({"role": "user", "content": "how do i request time off"},
                              {"role": "assistant", "content": "Submit a request in the HR portal [1]."})),
]


def stream(seed: int = 7) -> List[Tuple[str, str, Tuple[dict, ...]]]:
    """(label, question, history) for every Contoso benchmark item and every short message, shuffled."""
    items: List[Tuple[str, str, Tuple[dict, ...]]] = []
    for name in ("contoso", "unanswerable", "conversations"):
        items += [(name, item.question, item.history) for item in load_set(name, "all")]
    items += [("messages", question, history) for question, history in MESSAGES]
    random.Random(seed).shuffle(items)
    return items


class Counters:
    """SQL statements sent and texts embedded (installed on the engine and the model's class)."""

    def __init__(self, kb):
        import sqlalchemy as sa

        self.statements = 0
        self.embedded = 0
        self.model_calls = 0
        self.checkouts = 0
        sa.event.listen(kb.store.engine, "before_cursor_execute", self._statement)
        sa.event.listen(kb.store.engine, "checkout", self._checkout)
        model_class = type(kb.embed_model)
        name = "_run" if hasattr(model_class, "_run") else "_embed"  # one ONNX call (texts or encodings)
        original = getattr(model_class, name)
        counters = self

        def counted(model, texts):
            counters.model_calls += 1
            counters.embedded += len(texts)
            return original(model, texts)

        setattr(model_class, name, counted)

    def _statement(self, *args) -> None:
        self.statements += 1

    def _checkout(self, *args) -> None:
        self.checkouts += 1

    def snapshot(self) -> Tuple[int, int, int, int]:
        return self.statements, self.embedded, self.model_calls, self.checkouts


def postgres_processes(url: str) -> list:
    """The PostgreSQL server's processes when it runs on this machine (its socket directory is its data
    directory, as for the embedded server): their CPU time is part of an answer's cost."""
    import psutil
    from sqlalchemy.engine import make_url

    host = make_url(url).query.get("host")
    pidfile = Path(host) / "postmaster.pid" if isinstance(host, str) else None
    if pidfile is None or not pidfile.is_file():
        return []
    postmaster = psutil.Process(int(pidfile.read_text().split()[0]))
    return [postmaster] + postmaster.children(recursive=True)


def cpu_seconds(processes) -> dict:
    """{pid: CPU seconds so far} of the processes still running, and under "reaped" that of the
    postmaster's children that exited (a pool's overflow connections close after use)."""
    seconds = {}
    for position, process in enumerate(processes):
        try:
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
            if position == 0:
                seconds["reaped"] = times.children_user + times.children_system
        except Exception:  # a backend that exited meanwhile
            pass
    return seconds


def answer_pass(kb, items, counters: Counters, url: str, answers: Optional[list] = None) -> Dict[str, object]:
    latencies: List[float] = []
    answered = 0
    before = counters.snapshot()
    server_cpu, own_cpu = cpu_seconds(postgres_processes(url)), time.process_time()
    started = time.perf_counter()
    for _, question, history in items:
        t0 = time.perf_counter()
        answer = kb.answer(TENANT, question, history=list(history) or None)
        latencies.append((time.perf_counter() - t0) * 1000)
        answered += answer.answered
        if answers is not None:
            answers.append({"question": question, "answered": answer.answered, "text": answer.text,
                            "sources": [(s.title, s.page, s.chunk_id) for s in answer.sources]})
    wall = time.perf_counter() - started
    own_cpu = time.process_time() - own_cpu
    server = postgres_processes(url)  # backends started during the pass count from zero
    server_cpu = sum(seconds - server_cpu.get(key, 0.0) for key, seconds in cpu_seconds(server).items())
    statements, embedded, calls, checkouts = (a - b for a, b in zip(counters.snapshot(), before))
    n = len(items)
    return {"answers": n, "answered": answered, "wall_s": round(wall, 2), "answers_per_s": round(n / wall, 2),
            "p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(percentile(latencies, 95), 1),
            "sql_per_answer": round(statements / n, 2), "connection_checkouts_per_answer": round(checkouts / n, 2), "texts_embedded_per_answer": round(embedded / n, 2),
            "model_calls_per_answer": round(calls / n, 2), "worker_cpu_ms": round(own_cpu * 1000 / n, 1),
            "postgres_cpu_ms": round(server_cpu * 1000 / n, 1) if server else None,
            "load_1min": round(os.getloadavg()[0], 1)}


def profile_pass(kb, items, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _, question, history in items:
        kb.answer(TENANT, question, history=list(history) or None)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=2, help="passes over the stream (the first one is cold)")
    parser.add_argument("--profile", action="store_true", help="one more pass under cProfile")
    parser.add_argument("--top", type=int, default=30, help="functions shown in the profile")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--answers", type=Path, default=None,
                        help="write every answer of the first pass here (to compare two versions' outputs)")
    args = parser.parse_args(argv)

    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("rag_engine").setLevel(logging.WARNING)
    from rag_engine import KnowledgeBase, Settings

    items = stream()
    report: Dict[str, object] = {"stream": len(items), "passes": []}
    with benchmark_database() as url:
        kb = KnowledgeBase(Settings(database_url=url, table_name=TABLE))
        ingest_tenants(kb, [TENANT], log=lambda line: None)
        kb.answer(TENANT, "What is PerksPlus?")  # warm-up: models and connections loaded
        counters = Counters(kb)
        print(f"stream: {len(items)} answers a pass (Contoso questions, unanswerable, conversations, short messages)")
        answers: List[dict] = []
        for number in range(1, args.passes + 1):
            figures = answer_pass(kb, items, counters, url, answers if number == 1 else None)
            report["passes"].append(figures)
            print(f"pass {number} ({'cold' if number == 1 else 'warm'} sentence cache): "
                  + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
        if args.profile:
            text = profile_pass(kb, items, args.top)
            report["profile"] = text
            print("\nprofile (one more pass, cProfile, by cumulative time):\n" + text)
        kb.close()
    if args.answers:
        args.answers.write_text("".join(json.dumps(a) + "\n" for a in answers), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
