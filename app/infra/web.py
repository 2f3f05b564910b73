"""The website import's settings in the app: rag_engine's WebOptions, read once from the
environment (WEB_* variables, see rag_engine/web/options.py) unless the app's config passes
``WEB_OPTIONS`` (tests do: they allow 127.0.0.1 only), and the default sync interval
(WEB_SYNC_INTERVAL_HOURS, 24; 0 = only when asked)."""

from __future__ import annotations

import os

from flask import current_app

from rag_engine import ConfigurationError
from rag_engine.web import WebOptions

DEFAULT_SYNC_HOURS = 24


def web_options() -> WebOptions:
    app = current_app._get_current_object()
    options = app.config.get("WEB_OPTIONS") or app.extensions.get("web_options")
    if options is None:
        options = app.extensions["web_options"] = WebOptions.from_env(os.environ)
    return options


def default_sync_hours() -> int:
    raw = str(current_app.config.get("WEB_SYNC_INTERVAL_HOURS") or os.environ.get("WEB_SYNC_INTERVAL_HOURS") or "").strip()
    if not raw:
        return DEFAULT_SYNC_HOURS
    if not raw.isdigit():
        raise ConfigurationError(f"WEB_SYNC_INTERVAL_HOURS={raw!r} is not a whole number of hours")
    return int(raw)
