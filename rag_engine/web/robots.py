"""robots.txt, fetched once per site through the guarded fetcher and read with Protego.

A missing robots.txt (4xx) allows everything; one the site fails to serve (5xx, no answer)
disallows everything for this run, as search engines do. Crawl-delay slows the host down.
"""

from __future__ import annotations

import logging
import threading
from typing import Dict, List, Optional

from protego import Protego

from .fetch import Fetcher
from .urls import origin_of

log = logging.getLogger(__name__)
MAX_ROBOTS_BYTES = 512 * 1024


class Robots:
    def __init__(self, fetcher: Fetcher):
        self.fetcher = fetcher
        self.token = fetcher.options.robots_token
        self._rules: Dict[str, Optional[Protego]] = {}
        self._unreachable: Dict[str, bool] = {}
        self._lock = threading.Lock()
        self._origin_locks: Dict[str, threading.Lock] = {}

    def _load(self, origin: str) -> Optional[Protego]:
        with self._lock:
            lock = self._origin_locks.setdefault(origin, threading.Lock())
        with lock:
            if origin in self._rules:
                return self._rules[origin]
            result = self.fetcher.get(f"{origin}/robots.txt", kinds=None, max_bytes=MAX_ROBOTS_BYTES)
            rules, unreachable = None, False
            if result.ok:
                rules = Protego.parse(result.content.decode("utf-8", errors="replace"))
                delay = rules.crawl_delay(self.token)
                if delay:
                    host = origin.split("://", 1)[1]
                    self.fetcher.limiter.set_delay(host, min(float(delay), self.fetcher.options.max_crawl_delay))
            elif result.error or result.status >= 500 or result.status == 0:
                unreachable = result.error != "unsafe_url"  # an unsafe site fails on its own pages
                log.info("robots.txt of %s unreachable (%s %s): nothing fetched", origin, result.status, result.error)
            self._rules[origin], self._unreachable[origin] = rules, unreachable
            return rules

    def refusal(self, url: str) -> str:
        """"" when ``url`` may be fetched; "disallowed" by robots.txt; "unreachable": robots.txt failed."""
        if not self.fetcher.options.respect_robots:
            return ""
        origin = origin_of(url)
        rules = self._load(origin)
        if self._unreachable.get(origin):
            return "unreachable"
        return "" if rules is None or rules.can_fetch(url, self.token) else "disallowed"

    def sitemaps(self, origin: str) -> List[str]:
        rules = self._load(origin)
        return list(rules.sitemaps) if rules is not None else []
