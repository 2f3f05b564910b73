"""Uploaded originals on disk: <UPLOAD_DIR>/<company id>/<document id>/<safe, short file name>.

The title and file name staff see are kept in the database (255 characters); the name on disk is
only a recognisable label (the document id already makes the path unique).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from flask import current_app
from werkzeug.utils import secure_filename


def document_dir(company_id: str, document_id: str) -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / company_id / document_id


MAX_STEM = 100  # the stored name stays far below the file system's 255 bytes (with ".part" added while writing)


def stored_name(filename: str) -> str:
    """A safe, short file name for the original: the upload's name, its stem cut to MAX_STEM characters."""
    safe = secure_filename(filename) or "upload"
    stem, suffix = os.path.splitext(safe)
    return (stem[:MAX_STEM] or "upload") + suffix[:16]


def fit_filename(filename: str, limit: int = 255) -> str:
    """``filename`` in at most ``limit`` characters, cut in its stem so its extension (its type) stays."""
    if len(filename) <= limit:
        return filename
    stem, suffix = os.path.splitext(filename)
    suffix = suffix if len(suffix) <= 16 else ""
    return stem[:limit - len(suffix)] + suffix


def save_original(company_id: str, document_id: str, filename: str, data: bytes) -> str:
    folder = document_dir(company_id, document_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / stored_name(filename)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)  # never a half-written original
    return str(path)


def delete_original(company_id: str, document_id: str) -> None:
    shutil.rmtree(document_dir(company_id, document_id), ignore_errors=True)


def read_head(path: str, size: int) -> bytes:
    """The first ``size`` bytes of a stored original."""
    with open(path, "rb") as fh:
        return fh.read(size)


def holds(path: str, data: bytes) -> bool:
    """Whether the stored original at ``path`` is exactly ``data`` (a missing file holds nothing)."""
    try:
        with open(path, "rb") as fh:
            view, offset = memoryview(data), 0
            while block := fh.read(1 << 20):
                if view[offset:offset + len(block)] != block:
                    return False
                offset += len(block)
            return offset == len(data)
    except OSError:
        return False
