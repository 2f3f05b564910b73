"""Text as PostgreSQL can store it."""

MAX_QUESTION_CHARS = 10_000  # the longest customer message any channel accepts (rag_engine: MAX_QUERY_CHARS)


def clean_text(text: str) -> str:
    """No NUL characters, no lone surrogates (both make PostgreSQL reject the row)."""
    return (text or "").replace("\x00", "").encode("utf-8", errors="replace").decode("utf-8")
