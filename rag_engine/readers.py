"""Turn uploaded bytes into LlamaIndex Documents.

The type is detected from the bytes and the file name, never from a client's content type.
Every failure is an IngestError whose message a company admin understands.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import List

from llama_index.core import Document

from .errors import IngestError

SUPPORTED = "PDF, DOCX, TXT, Markdown or HTML"
TEXT_EXTENSIONS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                   ".html": "html", ".htm": "html", "": "text"}
# Signatures of formats we recognise but cannot read, to name them in the error.
KNOWN_BINARIES = {
    b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
    b"\xd0\xcf\x11\xe0": "a legacy Microsoft Office file (.doc/.xls/.ppt)", b"\x7fELF": "a program",
    b"MZ": "a Windows program", b"\x1f\x8b": "a gzip archive", b"Rar!": "a RAR archive",
}


@dataclass
class ParsedFile:
    source_type: str  # pdf | docx | html | markdown | text
    title: str
    documents: List[Document]  # one per PDF page, else one


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


def clean(text: str) -> str:
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r"\n\s*\n\s*\n+", "\n\n", text)
    return text.strip()


def _pdf(data: bytes) -> List[Document]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):  # many "encrypted" PDFs open with an empty password
                    raise IngestError("encrypted", "This PDF is password-protected. Remove the password and upload it again.")
            except IngestError:
                raise
            except Exception:
                raise IngestError("encrypted", "This PDF is password-protected. Remove the password and upload it again.") from None
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            text = clean(page.extract_text() or "")
            if text:
                pages.append(Document(text=text, metadata={"page": number}))
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError) as exc:
        raise IngestError("corrupt", "This PDF could not be read; it may be damaged. Try saving it again as PDF.") from exc
    if not pages:
        raise IngestError(
            "no_text",
            "This PDF has no extractable text (it may be a scanned image). Upload a PDF with a text layer, or paste the text.",
        )
    return pages


def _docx(data: bytes) -> List[Document]:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise IngestError("corrupt", "This Word document could not be read; it may be damaged.") from exc
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                parts.append(" | ".join(dict.fromkeys(cells)))  # merged cells repeat their text
    return [Document(text=clean("\n\n".join(parts)))]


def _html(data: bytes) -> List[Document]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "head"]):
        tag.decompose()
    text = soup.get_text("\n")
    return [Document(text=clean(text))]


def parse_bytes(data: bytes, filename: str) -> ParsedFile:
    """Read ``data`` (a file named ``filename``) into Documents, or raise IngestError."""
    if not data or not data.strip():
        raise IngestError("empty", "This file is empty.")
    kind = detect_type(data, filename)
    if kind == "pdf":
        documents = _pdf(data)
    elif kind == "docx":
        documents = _docx(data)
    elif kind == "html":
        documents = _html(data)
    else:
        documents = [Document(text=clean(decode_text(data)))]
    if not any(d.text.strip() for d in documents):
        raise IngestError("empty", "This file contains no text.")
    # The file name is the title staff recognise and customers see cited ("manual.pdf, p. 4").
    return ParsedFile(source_type=kind, title=PurePath(filename or "").name or "Untitled", documents=documents)


def parse_text(text: str, title: str) -> ParsedFile:
    text = clean(text or "")
    if not text:
        raise IngestError("empty", "The text is empty.")
    return ParsedFile(source_type="text", title=title or "Untitled", documents=[Document(text=text)])
