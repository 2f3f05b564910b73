"""Knowledge from a website (rag_engine.web): a page, a sitemap or a crawl, kept in sync.

Against a local help-center site (tests/fakes/website.py). The tests that fetch it allow only
127.0.0.1 (``allowed_networks``): the address guard stays on for everything else, so a
redirect to 10.1.2.3 is still refused; the SSRF tests run with the default (nothing private).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import rag_engine.ingestion as ingestion_module
from rag_engine.web import (
    SyncInProgressError,
    UnsafeURLError,
    WebOptions,
    page_document_id,
)
from rag_engine.web.guard import refusal
from rag_engine.web.state import PageState
from tests.fakes.website import (  # noqa: F401  (site: fixture)
    CHROME_WORDS,
    LOCAL,
    Page,
    html_page,
    site,
)


@pytest.fixture
def embeds(monkeypatch):
    """How many chunks the knowledge base embedded, per batch (every ingest embeds through embed_batch)."""
    counted = []
    original = ingestion_module.embed_batch

    def counting(model, texts):
        counted.append(len(texts))
        return original(model, texts)

    monkeypatch.setattr(ingestion_module, "embed_batch", counting)
    return counted


def by_path(result, site):
    return {page.url.replace(site.base, ""): page for page in result.pages}


def all_text(kb, tenant="acme", query="help returns shipping account faq warranty", k=50):
    return "\n".join(f"{h.section}\n{h.text}" for h in kb.retrieve(tenant, query, top_k=k))


# ------------------------------------------------------------------------------ a crawl
def test_crawl_imports_each_page_main_text_with_its_structure_and_without_chrome(kb, site):
    result = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    pages = by_path(result, site)
    created = {path for path, page in pages.items() if page.status == "created"}
    assert created == {"/help/", "/help/returns", "/help/shipping", "/help/faq", "/help/account/",
                       "/help/account/password", "/help/account/reset", "/files/warranty.pdf",
                       "/files/care-guide.md"}
    assert pages["/help/returns"].title == "Returns policy | Acme Help"
    assert pages["/files/warranty.pdf"].kind == "pdf" and pages["/files/care-guide.md"].kind == "markdown"

    text = all_text(kb)
    for word in CHROME_WORDS:  # header, navigation, cookie banner and footer are not knowledge
        assert word not in text
    hits = kb.retrieve("acme", "return shipping fee Europe", top_k=3)
    assert "Region: Europe; Fee: 9 euros" in hits[0].text  # a table row, labelled by its header
    assert hits[0].section == "Returns policy › Return shipping fees"  # headings → the chunk's section
    steps = kb.retrieve("acme", "how do I return an item print label", top_k=1)[0]
    assert "- Choose the item and print the prepaid return label." in steps.text  # list items stay items
    warranty = kb.retrieve("acme", "warranty on tents", top_k=1)[0]
    assert warranty.title == "warranty.pdf" and warranty.page == 3  # a linked PDF, read with its pages


def test_crawl_stays_in_scope_and_reports_every_page_it_did_not_import(kb, site):
    result = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    pages = by_path(result, site)
    reasons = {path: (page.status, page.reason) for path, page in pages.items() if page.status in ("failed", "skipped")}
    assert reasons["/help/private/staff-notes"] == ("skipped", "Disallowed by the site's robots.txt.")
    assert reasons["/help/faq-print"][0] == "skipped" and "same page as" in reasons["/help/faq-print"][1]
    assert reasons["/help/moved"][0] == "skipped" and reasons["/help/moved"][1].endswith("/help/shipping.")
    assert reasons["/help/missing"] == ("failed", "Not found (HTTP 404).")
    assert reasons["/help/huge"] == ("failed", "Larger than the 195 KB limit.")
    assert reasons["/help/download"][0] == "skipped" and "application/octet-stream" in reasons["/help/download"][1]
    assert reasons["/help/loop"] == ("failed", "More than 5 redirects; the page was not fetched.")
    assert reasons["/help/internal"][0] == "failed" and "private or internal address" in reasons["/help/internal"][1]
    # Never requested: disallowed, beyond the depth limit, outside the path prefix or the host,
    # images by their extension; robots.txt read once; fragments and tracking parameters are one page.
    for path in ("/help/private/staff-notes", "/help/account/reset-deep", "/blog/news", "/blog/", "/pricing",
                 "/files/logo.png"):
        assert site.requested(path) == 0, path
    assert site.requested("/robots.txt") == 1
    assert site.requested("/help/returns") == 1
    assert not any("partner.example" in page.url for page in result.pages)
    assert result.complete and result.counts["created"] == 9


def test_crawl_page_and_depth_limits(kb, site):
    result = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL, max_pages=4, max_depth=1)
    assert len(result.pages) == 4
    shallow = kb.import_url("acme", site.url("/help/account/"), mode="crawl", options=LOCAL, max_depth=0)
    assert [p.url for p in shallow.pages] == [site.url("/help/account/")]


def test_answers_cite_the_page_title_and_link_its_url(kb, site):
    kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    answer = kb.answer("acme", "How much does return shipping from Europe cost?")
    assert answer.answered and "9 euros" in answer.text
    # The fee comes from the returns page: it is cited with the page's title and URL.
    source = next(s for s in answer.sources if s.title == "Returns policy | Acme Help")
    assert source.url == site.url("/help/returns")
    assert source.to_dict()["url"] == site.url("/help/returns")
    hit = kb.retrieve("acme", "gift cards expire", top_k=1)[0]
    assert hit.url == site.url("/help/faq")  # the canonical page, not its printable copy
    kb.ingest("acme", text="Our stores open at nine.", title="Hours")  # an upload has no URL
    assert kb.retrieve("acme", "when do stores open", top_k=1)[0].url is None


def test_a_single_page(kb, site):
    result = kb.import_url("acme", site.url("/help/returns?utm_source=ad#fees"), options=LOCAL)
    assert [(p.url, p.status) for p in result.pages] == [(site.url("/help/returns"), "created")]
    assert [d.title for d in kb.list_documents("acme")] == ["Returns policy | Acme Help"]


def test_pages_that_ask_not_to_be_indexed_are_skipped_or_removed(kb, site):
    kb.import_url("acme", site.url("/help/faq"), options=LOCAL)
    site.pages["/help/faq"] = html_page("FAQ", "<h1>FAQ</h1><p>Gift cards never expire.</p>",
                                        head='<meta name="robots" content="noindex, follow">')
    result = kb.import_url("acme", site.url("/help/faq"), options=LOCAL)
    assert [(p.status, p.reason) for p in result.pages] == [("removed", "The page asks not to be indexed (noindex).")]
    site.pages["/help/shipping"].headers["X-Robots-Tag"] = "noindex"
    assert kb.import_url("acme", site.url("/help/shipping"), options=LOCAL).pages[0].status == "skipped"
    assert kb.list_documents("acme") == []


# ------------------------------------------------------------------------------ sitemaps
def test_a_sitemap_index_imports_the_pages_of_every_sitemap(kb, site):
    result = kb.import_url("acme", site.url("/sitemap_index.xml"), mode="sitemap", options=LOCAL)
    assert {p.url.replace(site.base, "") for p in result.pages if p.status == "created"} == {
        "/help/", "/help/returns", "/help/shipping", "/help/faq", "/help/account/", "/files/warranty.pdf"}
    assert result.complete and site.requested("/help/account/password") == 0  # sitemaps list, links are not followed


def test_the_sitemap_of_a_homepage_is_found_through_robots_txt(kb, site):
    result = kb.import_url("acme", site.url("/"), mode="sitemap", options=LOCAL)
    assert result.counts["created"] == 6 and site.requested("/sitemap_index.xml") == 1


def test_pages_dropped_from_the_sitemap_are_removed_unless_the_sitemap_could_not_be_read(kb, site):
    kb.import_url("acme", site.url("/sitemap_index.xml"), mode="sitemap", options=LOCAL)
    site.help_listed.remove("/help/faq")
    site.pages["/sitemap-files.xml"] = Page(500)  # half the listing is unreadable: nothing is removed
    broken = kb.import_url("acme", site.url("/sitemap_index.xml"), mode="sitemap", options=LOCAL)
    assert not broken.complete and broken.counts["removed"] == 0 and broken.errors
    assert len(kb.list_documents("acme")) == 6

    site.build()
    site.help_listed.remove("/help/faq")
    result = kb.import_url("acme", site.url("/sitemap_index.xml"), mode="sitemap", options=LOCAL)
    removed = [p for p in result.pages if p.status == "removed"]
    assert [(p.url, p.reason) for p in removed] == [(site.url("/help/faq"), "No longer in the sitemap.")]
    assert "gift cards" not in all_text(kb).lower()


# ------------------------------------------------------------------------------ sync
def test_a_printable_copy_never_replaces_its_canonical_page_whichever_arrives_first(kb, site, embeds):
    site.pages["/help/faq"].delay = 0.5  # the copy (canonical link to /help/faq) is read first
    first = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    copy = next(p for p in first.pages if p.url == site.url("/help/faq-print"))
    assert copy.status == "skipped" and copy.reason == f"The same page as {site.url('/help/faq')}."
    assert next(p for p in first.pages if p.url == site.url("/help/faq")).title == "FAQ | Acme Help"
    site.pages["/help/faq"].delay, site.pages["/help/faq-print"].delay = 0.0, 0.5  # now the canonical first
    embeds.clear()
    again = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    assert again.counts["unchanged"] == 9 and again.counts["replaced"] == 0 and embeds == []


def test_a_sync_with_nothing_changed_embeds_nothing(kb, site, embeds):
    first = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    assert sum(embeds) == first.embedded_chunks > 0
    embeds.clear()
    again = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    assert again.counts["unchanged"] == 9 and again.counts["created"] == again.counts["replaced"] == 0, \
        [p for p in again.pages if p.status != "unchanged"]
    assert embeds == [] and again.embedded_chunks == 0
    conditional = [h for p, h, _ in site.log if p == "/help/returns" and h.get("If-None-Match")]
    assert len(conditional) == 1  # asked with its ETag, answered 304 Not Modified

    site.etags = False  # a site without validators: the page is read, its main text hashed, nothing embedded
    plain = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    assert plain.counts["unchanged"] == 9 and embeds == []


def test_a_sync_replaces_changed_pages_adds_new_ones_and_removes_pages_gone_twice(kb, site):
    kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    before = {d.title: d.document_id for d in kb.list_documents("acme")}

    site.pages["/help/returns"] = html_page("Returns policy | Acme Help", "<h1>Returns policy</h1>"
                                            "<p>You can return any unused item within 60 days of delivery.</p>")
    del site.pages["/help/shipping"]
    site.pages["/help/account/"] = Page(410)
    site.pages["/help/gift-cards"] = html_page("Gift cards | Acme Help", "<h1>Gift cards</h1>"
                                               "<p>Gift cards can be bought in amounts from 10 to 500 dollars.</p>")
    site.pages["/help/"] = html_page("Help Center | Acme", site.pages["/help/"].content().decode()
                                     .split("<main>")[1].split("</main>")[0] + '<a href="gift-cards">Gift cards</a>')
    first = by_path(kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL), site)
    assert first["/help/returns"].status == "replaced"
    assert first["/help/returns"].document_id == before["Returns policy | Acme Help"]  # stable id per URL
    assert first["/help/gift-cards"].status == "created"
    assert first["/help/shipping"].status == first["/help/account/"].status == "missing"
    hits = kb.retrieve("acme", "return within days delivery gift cards shipping Europe", top_k=50)
    returns = " ".join(h.text for h in hits if h.url == site.url("/help/returns"))
    assert "60 days" in returns and "30 days" not in returns  # the old version is gone, atomically replaced
    assert any(h.url == site.url("/help/shipping") for h in hits)  # gone once: kept (a glitch must not lose it)

    second = by_path(kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL), site)
    assert second["/help/shipping"].status == second["/help/account/"].status == "removed"
    assert second["/help/shipping"].reason == "Gone (HTTP 404) at 2 syncs in a row."
    assert not any(h.url == site.url("/help/shipping") for h in kb.retrieve("acme", "shipping Europe", top_k=50))
    # /help/account/password is no longer linked from a page that answers, but it is known and still there.
    assert second["/help/account/password"].status == "unchanged"


def test_a_page_back_before_the_second_sync_is_kept(kb, site):
    kb.import_url("acme", site.url("/help/shipping"), options=LOCAL)
    shipping = site.pages.pop("/help/shipping")
    assert kb.import_url("acme", site.url("/help/shipping"), options=LOCAL).pages[0].status == "missing"
    site.pages["/help/shipping"] = shipping
    assert kb.import_url("acme", site.url("/help/shipping"), options=LOCAL).pages[0].status == "unchanged"
    site.pages.pop("/help/shipping")
    assert kb.import_url("acme", site.url("/help/shipping"), options=LOCAL).pages[0].status == "missing"


def test_a_stopped_sync_removes_nothing_and_the_next_one_finishes_the_work(kb, site, embeds):
    kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL, max_pages=3)
    done = []
    stopped = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL,
                            progress=lambda p: done.append(p.page.status), should_stop=lambda: len(done) >= 5)
    assert stopped.stopped and not stopped.complete and stopped.counts["removed"] == 0
    embeds.clear()
    finished = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    assert finished.complete and finished.counts["created"] + finished.counts["unchanged"] == 9
    titles = [d.title for d in kb.list_documents("acme")]
    assert len(titles) == len(set(titles)) == 9  # one document per page, whatever was interrupted


def test_a_sync_killed_mid_way_restarts_cleanly(make_kb, postgres_url, site):
    """SIGKILL the process importing; the next import finishes: no page twice, none half-written."""
    kb = make_kb()
    for path in ("/help/returns", "/help/shipping", "/help/faq", "/help/account/", "/help/account/password"):
        site.pages[path].delay = 0.4
    script = textwrap.dedent(f"""
        from rag_engine import KnowledgeBase, Settings
        from rag_engine.embeddings import LocalMiniLMEmbedding, MINILM_DIM, MINILM_NAME
        from rag_engine.web import WebOptions
        kb = KnowledgeBase(Settings(database_url={postgres_url!r}, table_name={kb.settings.table_name!r}),
                           embed_model=LocalMiniLMEmbedding(), embed_model_id=MINILM_NAME, embed_dim=MINILM_DIM)
        kb.import_url("acme", {site.url("/help/")!r}, mode="crawl",
                      options=WebOptions(allowed_networks=("127.0.0.1/32",), delay=0, max_bytes=200_000, concurrency=1))
    """)
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-c", script], cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    state = PageState(kb.store.engine, kb.settings.table_name)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(state.pages("acme", _source(kb, site))) < 3:
        assert process.poll() is None, "the import finished before it could be killed"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    half = len(state.pages("acme", _source(kb, site)))
    assert 3 <= half < 9

    for _ in range(50):  # the dead process' lock goes with its connection
        try:
            result = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
            break
        except SyncInProgressError:
            time.sleep(0.2)
    assert result.complete and result.counts["unchanged"] >= half - 1
    assert result.counts["created"] + result.counts["unchanged"] + result.counts["replaced"] == 9
    documents = kb.list_documents("acme")
    assert len(documents) == len({d.title for d in documents}) == 9


def _source(kb, site):
    from rag_engine.web import default_source_id

    return default_source_id("acme", "crawl", site.url("/help/"))


def test_one_source_syncs_in_one_process_at_a_time(kb, site):
    state = PageState(kb.store.engine, kb.settings.table_name)
    state.setup()
    with state.lock("acme", _source(kb, site)):
        with pytest.raises(SyncInProgressError):
            kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    assert kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL).complete


def test_force_embeds_every_page_again(kb, site, embeds):
    kb.import_url("acme", site.url("/help/faq"), options=LOCAL)
    embeds.clear()
    result = kb.import_url("acme", site.url("/help/faq"), options=LOCAL, force=True)
    assert result.pages[0].status == "replaced" and sum(embeds) == 1


# ------------------------------------------------------------------------------ sources per tenant
def test_sources_are_isolated_between_tenants(kb, site):
    a = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL, source_id="help")
    b = kb.import_url("globex", site.url("/help/faq"), options=LOCAL, source_id="help")
    assert a.counts["created"] == 9 and b.counts["created"] == 1
    assert page_document_id("acme", "help", site.url("/help/faq")) != page_document_id("globex", "help", site.url("/help/faq"))
    assert len(kb.web_pages("acme", "help")) == 9 and len(kb.web_pages("globex", "help")) == 1
    assert {h.document_id for h in kb.retrieve("globex", "returns shipping account", top_k=20)} == {
        b.pages[0].document_id}
    assert kb.remove_web_source("globex", "help") == 1  # the other tenant's same-named source is untouched
    assert len(kb.web_pages("acme", "help")) == 9 and len(kb.list_documents("acme")) == 9
    assert kb.list_documents("globex") == [] and kb.web_pages("globex", "help") == []


def test_removing_a_source_removes_all_its_documents(kb, site):
    kb.ingest("acme", text="Our stores open at nine.", title="Hours")
    result = kb.import_url("acme", site.url("/help/"), mode="crawl", options=LOCAL)
    assert kb.remove_web_source("acme", result.source_id) == 9
    assert [d.title for d in kb.list_documents("acme")] == ["Hours"]


# ------------------------------------------------------------------------------ safety
PRIVATE_URLS = [
    "http://127.0.0.1:{port}/help/", "http://localhost:{port}/help/", "http://[::1]:{port}/",
    "http://2130706433:{port}/", "http://0x7f.0.0.1:{port}/", "http://[::ffff:127.0.0.1]:{port}/",
    "http://10.0.0.1/", "http://192.168.1.1/admin", "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/", "http://0.0.0.0:{port}/", "http://[fd00::1]/", "http://[fe80::1]/",
]


@pytest.mark.parametrize("template", PRIVATE_URLS)
def test_internal_addresses_are_refused_with_the_setting_off(kb, site, template):
    url = template.format(port=site.server.server.server_port)
    result = kb.import_url("acme", url, options=WebOptions())
    assert [p.status for p in result.pages] == ["failed"]
    assert "does not fetch internal addresses" in result.pages[0].reason
    assert site.log == []  # not even robots.txt was requested


def test_a_redirect_hop_is_checked_too(kb, site):
    site.pages["/help/internal"] = Page(302, {"Location": "http://169.254.169.254/latest/meta-data/"})
    allowed = WebOptions(allow_private_addresses=True, delay=0)  # even with private addresses allowed
    result = kb.import_url("acme", site.url("/help/internal"), options=allowed)
    assert "cloud metadata address" in result.pages[0].reason
    site.pages["/help/internal"] = Page(302, {"Location": "http://10.1.2.3/"})
    result = kb.import_url("acme", site.url("/help/internal"), options=LOCAL)
    assert "private or internal address" in result.pages[0].reason


def test_a_public_name_resolving_to_a_private_address_is_refused(kb, monkeypatch):
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "help.attacker.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 80))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    result = kb.import_url("acme", "http://help.attacker.example/", options=WebOptions())
    assert result.pages[0].status == "failed"
    assert result.pages[0].reason.startswith("help.attacker.example resolves to a private or internal address")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/", "ftp://example.com/",
                                 "http://user:secret@example.com/", "javascript:alert(1)"])
def test_other_schemes_and_credentials_are_refused_before_any_request(kb, url):
    with pytest.raises(UnsafeURLError):
        kb.import_url("acme", url, options=WebOptions())


def test_the_guard_classifies_addresses():
    import ipaddress

    assert refusal(ipaddress.ip_address("93.184.216.34"), False) == ""
    assert refusal(ipaddress.ip_address("2606:4700::1111"), False) == ""
    for address in ("127.0.0.1", "10.1.1.1", "169.254.1.1", "::1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::"):
        assert refusal(ipaddress.ip_address(address), False), address
    assert refusal(ipaddress.ip_address("10.1.1.1"), True) == ""
    assert refusal(ipaddress.ip_address("169.254.169.254"), True) == "a cloud metadata address"
    assert refusal(ipaddress.ip_address("10.1.1.1"), False, ("10.1.0.0/16",)) == ""
    assert refusal(ipaddress.ip_address("10.2.1.1"), False, ("10.1.0.0/16",))


# ------------------------------------------------------------------------------ politeness
def test_requests_identify_themselves_and_stay_polite_per_host(kb, site):
    for path in ("/help/returns", "/help/shipping", "/help/faq", "/help/account/", "/help/faq-print",
                 "/help/huge", "/help/download"):
        site.pages[path].delay = 0.15
    polite = LOCAL.with_overrides(concurrency=6, per_host=2, delay=0.05)
    kb.import_url("acme", site.url("/help/"), mode="crawl", options=polite)
    assert site.max_in_flight <= 2
    # Request starts are spaced by the delay (measured at the server: thread scheduling adds jitter
    # to single gaps, not to the whole span).
    starts = sorted(t for _, _, t in site.log)
    assert starts[-1] - starts[0] >= 0.05 * (len(starts) - 1) * 0.95
    agents = {headers.get("User-Agent") for _, headers, _ in site.log}
    assert agents == {polite.user_agent} and polite.user_agent.startswith("SupportAgentBot/")


def test_robots_txt_crawl_delay_and_an_unreachable_robots_txt(kb, site):
    site.pages["/robots.txt"] = Page(200, {"Content-Type": "text/plain"}, "User-agent: *\nCrawl-delay: 0.3\n")
    kb.import_url("acme", site.url("/help/account/"), mode="crawl", options=LOCAL, max_pages=3)
    starts = [t for p, _, t in site.log if p != "/robots.txt"]
    assert len(starts) == 3 and starts[-1] - starts[0] >= 0.3 * 2 * 0.95

    site.log.clear()
    site.pages["/robots.txt"] = Page(503)
    result = kb.import_url("acme", site.url("/help/account/"), mode="crawl", options=LOCAL)
    assert result.pages[0].status == "failed" and "robots.txt could not be read" in result.pages[0].reason
    assert [p for p, _, _ in site.log] == ["/robots.txt"]
    assert len(kb.list_documents("acme")) == 3  # nothing removed because the site was down


def test_a_slow_page_times_out(kb, site):
    site.pages["/help/faq"].delay = 2.0
    result = kb.import_url("acme", site.url("/help/faq"), options=LOCAL.with_overrides(timeout=0.5))
    assert result.pages[0].status == "failed" and "did not answer within 0.5 seconds" in result.pages[0].reason


def test_options_come_from_the_environment_and_bad_values_fail():
    from rag_engine import ConfigurationError

    options = WebOptions.from_env({"WEB_ALLOW_PRIVATE_ADDRESSES": "true", "WEB_REQUEST_DELAY": "1.5",
                                   "WEB_ALLOWED_NETWORKS": "10.0.0.0/8, 127.0.0.1/32", "WEB_MAX_BYTES": "1000"})
    assert options.allow_private_addresses and options.delay == 1.5 and options.max_bytes == 1000
    assert options.allowed_networks == ("10.0.0.0/8", "127.0.0.1/32")
    assert WebOptions.from_env({}) == WebOptions()
    for env in ({"WEB_ALLOW_PRIVATE_ADDRESSES": "maybe"}, {"WEB_REQUEST_DELAY": "-1"}, {"WEB_TIMEOUT": "soon"},
                {"WEB_ALLOWED_NETWORKS": "intranet"}, {"WEB_PER_HOST_CONCURRENCY": "0"}):
        with pytest.raises(ConfigurationError):
            WebOptions.from_env(env)


def test_a_start_url_that_redirects_keeps_its_pages_across_syncs(kb, site):
    site.pages["/start"] = Page(301, {"Location": "/help/account/"})
    first = kb.import_url("acme", site.url("/start"), mode="crawl", options=LOCAL)
    assert {p.url.replace(site.base, "") for p in first.pages if p.status == "created"} == {
        "/help/account/", "/help/account/password", "/help/account/reset", "/help/account/reset-deep"}
    site.pages["/help/account/"] = Page(503)  # no links from the start page this time: known pages are synced anyway
    again = by_path(kb.import_url("acme", site.url("/start"), mode="crawl", options=LOCAL), site)
    assert again["/help/account/password"].status == again["/help/account/reset"].status == "unchanged"
    assert again["/start"].status == "failed" and len(kb.list_documents("acme")) == 4
    shallower = kb.import_url("acme", site.url("/start"), mode="crawl", options=LOCAL, max_depth=1)
    assert {p.url.replace(site.base, "") for p in shallower.pages if p.status == "removed"} == {
        "/help/account/reset", "/help/account/reset-deep"}
