"""How the website import behaves: politeness, limits and the address guard.

Read from the environment with ``WebOptions.from_env()`` (or built in code); every bad value
fails loudly. The defaults are those of a polite crawler: an identifying user agent, at most
two requests in flight per host with a pause between them, robots.txt honoured.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, fields, replace
from typing import Mapping, Optional

from ..errors import ConfigurationError

DEFAULT_USER_AGENT = "SupportAgentBot/1.0 (+https://github.com/support-agent/support-agent; website knowledge import)"
ENV = {  # field: environment variable
    "user_agent": "WEB_USER_AGENT",
    "allow_private_addresses": "WEB_ALLOW_PRIVATE_ADDRESSES",
    "allowed_networks": "WEB_ALLOWED_NETWORKS",
    "concurrency": "WEB_CONCURRENCY",
    "per_host": "WEB_PER_HOST_CONCURRENCY",
    "delay": "WEB_REQUEST_DELAY",
    "timeout": "WEB_TIMEOUT",
    "max_bytes": "WEB_MAX_BYTES",
    "max_redirects": "WEB_MAX_REDIRECTS",
    "max_crawl_delay": "WEB_MAX_CRAWL_DELAY",
}
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class WebOptions:
    user_agent: str = DEFAULT_USER_AGENT
    # Fetch loopback, private (RFC 1918, ULA), link-local and other non-public addresses. Off by
    # default: a tenant must never make the server fetch an internal URL. Cloud metadata
    # addresses stay refused even when this is on.
    allow_private_addresses: bool = False
    # Narrower: only these non-public networks are allowed (e.g. "10.20.0.0/16,127.0.0.1/32").
    allowed_networks: tuple = ()
    concurrency: int = 4  # fetches in flight in one import
    per_host: int = 2  # fetches in flight per host
    delay: float = 0.25  # seconds between two requests to one host (robots.txt Crawl-delay wins, up to max_crawl_delay)
    timeout: float = 20.0  # seconds for one response, connection to last byte
    max_bytes: int = 10 * 1024 * 1024  # per response (decompressed); larger ones are refused
    max_redirects: int = 5
    max_crawl_delay: float = 10.0
    respect_robots: bool = True

    @property
    def robots_token(self) -> str:
        """The product token robots.txt groups are matched against ("SupportAgentBot")."""
        return self.user_agent.split("/", 1)[0].split()[0] if self.user_agent.strip() else "*"

    def check(self) -> "WebOptions":
        problems = []
        if not self.user_agent.strip():
            problems.append("WEB_USER_AGENT must not be empty")
        for name in ("concurrency", "per_host", "max_bytes"):
            if getattr(self, name) < 1:
                problems.append(f"{ENV[name]} must be at least 1")
        for name in ("delay", "max_crawl_delay", "max_redirects"):
            if getattr(self, name) < 0:
                problems.append(f"{ENV[name]} must not be negative")
        for network in self.allowed_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                problems.append(f"WEB_ALLOWED_NETWORKS: {network!r} is not a network (e.g. 10.0.0.0/8)")
        if self.timeout <= 0:
            problems.append("WEB_TIMEOUT must be positive")
        if problems:
            raise ConfigurationError("; ".join(problems))
        return self

    def with_overrides(self, **changes) -> "WebOptions":
        return replace(self, **changes).check()

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "WebOptions":
        env = os.environ if env is None else env
        types = {f.name: f.type for f in fields(cls)}
        values, problems = {}, []
        for name, variable in ENV.items():
            raw = (env.get(variable) or "").strip()
            if not raw:
                continue
            kind = types[name]
            try:
                if kind == "bool":
                    if raw.lower() not in TRUE + FALSE:
                        raise ValueError
                    values[name] = raw.lower() in TRUE
                elif kind == "int":
                    values[name] = int(raw)
                elif kind == "float":
                    values[name] = float(raw)
                elif kind == "tuple":
                    values[name] = tuple(part.strip() for part in raw.split(",") if part.strip())
                else:
                    values[name] = raw
            except ValueError:
                problems.append(f"{variable}={raw!r} is not a valid {kind}")
        if problems:
            raise ConfigurationError("; ".join(problems))
        return cls(**values).check()
