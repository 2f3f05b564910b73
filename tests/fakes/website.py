"""A small help-center website on a local HTTP server, for the website import tests.

Pages with navigation chrome (header, nav, cookie banner, footer) around their main text,
nested sections, robots.txt with a disallowed path, a sitemap index with two sitemaps,
redirects (one to a private address, one loop), a 404, an oversized page, a PDF, a Markdown
file, a binary without extension, a printable copy with a canonical link. Pages can be
changed, removed or added between two syncs (``site.pages[path] = …``, ``del site.pages[path]``).

Responses carry an ETag (the body's hash) and answer ``If-None-Match`` with 304 unless
``etags=False``; every request is recorded (path, headers, time) and the number of
requests in flight is tracked to check politeness.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Union

import pytest

from rag_engine.web import WebOptions
from tests.conftest import FIXTURES
from tests.fakes.http_server import FakeServer

NONCE = re.compile(rb'nonce: "\d+"')  # changes at every request (as CSP nonces do); not part of the ETag
CHROME_WORDS = ("Pricing", "Careers", "cookies", "Copyright")


def chrome(title: str, main: str, head: str = "") -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>{head}
<script>window.analytics = {{nonce: "{time.time_ns()}"}};</script></head>
<body>
<header><a href="/">Acme Outdoor</a> <a href="/pricing">Pricing</a> <a href="/careers">Careers</a></header>
<nav><ul><li><a href="/help/">Help center</a></li><li><a href="/help/returns">Returns</a></li>
<li><a href="/help/shipping">Shipping</a></li><li><a href="/blog/">Blog</a></li></ul></nav>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience. <button>Accept all cookies</button></div>
<main>{main}</main>
<footer><p>Copyright 2026 Acme Outdoor Inc. All rights reserved.</p><a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer>
</body></html>"""


def html_page(title: str, main: str, head: str = "") -> "Page":
    return Page(200, {"Content-Type": "text/html; charset=utf-8"}, lambda: chrome(title, main, head))


@dataclass
class Page:
    status: int = 200
    headers: Dict[str, str] = field(default_factory=dict)
    body: Union[bytes, str, Callable[[], Union[bytes, str]]] = b""
    delay: float = 0.0  # seconds before answering

    def content(self) -> bytes:
        body = self.body() if callable(self.body) else self.body
        return body.encode() if isinstance(body, str) else body


RETURNS = """<h1>Returns policy</h1>
<p>You can return any unused item within 30 days of delivery for a full refund.</p>
<h2>How to return an item</h2>
<ol><li>Open the order page in your account.</li><li>Choose the item and print the prepaid return label.</li>
<li>Drop the parcel at any post office.</li></ol>
<h2>Return shipping fees</h2>
<table><tr><th>Region</th><th>Fee</th></tr><tr><td>United States</td><td>Free</td></tr>
<tr><td>Europe</td><td>9 euros</td></tr></table>
<p>Read the <a href="/help/returns#exchanges">exchanges section</a> or the
<a href="/help/returns?utm_source=newsletter">policy again</a>.</p>"""

SHIPPING = """<h1>Shipping</h1><p>Standard shipping within the United States takes 3 to 5 business days.
Shipping to Europe takes 7 to 10 business days and costs 25 dollars per order.</p>"""

INDEX = """<h1>Acme Help Center</h1><p>Find answers about orders, returns, shipping and your account.</p>
<ul>
<li><a href="returns">Returns</a></li><li><a href="shipping">Shipping</a></li>
<li><a href="account/">Your account</a></li><li><a href="faq">FAQ</a></li><li><a href="faq-print">FAQ (print)</a></li>
<li><a href="private/staff-notes">Staff notes</a></li><li><a href="moved">Delivery times</a></li>
<li><a href="internal">Status page</a></li><li><a href="loop">Loop</a></li><li><a href="missing">Old article</a></li>
<li><a href="huge">Big catalogue</a></li><li><a href="download">Installer</a></li>
<li><a href="/files/warranty.pdf">Warranty (PDF)</a></li><li><a href="/files/care-guide.md">Care guide</a></li>
<li><a href="/files/logo.png">Logo</a></li><li><a href="https://partner.example/help">Partner</a></li>
<li><a href="/blog/news">Blog</a></li><li><a href="mailto:help@acme.example">Email us</a></li>
</ul>"""

FAQ = """<h1>Frequently asked questions</h1><h2>Do gift cards expire?</h2>
<p>Gift cards never expire and can be used online or in any Acme store.</p>"""


