"""URLs as keys: one spelling per page (fragments, default ports, tracking parameters dropped),
and the scope of a crawl (same host, under the start page's path)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from .errors import UnsafeURLError, WebImportError

MAX_URL_LENGTH = 2048
TRACKING = re.compile(r"^(utm_[a-z]+|gclid|fbclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|ref_src)$", re.I)
DOCUMENT_EXTENSIONS = {".pdf": "pdf", ".docx": "docx", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}
# Never pages with knowledge: images, media, archives, code, fonts. Skipped without a request.
SKIPPED_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico", ".bmp", ".tif", ".tiff", ".avif", ".mp3", ".mp4",
    ".m4a", ".wav", ".ogg", ".webm", ".mov", ".avi", ".zip", ".gz", ".tgz", ".rar", ".7z", ".tar", ".exe", ".dmg",
    ".msi", ".apk", ".iso", ".bin", ".css", ".js", ".mjs", ".json", ".woff", ".woff2", ".ttf", ".otf", ".eot",
    ".xls", ".xlsx", ".ppt", ".pptx", ".doc", ".csv", ".rss", ".atom", ".xml",
}


def normalize_url(url: str, base: Optional[str] = None) -> str:
    """The one spelling of ``url`` (resolved against ``base``): http(s) only, no fragment, no
    credentials, lower-case host, no default port, ``.``/``..`` resolved, tracking parameters dropped.

    Raises UnsafeURLError for another scheme or credentials, WebImportError for a malformed URL.
    """
    raw = (url or "").strip()
    if base:
        raw = urljoin(base, raw)
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise WebImportError("invalid_url", f"{url!r} is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURLError(f"Only http:// and https:// addresses can be imported, not {url!r}.")
    if parts.username or parts.password:
        raise UnsafeURLError("Addresses with a user name or password in them cannot be imported.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise WebImportError("invalid_url", f"{url!r} has no host name.")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise WebImportError("invalid_url", f"{url!r} has an invalid host name.") from None
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if port and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    path = parts.path or "/"
    trailing = path.endswith("/")
    path = posixpath.normpath(unquote(path)) if path not in ("", "/") else "/"
    path = path.replace("//", "/")
    if trailing and not path.endswith("/"):
        path += "/"
    path = quote(path, safe="/:@!$&'()*+,;=-._~")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING.match(k)])
    normalized = urlunsplit((scheme, host, path, query, ""))
    if len(normalized) > MAX_URL_LENGTH:
        raise WebImportError("invalid_url", "The address is too long.")
    return normalized


def try_normalize(url: str, base: Optional[str] = None) -> Optional[str]:
    try:
        return normalize_url(url, base)
    except WebImportError:
        return None


def extension(url: str) -> str:
    return posixpath.splitext(urlsplit(url).path)[1].lower()


def document_kind(url: str) -> Optional[str]:
    """"pdf", "docx", "markdown" or "text" when the URL names such a file."""
    return DOCUMENT_EXTENSIONS.get(extension(url))


def host_of(url: str) -> str:
    return urlsplit(url).netloc


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Scope:
    """Where a crawl may go: the start page's host, and paths under its directory.

    "https://help.acme.com/docs/" → /docs/…; "https://help.acme.com/docs" (no extension) →
    /docs and /docs/…; "https://help.acme.com/docs/index.html" → /docs/…. Linked documents
    (PDF, DOCX, Markdown) anywhere on the host are in scope too.
    """

    host: str
    prefix: str
    start_path: str

    @classmethod
    def of(cls, start_url: str, path_prefix: Optional[str] = None) -> "Scope":
        parts = urlsplit(start_url)
        path = parts.path or "/"
        if path_prefix is not None:
            prefix = "/" + path_prefix.lstrip("/")
        elif path.endswith("/"):
            prefix = path
        elif "." in path.rsplit("/", 1)[-1]:
            prefix = path.rsplit("/", 1)[0] + "/"
        else:
            prefix = path + "/"
        return cls(parts.netloc, prefix, path)

    def contains(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.netloc != self.host:
            return False
        path = parts.path or "/"
        return path.startswith(self.prefix) or path == self.start_path or document_kind(url) is not None

    def same_host(self, url: str) -> bool:
        return urlsplit(url).netloc == self.host
