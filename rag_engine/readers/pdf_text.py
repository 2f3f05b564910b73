"""A PDF's text layer as lines (text, baseline, font size, bold), read with PDFium (pypdfium2).

PDFium's text page gives every character in reading order with its generated spaces and line
breaks, its origin, font size, effective matrix and text object; a line's style is read once per
text object (a run of one font and size), its baseline once per line. All of it is C work: a page
costs a few milliseconds, where pypdf's pure-Python content-stream parser took tens.

PDFium is not thread-safe, not even across documents: every call goes through one process-wide
lock (``PDFIUM``), held for a whole page at a time.
"""

from __future__ import annotations

import ctypes
import math
import re
import threading
import weakref
from dataclasses import dataclass
from typing import List

import pypdfium2  # noqa: F401  (importing it initialises the library)
import pypdfium2.raw as pdfium

from ..errors import IngestError
from .blocks import one_line

PDFIUM = threading.RLock()
BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.I)
HYPHENS = "\x02\ufffe"  # PDFium's stand-ins for a hyphen that ends a line, whose line it joins to the next
LINE_END = re.compile("[\r\n\x02\ufffe]")
# FPDFText_GetTextObject returning the object's address as an int: a key for the style cache,
# without a ctypes.cast per character.
_TEXT_OBJECT = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)(
    ctypes.cast(pdfium.FPDFText_GetTextObject, ctypes.c_void_p).value)

ENCRYPTED = "This PDF is password-protected. Remove the password and upload it again."
CORRUPT = "This PDF could not be read; it may be damaged. Try saving it again as PDF."


@dataclass
class Line:
    text: str
    y: float
    size: float
    bold: bool
    page: int


class PdfText:
    """An open PDF document; ``close`` (or garbage collection) frees it."""

    def __init__(self, data: bytes):
        with PDFIUM:
            handle = pdfium.FPDF_LoadMemDocument64(data, len(data), None)  # None: an empty user password too
            if not handle:
                code = pdfium.FPDF_GetLastError()
                if code in (pdfium.FPDF_ERR_PASSWORD, pdfium.FPDF_ERR_SECURITY):
                    raise IngestError("encrypted", ENCRYPTED)
                raise IngestError("corrupt", CORRUPT)
            self._handle = handle
            self.count = max(pdfium.FPDF_GetPageCount(handle), 0)
        # PDFium reads from ``data`` without copying it: it is kept until the document is closed.
        self._closer = weakref.finalize(self, _close_document, handle, data)

    def __len__(self) -> int:
        return self.count

    def close(self) -> None:
        self._closer()

    def lines(self, index: int) -> List[Line]:
        """Page ``index`` (from 0) as lines, numbered ``index + 1``."""
        with PDFIUM:
            if not self._closer.alive:
                raise ValueError("the document is closed")
            page = pdfium.FPDF_LoadPage(self._handle, index)
            if not page:
                raise IngestError("corrupt", CORRUPT)
            try:
                textpage = pdfium.FPDFText_LoadPage(page)
                if not textpage:
                    raise IngestError("corrupt", CORRUPT)
                try:
                    return _page_lines(textpage, index + 1)
                finally:
                    pdfium.FPDFText_ClosePage(textpage)
            finally:
                pdfium.FPDF_ClosePage(page)


def _close_document(handle, data: bytes) -> None:
    with PDFIUM:
        pdfium.FPDF_CloseDocument(handle)


def _page_lines(textpage, number: int) -> List[Line]:
    text = _page_text(textpage)
    handle = ctypes.cast(textpage, ctypes.c_void_p).value
    styles: dict = {}  # text object → (size, bold)
    origin_x, origin_y = ctypes.c_double(), ctypes.c_double()
    lines: List[Line] = []
    begin = 0
    for separator in [*LINE_END.finditer(text), None]:
        end = separator.start() if separator else len(text)
        piece, first, begin = text[begin:end], begin, end + 1
        if separator and separator.group() in HYPHENS:  # "in-" ending a line: keep the hyphen and the break
            piece += "-"
        line = one_line(piece)
        if not line:
            continue
        first, last = first + len(piece) - len(piece.lstrip()), first + len(piece.rstrip())  # visible span
        size, bold_chars, visible_chars = 0.0, 0, 0
        for obj, start, stop in _runs(handle, first, last):
            visible = stop - start - sum(map(str.isspace, text[start:stop]))
            if obj and visible:
                style = styles.get(obj)
                if style is None:
                    style = styles[obj] = _style(textpage, start)
                size = max(size, style[0])
                bold_chars += visible if style[1] else 0
                visible_chars += visible
        if not visible_chars:
            continue
        pdfium.FPDFText_GetCharOrigin(textpage, first, origin_x, origin_y)
        lines.append(Line(line, origin_y.value, round(size, 1), bold_chars / visible_chars > 0.6, number))
    return lines


def _runs(handle, start: int, stop: int) -> List[tuple]:
    """``(text object, start, stop)`` runs over characters ``start`` to ``stop - 1`` (generated
    characters have no object: None). PDFium lists a text object's characters one after another
    (checked on every page of the Contoso PDFs), so a range whose two ends share an object is one
    run, and a line costs a few calls instead of one per character."""
    first = _TEXT_OBJECT(handle, start)
    if stop - start == 1:
        return [(first, start, stop)]
    if first is not None and first == _TEXT_OBJECT(handle, stop - 1):
        return [(first, start, stop)]
    middle = (start + stop) // 2
    runs = _runs(handle, start, middle)
    for run in _runs(handle, middle, stop):
        if run[0] is not None and run[0] == runs[-1][0]:
            runs[-1] = (run[0], runs[-1][1], run[2])
        else:
            runs.append(run)
    return runs


def _page_text(textpage) -> str:
    """One character per index. FPDFText_GetText gives UTF-16, which is one unit per character
    unless a character lies outside the BMP; then it is read character by character."""
    count = pdfium.FPDFText_CountChars(textpage)
    if count <= 0:
        return ""
    buffer = (ctypes.c_ushort * (count + 1))()
    written = pdfium.FPDFText_GetText(textpage, 0, count, buffer)
    text = bytes(memoryview(buffer)[:max(written - 1, 0)].cast("B")).decode("utf-16-le", errors="replace")
    if len(text) == count:
        return text
    return "".join(chr(pdfium.FPDFText_GetUnicode(textpage, i)) for i in range(count))


def _style(textpage, index: int):
    """(size, bold) of the character at ``index``: its font size scaled by its matrix's vertical
    axis (text drawn at size 1 and scaled up is as large as text set at that size), and bold
    when the font's name says so (as "Calibri-Bold", "Arial,Black")."""
    matrix = pdfium.FS_MATRIX()
    scale = math.hypot(matrix.c, matrix.d) if pdfium.FPDFText_GetMatrix(textpage, index, matrix) else 1.0
    size = pdfium.FPDFText_GetFontSize(textpage, index) * (scale or 1.0)
    flags = ctypes.c_int()
    length = pdfium.FPDFText_GetFontInfo(textpage, index, None, 0, flags)
    name = ""
    if length > 0:
        buffer = ctypes.create_string_buffer(length)
        pdfium.FPDFText_GetFontInfo(textpage, index, buffer, length, flags)
        name = buffer.value.decode("utf-8", errors="replace")
    return size, bool(BOLD.search(name))
