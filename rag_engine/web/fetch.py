"""One polite, bounded, guarded HTTP GET.

- Every hop (the URL and each redirect target) is resolved and checked by the address guard,
  and the connection goes to the checked address (Host header and TLS SNI keep the name).
- Redirects are followed by hand, at most ``max_redirects``; non-http(s) targets are refused.
- At most ``per_host`` requests in flight per host, ``delay`` seconds apart (robots.txt's
  Crawl-delay raises it), an identifying User-Agent, no proxies from the environment.
- The content type is checked before the body is read; the body is read up to ``max_bytes``
  (decompressed) within ``timeout`` seconds, else refused.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional
from urllib.parse import urlsplit, urlunsplit

import httpx

from .errors import UnsafeURLError, WebImportError
from .guard import resolve
from .options import WebOptions
from .urls import document_kind, extension, normalize_url

PAGE_KINDS = frozenset({"html", "pdf", "docx", "markdown", "text"})
CONTENT_TYPES = {
    "text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/markdown": "markdown", "text/x-markdown": "markdown",
}
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/download",
                 "application/x-download", "application/force-download"}
ACCEPT = ("text/html,application/xhtml+xml,application/pdf,"
          "application/vnd.openxmlformats-officedocument.wordprocessingml.document,text/markdown;q=0.9,"
          "text/plain;q=0.8,*/*;q=0.1")
REDIRECTS = {301, 302, 303, 307, 308}


def kind_of(content_type: str, url: str) -> Optional[str]:
    """What a response is, from its content type (and the URL's extension for generic types)."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in CONTENT_TYPES:
        return CONTENT_TYPES[mime]
    if mime == "text/plain":
        return "markdown" if extension(url) in (".md", ".markdown") else "text"
    if mime in GENERIC_TYPES:
        return document_kind(url)
    return None


@dataclass
class FetchResult:
    url: str  # as requested
    final_url: str  # after redirects
    status: int = 0  # HTTP status of the last hop; 0 when there was no response
    headers: Dict[str, str] = field(default_factory=dict)  # lower-case names
    content: bytes = b""
    kind: Optional[str] = None  # html | pdf | docx | markdown | text
    error: Optional[str] = None  # unsafe_url | timeout | too_large | too_many_redirects | unsupported_type | network
    reason: str = ""  # for a company admin
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200

    @property
    def etag(self) -> Optional[str]:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> Optional[str]:
        return self.headers.get("last-modified")


class HostLimiter:
    """At most ``per_host`` requests in flight per host, starting at least ``delay`` seconds apart."""

    def __init__(self, per_host: int, delay: float):
        self.per_host, self.delay = per_host, delay
        self._lock = threading.Lock()
        self._slots: Dict[str, threading.BoundedSemaphore] = {}
        self._next_start: Dict[str, float] = {}
        self._delays: Dict[str, float] = {}

    def set_delay(self, host: str, delay: float) -> None:
        with self._lock:
            self._delays[host] = max(self.delay, delay)

    @contextmanager
    def slot(self, host: str):
        with self._lock:
            semaphore = self._slots.setdefault(host, threading.BoundedSemaphore(self.per_host))
        with semaphore:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_start.get(host, 0.0))
                self._next_start[host] = start + self._delays.get(host, self.delay)
            if start > now:
                time.sleep(start - now)
            yield


class Fetcher:
    def __init__(self, options: Optional[WebOptions] = None):
        self.options = (options or WebOptions()).check()
        self.limiter = HostLimiter(self.options.per_host, self.options.delay)
        self._clients: Dict[str, httpx.Client] = {}
        self._lock = threading.Lock()
        self.requests = 0  # HTTP requests sent (every hop)

    def _client(self, host: str) -> httpx.Client:
        # One client per host name: pooled connections are never shared between two names on one address.
        with self._lock:
            client = self._clients.get(host)
            if client is None:
                client = self._clients[host] = httpx.Client(
                    follow_redirects=False, trust_env=False, http2=False,
                    headers={"User-Agent": self.options.user_agent, "Accept": ACCEPT},
                    limits=httpx.Limits(max_connections=self.options.per_host, max_keepalive_connections=self.options.per_host),
                )
            return client

    def get(self, url: str, *, headers: Optional[Dict[str, str]] = None,
            kinds: Optional[Iterable[str]] = PAGE_KINDS, max_bytes: Optional[int] = None) -> FetchResult:
        """GET ``url``; ``kinds=None`` accepts any content type (robots.txt, sitemaps)."""
        started = time.monotonic()
        deadline = started + self.options.timeout
        limit = max_bytes or self.options.max_bytes
        kinds = frozenset(kinds) if kinds is not None else None
        current = url
        result = FetchResult(url, url)
        try:
            for _hop in range(self.options.max_redirects + 1):
                result.final_url = current
                response_or_next = self._one_hop(current, headers or {}, kinds, limit, deadline, result)
                if response_or_next is None:
                    return result
                current = response_or_next
            result.error, result.reason = "too_many_redirects", (
                f"More than {self.options.max_redirects} redirects; the page was not fetched.")
        except UnsafeURLError as err:
            result.error, result.reason = "unsafe_url", err.message
        except WebImportError as err:
            result.error, result.reason = err.code, err.message
        except httpx.TimeoutException:
            result.error, result.reason = "timeout", f"The site did not answer within {self.options.timeout:g} seconds."
        except (httpx.HTTPError, OSError) as err:
            result.error, result.reason = "network", f"The site could not be reached ({type(err).__name__})."
        finally:
            result.seconds = round(time.monotonic() - started, 4)
        return result

    def _one_hop(self, url: str, headers: Dict[str, str], kinds, limit: int, deadline: float,
                 result: FetchResult) -> Optional[str]:
        """Fetch one hop into ``result``; returns the next URL when redirected, else None."""
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        address = resolve(host, port, self.options.allow_private_addresses, self.options.allowed_networks)
        literal = f"[{address}]" if ":" in address else address
        target = urlunsplit((scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise httpx.TimeoutException("deadline")
        client = self._client(parts.netloc)
        with self.limiter.slot(parts.netloc):  # held until the body is read
            request = client.build_request(
                "GET", target, headers={"Host": parts.netloc, **headers},
                timeout=httpx.Timeout(remaining, connect=min(remaining, 10.0)),
                extensions={"sni_hostname": host} if scheme == "https" else None,
            )
            self.requests += 1
            response = client.send(request, stream=True)
            try:
                return self._read(url, response, kinds, limit, deadline, result)
            finally:
                response.close()

    @staticmethod
    def _read(url: str, response: httpx.Response, kinds, limit: int, deadline: float,
              result: FetchResult) -> Optional[str]:
        result.status = response.status_code
        result.headers = {k.lower(): v for k, v in response.headers.items()}
        if response.status_code in REDIRECTS and response.headers.get("location"):
            return normalize_url(response.headers["location"], base=url)
        if response.status_code != 200:
            return None
        size = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
        too_large = f"Larger than the {size} limit."
        kind = kind_of(response.headers.get("content-type", ""), url)
        if kinds is not None and kind not in kinds:
            mime = response.headers.get("content-type", "").split(";", 1)[0].strip() or "no content type"
            result.error, result.reason = "unsupported_type", f"Not a web page or a supported document ({mime})."
            return None
        result.kind = kind
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            result.error, result.reason = "too_large", too_large
            return None
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                result.error, result.reason = "too_large", too_large
                return None
            if time.monotonic() > deadline:
                raise httpx.TimeoutException("deadline")
        result.content = bytes(body)
        return None

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
