"""A fetched HTML page → its main text as clean HTML (headings, paragraphs, lists, tables kept;
navigation, header, footer, cookie banners dropped) for the HTML reader, plus what the crawl
needs: title, canonical URL, links, and the page's robots directives.

The main text comes from trafilatura. When it finds none (a page of little text), the whole
page goes to the HTML reader, which skips navigation, footers, forms and scripts itself.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field
from typing import List, Optional

import lxml.html
import trafilatura
from trafilatura.settings import use_config

from ..readers.detect import decode_text
from .urls import try_normalize

_CONFIG = use_config()
_CONFIG.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")  # its timeout uses signals: not from worker threads
_CONFIG.set("DEFAULT", "MIN_EXTRACTED_SIZE", "20")  # short help pages are pages too
_CONFIG.set("DEFAULT", "MIN_OUTPUT_SIZE", "1")
_LOWER = "translate(concat(@id, ' ', @class), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
# Chrome trafilatura may keep on a page with little text: consent banners, navigation landmarks, dialogs.
PRUNE = [
    "//*[" + " or ".join(f"contains({_LOWER}, '{word}')" for word in ("cookie", "consent", "gdpr")) + "]",
    "//*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='dialog' or @aria-modal='true']",
    "//nav", "//dialog",
]
CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.I)
CHROME = ("script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside", "form", "button",
          "iframe", "dialog")
BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)


@dataclass
class ExtractedPage:
    title: str
    html: str  # a small HTML document: <title> and the main content
    text_found: bool  # False when the page has no main text at all
    canonical: Optional[str] = None  # normalized, as the page declares it
    links: List[str] = field(default_factory=list)  # normalized, in page order, unique
    noindex: bool = False
    nofollow: bool = False
    used_fallback: bool = False


def decode_html(data: bytes, content_type: str = "") -> str:
    match = re.search(r"charset=([A-Za-z0-9_-]+)", content_type or "", re.I) or CHARSET.search(data[:4096])
    if match:
        charset = match.group(1)
        charset = charset.decode("ascii", "replace") if isinstance(charset, bytes) else charset
        try:
            return data.decode(charset, errors="replace")
        except LookupError:
            pass
    return decode_text(data)


def _robots_directives(tree, headers_value: str) -> set:
    values = [headers_value or ""]
    for meta in tree.xpath("//meta[@name]"):
        if meta.get("name", "").strip().lower() in ("robots", "supportagentbot"):
            values.append(meta.get("content", ""))
    return {part.strip().lower() for value in values for part in value.split(",")}


def _title(tree, url: str) -> str:
    for xpath in ("//meta[@property='og:title']/@content", "//title//text()", "//h1//text()"):
        found = " ".join(" ".join(tree.xpath(xpath)).split())
        if found:
            return found[:250]
    return url


def _plain_body(tree) -> str:
    """The page's body without chrome, scripts or attributes (nonces and ids would change its hash)."""
    body = next(iter(tree.xpath("//body")), tree)
    for element in body.xpath("|".join(f"//{tag}" for tag in CHROME)):
        element.drop_tree()
    for element in body.iter():
        if isinstance(element.tag, str):
            element.attrib.clear()
    lxml.etree.strip_elements(body, lxml.etree.Comment, with_tail=False)
    inner = BODY.search(lxml.html.tostring(body, encoding="unicode"))
    return inner.group(1) if inner else lxml.html.tostring(body, encoding="unicode")


def extract_page(html: str, url: str, robots_header: str = "") -> ExtractedPage:
    """``html`` (decoded) of the page at ``url`` → title, main content, canonical URL and links."""
    try:
        tree = lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return ExtractedPage(title=url, html="", text_found=False)
    base = next(iter(tree.xpath("//base/@href")), None)
    base = try_normalize(base, url) if base else url
    directives = _robots_directives(tree, robots_header)
    nofollow = "nofollow" in directives or "none" in directives
    links: List[str] = []
    if not nofollow:
        seen = set()
        for anchor in tree.xpath("//a[@href] | //area[@href]"):
            if "nofollow" in (anchor.get("rel") or "").lower().split():
                continue
            href = anchor.get("href", "").strip()
            if not href or href.startswith(("#", "mailto:", "tel:", "javascript:", "data:")):
                continue
            link = try_normalize(href, base or url)
            if link and link not in seen:
                seen.add(link)
                links.append(link)
    canonical_href = next(iter(tree.xpath("//link[contains(concat(' ', normalize-space(@rel), ' '), ' canonical ')]/@href")), None)
    canonical = try_normalize(canonical_href, url) if canonical_href else None
    title = _title(tree, url)

    main = trafilatura.extract(
        html, url=url, output_format="html", include_tables=True, include_formatting=True, include_links=False,
        include_images=False, include_comments=False, with_metadata=False, config=_CONFIG, prune_xpath=PRUNE,
    )
    body = BODY.search(main or "")
    content = body.group(1).strip() if body else ""
    fallback = not re.sub(r"<[^>]+>", "", content).strip()
    if fallback:
        content = _plain_body(tree)
    document = (f"<html><head><title>{html_lib.escape(title)}</title></head>"
                f"<body>{content}</body></html>")
    return ExtractedPage(
        title=title, html=document, text_found=bool(re.sub(r"<[^>]+>", "", content).strip()), canonical=canonical,
        links=links, noindex="noindex" in directives or "none" in directives, nofollow=nofollow,
        used_fallback=fallback,
    )
