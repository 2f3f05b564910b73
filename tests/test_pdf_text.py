"""The PDF text layer through PDFium (rag_engine/readers/pdf_text.py): lines with their size,
boldness and baseline as headings need them, hyphenated line ends, encryption, and PDFium used
from several threads at once (it is not thread-safe: one lock)."""

import threading
from io import BytesIO

import pytest
from pypdf import PdfReader, PdfWriter

from rag_engine import IngestError
from rag_engine.readers import parse_bytes, parse_with_previews
from rag_engine.readers.blocks import HEADING
from rag_engine.readers.pdf import PdfPages, read_pdf
from rag_engine.readers.pdf_text import PdfText
from tests.conftest import FIXTURES

HANDBOOK = FIXTURES / "contoso" / "employee_handbook.pdf"


def make_pdf(*contents: bytes) -> bytes:
    """A PDF whose pages draw ``contents`` (content streams) with /F1 Helvetica and /F2 Helvetica-Bold."""
    count = len(contents)
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"]
    for i, content in enumerate(contents):
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {6 + 2 * i} 0 R "
                       "/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


PAGE = (b"BT /F2 1 Tf 18 0 0 18 72 700 Tm (Returns and refunds) Tj ET\n"  # size 1, scaled 18 times
        b"BT /F1 11 Tf 72 670 Td (You can return any unused item within thirty days for a full re-) Tj "
        b"0 -14 Td (fund. Sale items marked final are not returnable.) Tj ET\n"
        b"q 2 0 0 2 0 0 cm BT /F1 5.5 Tf 36 300 Td (Shipping is free above fifty dollars.) Tj ET Q\n")


def test_lines_carry_size_boldness_and_baseline():
    lines = PdfText(make_pdf(PAGE)).lines(0)
    assert [(line.text, round(line.y), line.size, line.bold, line.page) for line in lines] == [
        ("Returns and refunds", 700, 18.0, True, 1),  # text matrix scaling counts: 1 × 18
        ("You can return any unused item within thirty days for a full re-", 670, 11.0, False, 1),
        ("fund. Sale items marked final are not returnable.", 656, 11.0, False, 1),
        ("Shipping is free above fifty dollars.", 600, 11.0, False, 1),  # the CTM too: 5.5 × 2, at y 300 × 2
    ]


def test_an_indented_hyphenated_line_takes_its_style_from_its_own_characters_only():
    # PDFium joins the two lines at the hyphen; the first line's span must not reach into the second
    page = (b"BT /F1 11 Tf 72 500 Td (   an indented line of body text that runs on to a hyphen-) Tj ET\n"
            b"BT /F2 20 Tf 72 470 Td (ated word in a big bold line) Tj ET\n")
    lines = PdfText(make_pdf(page)).lines(0)
    assert [(line.text, line.size, line.bold) for line in lines] == [
        ("an indented line of body text that runs on to a hyphen-", 11.0, False),
        ("ated word in a big bold line", 20.0, True)]


def test_scaled_bold_heading_becomes_a_heading_and_hyphenated_words_stay_whole():
    blocks = read_pdf(make_pdf(PAGE))
    assert (blocks[0].kind, blocks[0].text, blocks[0].level, blocks[0].page) == (HEADING, "Returns and refunds", 1, 1)
    assert "for a full re-fund. Sale items" in blocks[1].text  # "re-" at a line end joined to the next line


def test_empty_user_password_opens_and_a_real_one_is_refused():
    writer = PdfWriter(clone_from=PdfReader(FIXTURES / "policies.pdf"))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    out = BytesIO()
    writer.write(out)
    assert [b.text for b in read_pdf(out.getvalue())] == [b.text for b in read_pdf((FIXTURES / "policies.pdf").read_bytes())]
    with pytest.raises(IngestError) as error:
        PdfText((FIXTURES / "encrypted.pdf").read_bytes())
    assert error.value.code == "encrypted"


def test_a_truncated_file_is_corrupt_and_one_without_pages_has_no_text():
    with pytest.raises(IngestError) as error:
        PdfText((FIXTURES / "policies.pdf").read_bytes()[:700])
    assert error.value.code == "corrupt"
    with pytest.raises(IngestError) as error:
        read_pdf(make_pdf())  # a valid PDF without a page: as pypdf read it
    assert error.value.code == "no_text"


def test_a_closed_document_refuses_pages_and_closes_once():
    document = PdfText(make_pdf(PAGE))
    document.close()
    document.close()
    with pytest.raises(ValueError):
        document.lines(0)


def test_previews_left_unfinished_close_the_document(monkeypatch):
    closed = []
    original = PdfPages.close
    monkeypatch.setattr(PdfPages, "close", lambda self: (closed.append(True), original(self)))
    previews = parse_with_previews(HANDBOOK.read_bytes(), HANDBOOK.name, first_preview=2)
    preview, final = next(previews)
    assert not final and preview.blocks
    previews.close()  # the caller gave up (a failed ingestion): the document is freed now, not at GC
    assert closed


