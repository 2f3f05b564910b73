"""Uploaded originals on disk: <UPLOAD_DIR>/<company id>/<document id>/<safe file name>."""

from __future__ import annotations

import shutil
from pathlib import Path

from flask import current_app
from werkzeug.utils import secure_filename


def document_dir(company_id: str, document_id: str) -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / company_id / document_id


def save_original(company_id: str, document_id: str, filename: str, data: bytes) -> str:
    folder = document_dir(company_id, document_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (secure_filename(filename) or "upload")
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
