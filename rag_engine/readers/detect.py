"""What kind of file is this? Decided from the bytes and the file name, never from a client's
content type; a file we cannot read gets an IngestError naming what it is."""

from __future__ import annotations

import re
from pathlib import PurePath

from ..errors import IngestError

SUPPORTED = "PDF, DOCX, TXT, Markdown or HTML"
TEXT_EXTENSIONS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                   ".html": "html", ".htm": "html", "": "text"}
# Signatures of formats we recognise but cannot read, to name them in the error.
KNOWN_BINARIES = {
    b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
    b"\xd0\xcf\x11\xe0": "a legacy Microsoft Office file (.doc/.xls/.ppt)", b"\x7fELF": "a program",
    b"MZ": "a Windows program", b"\x1f\x8b": "a gzip archive", b"Rar!": "a RAR archive",
}


def detect_type(data: bytes, filename: str) -> str:
    extension = PurePath(filename or "").suffix.lower()
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        if b"word/" in data[:65536] or extension == ".docx":
            return "docx"
        raise IngestError("unsupported_type", f"This file is a ZIP archive, not a Word document. Upload {SUPPORTED}.")
    if extension == ".pdf":
        raise IngestError("corrupt", "This file is named .pdf but is not a valid PDF (it may be damaged).")
    if extension == ".docx":
        raise IngestError("corrupt", "This file is named .docx but is not a valid Word document (it may be damaged).")
    for signature, what in KNOWN_BINARIES.items():
        if data.startswith(signature):
            raise IngestError("unsupported_type", f"This file is {what}, which cannot be read. Upload {SUPPORTED}.")
    if extension not in TEXT_EXTENSIONS:
        raise IngestError("unsupported_type", f"Files of type '{extension}' are not supported. Upload {SUPPORTED}.")
    if b"\x00" in data[:8192]:
        raise IngestError("unsupported_type", f"This file is binary, not text. Upload {SUPPORTED}.")
    kind = TEXT_EXTENSIONS[extension]
    if kind == "text" and re.match(rb"\s*(<!doctype html|<html)", data[:512], re.I):
        return "html"
    return kind


def decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace")
