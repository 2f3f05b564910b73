"""The HTTP API under /api/ (OpenAPI document at /api/openapi.json): knowledge documents and website
sources, and chat."""

from . import chat, documents, knowledge_sources, openapi  # noqa: F401  (their routes register on bp)
from .blueprint import bp

__all__ = ["bp"]
