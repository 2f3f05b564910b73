"""Staff pages under /dashboard/, one module per page: overview, knowledge, conversations, settings."""

from . import account, conversations, knowledge, knowledge_sources, overview, settings, templating  # noqa: F401  (routes register on bp)
from .blueprint import bp

__all__ = ["bp"]
