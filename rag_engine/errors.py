"""The engine's own error types; callers (the Flask app, workers, notebooks) translate them."""


class RagEngineError(Exception):
    """Base class of every error rag_engine raises on purpose."""


class InvalidTenantError(RagEngineError, ValueError):
    """A tenant id that does not match the allowed format (checked before any SQL runs)."""


class DocumentNotFoundError(RagEngineError, LookupError):
    """No document with that id in that tenant (another tenant's id looks the same: not found)."""


class IngestError(RagEngineError):
    """A file that cannot be turned into text: corrupt, encrypted, empty, scanned, unsupported.

    ``code`` is stable for programs; ``str(err)`` is written for a company admin.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class EmbeddingMismatchError(RagEngineError):
    """The store was built with another embedding model or dimension than the one configured."""


class ConfigurationError(RagEngineError, ValueError):
    """A setting with a value the engine cannot use."""


class ProviderError(RagEngineError):
    """The LLM or embedding provider failed (network, HTTP error, bad response). Transient."""


class QueryTooLongError(RagEngineError, ValueError):
    """A question or search longer than MAX_QUERY_CHARS (refused before any SQL runs)."""
