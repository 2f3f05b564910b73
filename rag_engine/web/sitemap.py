"""Sitemaps (XML, sitemap indexes, gzip, plain text) read with ultimate-sitemap-parser, every
request going through the guarded, polite fetcher.

``complete`` is False when any sitemap of the tree could not be read: pages missing from an
incomplete listing are not "dropped from the sitemap" and must not be removed.
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass, field
from typing import List, Optional
from urllib.parse import urlsplit

from usp.fetch_parse import SitemapFetcher
from usp.objects.sitemap import InvalidSitemap
from usp.web_client.abstract_client import (
    AbstractWebClient, AbstractWebClientSuccessResponse, WebClientErrorResponse,
)

from .fetch import FetchResult, Fetcher
from .robots import Robots
from .urls import origin_of, try_normalize

log = logging.getLogger(__name__)
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps protocol's own limit


@dataclass
class SitemapListing:
    urls: List[str] = field(default_factory=list)  # normalized, de-duplicated, in sitemap order
    complete: bool = True
    errors: List[str] = field(default_factory=list)
    sitemaps: List[str] = field(default_factory=list)


class _Response(AbstractWebClientSuccessResponse):
    def __init__(self, result: FetchResult):
        self.result = result

    def status_code(self) -> int:
        return self.result.status

    def status_message(self) -> str:
        return "OK"

    def header(self, case_insensitive_name: str) -> Optional[str]:
        return self.result.headers.get(case_insensitive_name.lower())

    def raw_data(self) -> bytes:
        return self.result.content

    def url(self) -> str:
        return self.result.final_url


class _Error(WebClientErrorResponse):
    pass


class GuardedWebClient(AbstractWebClient):
    """usp's web client interface over our Fetcher (guard, limits, user agent, politeness)."""

    def __init__(self, fetcher: Fetcher):
        self.fetcher = fetcher
        self.max_bytes = MAX_SITEMAP_BYTES

    def set_max_response_data_length(self, max_response_data_length: Optional[int]) -> None:
        self.max_bytes = min(max_response_data_length or MAX_SITEMAP_BYTES, MAX_SITEMAP_BYTES)

    def get(self, url: str):
        result = self.fetcher.get(url, kinds=None, max_bytes=self.max_bytes)
        if result.error:
            return _Error(result.reason, retryable=False)
        if result.status != 200:
            return _Error(f"HTTP {result.status}", retryable=False)
        return _Response(result)


def looks_like_sitemap(url: str) -> bool:
    path = urlsplit(url).path.lower()
    name = posixpath.basename(path)
    return "sitemap" in path or name.endswith((".xml", ".xml.gz", ".txt"))


def sitemap_urls(url: str, robots: Robots) -> List[str]:
    """The sitemap(s) to read for ``url``: itself if it is one, else those robots.txt names, else /sitemap.xml."""
    if looks_like_sitemap(url):
        return [url]
    origin = origin_of(url)
    named = [u for u in (try_normalize(s) for s in robots.sitemaps(origin)) if u]
    return named or [f"{origin}/sitemap.xml"]


def read_sitemaps(url: str, fetcher: Fetcher, robots: Robots) -> SitemapListing:
    listing = SitemapListing()
    seen = set()
    client = GuardedWebClient(fetcher)
    for sitemap_url in sitemap_urls(url, robots):
        listing.sitemaps.append(sitemap_url)
        try:
            tree = SitemapFetcher(url=sitemap_url, recursion_level=0, web_client=client).sitemap()
        except Exception as err:  # usp raises SitemapException for recursion and bad URLs
            listing.complete = False
            listing.errors.append(f"{sitemap_url}: {err}")
            continue
        for node in [tree, *tree.all_sitemaps()]:
            if isinstance(node, InvalidSitemap):
                listing.complete = False
                listing.errors.append(f"{node.url}: {node.reason}")
        for page in tree.all_pages():
            normalized = try_normalize(page.url)
            if normalized and normalized not in seen:
                seen.add(normalized)
                listing.urls.append(normalized)
    if listing.errors:
        log.info("sitemap listing of %s incomplete: %s", url, listing.errors)
    return listing