def test_many_threads_read_pdfs_at_once():
    data = HANDBOOK.read_bytes()
    expected = parse_bytes(data, HANDBOOK.name).blocks
    results, errors = [], []

    def read():
        try:
            for _ in range(3):
                results.append(parse_bytes(data, HANDBOOK.name).blocks)
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 12 and all(blocks == expected for blocks in results)


def test_a_paragraph_over_a_page_break_cites_each_sentence_where_it_starts():
    from rag_engine.readers.pdf import PdfPages
    from rag_engine.readers.pdf_text import Line

    def page(number, texts):
        return [Line(text, 700.0 - 14 * i, 11.0, False, number) for i, text in enumerate(texts)]

    pages = [page(1, ["Intro text of the first page, long enough to set the body size of this PDF.", "",
                      "In some cases you will be responsible for paying the full cost of care. Additionally, you",
                      "may be responsible for any of the additional costs of your care and treatment that"]),
             page(2, ["Northwind Health does not cover. For example, Northwind Health may not cover the full",
                      "cost of a specialist. It is important to know these exceptions."])]
    pages = [[line for line in p if line.text] for p in pages]
    blocks = PdfPages.blocks(pages)
    cited = [(b.page, b.text) for b in blocks if "cost" in b.text]
    assert cited == [
        (1, "In some cases you will be responsible for paying the full cost of care. Additionally, you may be "
            "responsible for any of the additional costs of your care and treatment that Northwind Health does "
            "not cover."),
        (2, "For example, Northwind Health may not cover the full cost of a specialist. "
            "It is important to know these exceptions."),
    ]


def test_a_list_at_the_foot_of_a_page_ends_there_when_the_next_page_opens_on_a_capital():
    # Contoso's Health Plus booklet, pp. 65–66: the list of what to give for a prior authorization ends
    # the page, and p. 66 opens with the paragraph after it; read as one item, that paragraph was
    # quoted as a list item (and cited p. 65). An item that wraps onto the next page in lower case
    # still continues.
    from rag_engine.readers.blocks import ITEM, TEXT
    from rag_engine.readers.pdf_text import Line

    def page(number, texts):
        return [Line(text, 700.0 - 14 * i, 11.0, False, number) for i, text in enumerate(texts)]

    pages = [page(1, ["The information needed for a prior authorization request. This includes:",
                      "• The patient’s diagnosis", "• Any other relevant information that may be requested by",
                      "Northwind Health"]),
             page(2, ["It is also important to understand that prior authorization is not a guarantee of",
                      "payment. A second list:", "• An item long enough to wrap at the foot of the page, so that it runs on to the"]),
             page(3, ["next page and continues there", "• The last item"])]
    blocks = [(b.kind, b.page, b.text) for b in PdfPages.blocks(pages)]
    assert blocks[1:] == [
        (ITEM, 1, "The patient’s diagnosis"),
        (ITEM, 1, "Any other relevant information that may be requested by Northwind Health"),
        (TEXT, 2, "It is also important to understand that prior authorization is not a guarantee of payment. "
                  "A second list:"),
        (ITEM, 2, "An item long enough to wrap at the foot of the page, so that it runs on to the next page and "
                  "continues there"),
        (ITEM, 3, "The last item"),
    ]


def test_a_page_that_ends_on_a_short_line_ends_its_paragraph_there():
    # Contoso's Standard booklet, p. 82: the page ends on its heading repeated in body type right under
    # it ("IMPORTANT PLAN INFORMATION: Calendar Year Deductible" on p. 12 alike); p. 83 opens with the
    # paragraph under it, which was read as that line's continuation (and cited p. 82). A page that ends
    # on a full line still runs on.
    from rag_engine.readers.blocks import HEADING, TEXT
    from rag_engine.readers.pdf_text import Line

    def page(number, texts):
        return [Line(text.strip("*"), 700.0 - 14 * i, 11.0, text.startswith("*"), number)  # *bold*
                for i, text in enumerate(texts)]

    body = "The plan pays for care that is medically necessary, as the booklet explains in the chapters"
    pages = [page(1, [body, "that follow; members keep copies of every claim they file with it.", "",
                      "*Once The IRO Decides", "IMPORTANT PLAN INFORMATION: Once The IRO Decides"]),
             page(2, ["The Independent Review Organization (IRO) is a third-party organization that reviews",
                      "appeals. Its decision is final, and members are told of it in writing within thirty"]),
             page(3, ["days of the review, by mail or by e-mail, as they chose when they enrolled in the plan."])]
    pages = [[line for line in p if line.text] for p in pages]
    blocks = [(b.kind, b.page, b.text) for b in PdfPages.blocks(pages)]
    assert blocks[1:] == [
        (HEADING, 1, "Once The IRO Decides"),
        (TEXT, 1, "IMPORTANT PLAN INFORMATION: Once The IRO Decides"),
        (TEXT, 2, "The Independent Review Organization (IRO) is a third-party organization that reviews appeals. "
                  "Its decision is final, and members are told of it in writing within thirty days of the review, "
                  "by mail or by e-mail, as they chose when they enrolled in the plan."),
    ]
