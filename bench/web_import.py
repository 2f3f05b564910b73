"""Website import: pages/s for a crawl of a local help center, and what a sync costs when nothing changed.

    python -m bench.web_import [--pages 300] [--per-host 2] [--delay 0] [--changed 0.1]

A generated help center (an index, 10 section pages, ``--pages`` articles of ~250 words with
headings, a list and a table, inside navigation chrome) is served on 127.0.0.1 by a threaded
server that answers ``If-None-Match`` with 304. Runs, on table ``bench_web`` (the source is
removed first, so the first crawl embeds everything):

1. first crawl: every page fetched, extracted, chunked, embedded, written;
2. re-sync, nothing changed: conditional requests, 304s, nothing read or embedded;
3. re-sync after ``--changed`` of the articles changed: only those embedded again;
4. re-sync, nothing changed, on a server without validators: every page read and extracted,
   its hash compared, nothing embedded.

Chunks embedded are counted at the embedding step itself (``rag_engine.ingestion.embed_batch``), not inferred.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Sequence

SECTIONS = ["orders", "shipping", "returns", "payments", "account", "products", "warranty", "stores", "gift-cards",
            "privacy"]
WORDS = ("tent backpack stove lantern sleeping bag jacket boots order delivery refund exchange warranty repair "
         "store account password invoice card payment carrier tracking parcel label size fabric zipper seam "
         "waterproof season customer support weekend holiday region europe canada address").split()
CHROME = ("<header><a href='/'>Acme</a> <a href='/pricing'>Pricing</a></header><nav><a href='/help/'>Help</a> "
          + " ".join(f"<a href='/help/{s}/'>{s}</a>" for s in SECTIONS) + "</nav>"
          "<div class='cookie-banner'>We use cookies. <button>OK</button></div>")
FOOTER = "<footer>Copyright Acme Outdoor · <a href='/privacy'>Privacy</a></footer>"


def sentence(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def article(i: int, version: int = 0) -> str:
    rng = random.Random(i * 1000 + version)
    section = SECTIONS[i % len(SECTIONS)]
    body = [f"<h1>{section.title()} article {i}</h1>", f"<p>{' '.join(sentence(rng) for _ in range(4))}</p>",
            "<h2>Steps</h2><ol>" + "".join(f"<li>{sentence(rng, 8)}</li>" for _ in range(4)) + "</ol>",
            "<h2>Details</h2>" + "".join(f"<p>{' '.join(sentence(rng) for _ in range(3))}</p>" for _ in range(2)),
            "<h2>Fees</h2><table><tr><th>Region</th><th>Fee</th></tr>"
            + "".join(f"<tr><td>{r}</td><td>{rng.randint(0, 30)} dollars</td></tr>" for r in ("US", "EU", "CA"))
            + "</table>"]
    return page(f"{section.title()} article {i} | Acme Help", "".join(body))


def page(title: str, main: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>{CHROME}"
            f"<main>{main}</main>{FOOTER}</body></html>")


class Site:
    def __init__(self, articles: int):
        self.articles = articles
        self.versions: Dict[int, int] = {}
        self.validators = True
        self.requests = 0
        self.not_modified = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                site.requests += 1
                body = site.body(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = body.encode()
                etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
                if site.validators and self.headers.get("If-None-Match") == etag:
                    site.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                kind = "text/plain" if self.path.endswith(".txt") else "text/html; charset=utf-8"
                self.send_header("Content-Type", kind)
                if site.validators:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def body(self, path: str):
        if path == "/robots.txt":
            return "User-agent: *\nDisallow: /private/\n"
        if path == "/help/":
            links = "".join(f"<li><a href='/help/{s}/'>{s}</a></li>" for s in SECTIONS)
            return page("Acme Help Center", f"<h1>Help Center</h1><p>Browse by topic.</p><ul>{links}</ul>")
        for s_index, section in enumerate(SECTIONS):
            if path == f"/help/{section}/":
                ids = [i for i in range(self.articles) if i % len(SECTIONS) == s_index]
                links = "".join(f"<li><a href='/help/{section}/article-{i}'>Article {i}</a></li>" for i in ids)
                return page(f"{section.title()} | Acme Help", f"<h1>{section.title()}</h1><ul>{links}</ul>")
            prefix = f"/help/{section}/article-"
            if path.startswith(prefix) and path[len(prefix):].isdigit():
                i = int(path[len(prefix):])
                if i < self.articles and i % len(SECTIONS) == s_index:
                    return article(i, self.versions.get(i, 0))
        return None

    def close(self):
        self.server.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300, help="articles (plus 11 index pages)")
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between requests (default polite: 0.25)")
    parser.add_argument("--changed", type=float, default=0.1, help="share of articles changed before the last run")
    parser.add_argument("--table", default="bench_web")
    args = parser.parse_args(argv)

    import rag_engine.ingestion as ingestion_module
    from rag_engine import KnowledgeBase
    from rag_engine.web import WebOptions

    embedded = []
    original = ingestion_module.embed_batch

    def counting(model, texts):
        embedded.append(len(texts))
        return original(model, texts)

    ingestion_module.embed_batch = counting
    kb = KnowledgeBase.from_env(table_name=args.table)
    kb.embed_model.get_text_embedding_batch(["warm-up"])
    site = Site(args.pages)
    options = WebOptions(allowed_networks=("127.0.0.1/32",), delay=args.delay, per_host=args.per_host,
                         concurrency=max(4, args.per_host))
    tenant, source = "bench-web", "bench-help-center"
    kb.remove_web_source(tenant, source)
    print(f"{args.pages + 11} pages on {site.base} | per_host={options.per_host} delay={options.delay}s | "
          f"{os.cpu_count()} CPUs | embed={kb.settings.embed_provider}")

    def run(label: str) -> None:
        embedded.clear()
        site.requests = site.not_modified = 0
        start = time.perf_counter()
        result = kb.import_url(tenant, site.base + "/help/", mode="crawl", max_pages=args.pages + 50, max_depth=3,
                               source_id=source, options=options)
        wall = time.perf_counter() - start
        pages = sum(result.counts[s] for s in ("created", "replaced", "unchanged"))
        print(f"\n{label}: {pages} pages in {wall:.2f} s = {pages / wall:.1f} pages/s | {result.counts} | "
              f"HTTP requests {site.requests} (304: {site.not_modified}) | chunks embedded {sum(embedded)} "
              f"(result says {result.embedded_chunks})")
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
        print(f"   in kb.ingest: {steps or 'nothing'}; the rest (fetch, extract, records) "
              f"{wall - sum(result.timings.values()):.1f}s")

    run("1. first crawl")
    run("2. re-sync, nothing changed (ETag → 304)")
    rng = random.Random(7)
    for i in rng.sample(range(args.pages), int(args.pages * args.changed)):
        site.versions[i] = 1
    run(f"3. re-sync, {int(args.pages * args.changed)} articles changed")
    site.validators = False
    run("4. re-sync, nothing changed, a server without validators (read + extract + hash)")
    site.close()
    kb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
