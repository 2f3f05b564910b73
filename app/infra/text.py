"""Text as PostgreSQL can store it."""


def clean_text(text: str) -> str:
    """No NUL characters, no lone surrogates (both make PostgreSQL reject the row)."""
    return (text or "").replace("\x00", "").encode("utf-8", errors="replace").decode("utf-8")
