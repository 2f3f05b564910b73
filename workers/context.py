"""One Flask app per worker process; jobs run inside its app context."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from typing import Optional

from flask import Flask

_app: Optional[Flask] = None


def set_app(app: Flask) -> None:
    """Use ``app`` for jobs run in this process (the worker command and tests call this)."""
    global _app
    _app = app


def get_app() -> Flask:
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


@contextmanager
def app_context():
    with get_app().app_context():
        yield


def worker_identity() -> str:
    """host:pid of this process, recorded on work in progress so a restart can tell it was orphaned."""
    return f"{socket.gethostname()}:{os.getpid()}"
