"""Bounds on what one document may cost: checked before and after parsing, failing with an IngestError.

* Archives (DOCX is a ZIP): the sizes the ZIP's directory declares are checked *before* anything is
  decompressed — too many entries, too much in total, or an entry that inflates far more than text
  does (a "zip bomb": 4.5 MB inflating to 1.5 GB). Python's zipfile never inflates an entry past
  its declared size (a lying header ends in a CRC error), so the declared sizes bound the memory.
* Extracted text and chunks: ``max_chars`` / ``max_chunks`` per document (rag_engine settings
  MAX_DOCUMENT_CHARS, MAX_DOCUMENT_CHUNKS), so one upload cannot occupy the shared worker for hours.

Every failure is permanent (code ``too_large``): the same file fails the same way, once.
"""

from __future__ import annotations

import io
import zipfile
from typing import Iterable

from ..errors import IngestError

MAX_ARCHIVE_ENTRIES = 10_000
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024  # all entries together, as declared in the ZIP directory
MAX_COMPRESSION_RATIO = 100  # inflated / compressed, per entry larger than RATIO_CHECK_FROM
RATIO_CHECK_FROM = 1024 * 1024  # small entries may compress very well (a page of spaces)


def check_archive(data: bytes, *, max_bytes: int = MAX_UNCOMPRESSED_BYTES, max_ratio: float = MAX_COMPRESSION_RATIO,
                  max_entries: int = MAX_ARCHIVE_ENTRIES) -> None:
    """Refuse a ZIP whose declared contents are too many, too big in total, or inflate suspiciously."""
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise IngestError("corrupt", "This Word document could not be read; it may be damaged.") from exc
    if len(entries) > max_entries:
        raise IngestError("too_large", f"This Word document has too many parts ({len(entries):,}; at most "
                                       f"{max_entries:,}).")
    total = sum(entry.file_size for entry in entries)
    if total > max_bytes:
        raise IngestError("too_large", f"This Word document unpacks to {_mb(total)}, more than the {_mb(max_bytes)} "
                                       f"allowed. Split it into smaller documents.")
    for entry in entries:
        if entry.file_size > RATIO_CHECK_FROM and entry.file_size > max_ratio * max(entry.compress_size, 1):
            raise IngestError("too_large", f"This Word document unpacks to {_mb(total)} from {_mb(len(data))} "
                                           f"(part {entry.filename!r} is compressed more than {max_ratio:g} to 1): "
                                           f"it looks like a decompression bomb and was not opened.")


def check_characters(texts: Iterable[str], max_chars: int) -> int:
    """The number of characters extracted, or IngestError when a document has more than ``max_chars``."""
    total = 0
    for text in texts:
        total += len(text)
        if total > max_chars:
            raise IngestError("too_large", f"This document has more than {max_chars:,} characters of text, the "
                                           f"most one document may have. Split it into smaller documents.")
    return total


def check_chunks(count: int, max_chunks: int) -> None:
    if count > max_chunks:
        raise IngestError("too_large", f"This document splits into {count:,} passages, more than the {max_chunks:,} "
                                       f"one document may have. Split it into smaller documents.")


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MB"
