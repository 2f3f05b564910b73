"""Errors of the website import; ``code`` is stable for programs, the message is for a company admin."""

from __future__ import annotations

from ..errors import RagEngineError


class WebImportError(RagEngineError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class UnsafeURLError(WebImportError):
    """A URL the server must not fetch: not http(s), credentials in it, or an internal address."""

    def __init__(self, message: str):
        super().__init__("unsafe_url", message)


class SyncInProgressError(WebImportError):
    """Another process is importing (syncing) the same source right now."""

    def __init__(self, message: str = "This source is being synced by another process."):
        super().__init__("sync_in_progress", message)