class Website:
    def __init__(self, *, etags: bool = True):
        self.etags = etags
        self.pages: Dict[str, Page] = {}
        self.log: list = []  # (path, headers, start time)
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.server = FakeServer(self._handle)
        self.base = ""

    # -------------------------------------------------------------- content
    def build(self, private_target: str = "http://10.1.2.3/status") -> "Website":
        base = self.base
        self.pages.update({
            "/robots.txt": Page(200, {"Content-Type": "text/plain"},
                                f"User-agent: *\nDisallow: /help/private/\n\nSitemap: {base}/sitemap_index.xml\n"),
            "/sitemap_index.xml": Page(200, {"Content-Type": "application/xml"}, lambda: self.sitemap_index()),
            "/sitemap-help.xml": Page(200, {"Content-Type": "application/xml"}, lambda: self.urlset(self.help_listed)),
            "/sitemap-files.xml": Page(200, {"Content-Type": "application/xml"}, lambda: self.urlset(self.files_listed)),
            "/help/": html_page("Help Center | Acme", INDEX),
            "/help/returns": html_page("Returns policy | Acme Help", RETURNS),
            "/help/shipping": html_page("Shipping | Acme Help", SHIPPING),
            "/help/faq": html_page("FAQ | Acme Help", FAQ),
            "/help/faq-print": html_page("FAQ (print) | Acme Help", FAQ,
                                         head=f'<link rel="canonical" href="{base}/help/faq">'),
            "/help/account/": html_page("Your account | Acme Help", """<h1>Your account</h1>
                <p>Manage your orders and addresses from your account page.</p><a href="password">Passwords</a>"""),
            "/help/account/password": html_page("Passwords | Acme Help", """<h1>Passwords</h1>
                <p>Passwords need at least twelve characters.</p><a href="reset">Reset</a>"""),
            "/help/account/reset": html_page("Reset your password | Acme Help", """<h1>Reset your password</h1>
                <p>Use the forgotten password link on the sign-in page to receive a reset email.</p>
                <a href="reset-deep">More</a>"""),
            "/help/account/reset-deep": html_page("Deep page | Acme Help",
                                                  "<h1>Deep page</h1><p>Four clicks from the start.</p>"),
            "/help/private/staff-notes": html_page("Staff notes", "<h1>Staff notes</h1><p>Internal only.</p>"),
            "/help/moved": Page(301, {"Location": "/help/shipping"}),
            "/help/internal": Page(302, {"Location": private_target}),
            "/help/loop": Page(302, {"Location": "/help/loop"}),
            "/help/huge": html_page("Catalogue", "<h1>Catalogue</h1>" + "<p>Tent and backpack and stove.</p>" * 20000),
            "/help/download": Page(200, {"Content-Type": "application/octet-stream"}, b"\x7fELF" + b"\x00" * 2000),
            "/files/warranty.pdf": Page(200, {"Content-Type": "application/pdf"},
                                        (FIXTURES / "policies.pdf").read_bytes()),
            "/files/care-guide.md": Page(200, {"Content-Type": "text/markdown; charset=utf-8"},
                                         (FIXTURES / "care-guide.md").read_bytes()),
            "/files/logo.png": Page(200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100),
            "/blog/news": html_page("News", "<h1>News</h1><p>We opened a new store.</p>"),
        })
        self.help_listed = ["/help/", "/help/returns", "/help/shipping", "/help/faq", "/help/account/"]
        self.files_listed = ["/files/warranty.pdf"]
        return self

    def sitemap_index(self) -> str:
        entries = "".join(f"<sitemap><loc>{self.base}{p}</loc></sitemap>" for p in ("/sitemap-help.xml", "/sitemap-files.xml"))
        return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'

    def urlset(self, paths) -> str:
        entries = "".join(f"<url><loc>{self.base}{p}</loc></url>" for p in paths)
        return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'

    # -------------------------------------------------------------- serving
    def _handle(self, request):
        path = request.path
        with self._lock:
            self.log.append((path, request.headers, time.monotonic()))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            page = self.pages.get(path)
            if page is None:
                return 404, {"Content-Type": "text/html"}, "<h1>Not found</h1>"
            if page.delay:
                time.sleep(page.delay)
            body = page.content()
            headers = dict(page.headers)
            if page.status == 200 and self.etags:
                etag = '"' + hashlib.sha256(NONCE.sub(b"", body)).hexdigest()[:16] + '"'
                headers["ETag"] = etag
                if request.headers.get("If-None-Match") == etag:
                    return 304, {"ETag": etag}, b""
            return page.status, headers, body
        finally:
            with self._lock:
                self.in_flight -= 1

    def requested(self, path: str) -> int:
        return sum(1 for p, _, _ in self.log if p == path)

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> "Website":
        self.server.__enter__()
        self.base = self.server.url
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)


# Web options for tests: the local site is on loopback (allowed explicitly), no politeness delay,
# and a generous timeout (a loaded CI machine answers slowly).
LOCAL = WebOptions(allowed_networks=("127.0.0.1/32",), delay=0.0, max_bytes=200_000, timeout=30.0)


@pytest.fixture
def site():
    """The local help-center site, built fresh for each test."""
    with Website() as website:
        website.build()
        yield website
