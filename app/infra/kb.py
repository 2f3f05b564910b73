"""The process' KnowledgeBase (rag_engine), created on first use with the app's database."""

from __future__ import annotations

import os

from flask import current_app

from rag_engine import KnowledgeBase, Settings

from .embedded import database_url


def get_kb() -> KnowledgeBase:
    app = current_app._get_current_object()
    kb = app.extensions.get("knowledge_base")
    if kb is None:
        settings = Settings.from_env(os.environ).with_overrides(database_url=database_url(app))
        kb = app.extensions["knowledge_base"] = KnowledgeBase(settings)
    return kb
