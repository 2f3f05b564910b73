"""Ingestion through the public API: every format, bad files, unchanged/replaced/delete."""

import pytest

from rag_engine import DocumentNotFoundError, IngestError
from tests.conftest import FIXTURES


def test_pdf_keeps_page_numbers(kb):
    result = kb.ingest("acme", FIXTURES / "policies.pdf")
    assert result.status == "created" and result.chunk_count >= 3
    hits = kb.retrieve("acme", "How long does shipping to Europe take?", top_k=1)
    assert hits[0].page == 2 and "Europe" in hits[0].text
    assert hits[0].title == "policies.pdf"
    warranty = kb.retrieve("acme", "warranty on tents", top_k=1)[0]
    assert warranty.page == 3


def test_docx_paragraphs_and_tables(kb):
    kb.ingest("acme", FIXTURES / "membership.docx")
    hit = kb.retrieve("acme", "How much does Acme Pro cost per year?", top_k=1)[0]
    assert "49 dollars" in hit.text and hit.page is None
    assert "Plan: Acme Pro; Price: 49 dollars per year" in " ".join(h.text for h in kb.retrieve("acme", "plan price", top_k=5))


def test_html_text_without_scripts(kb):
    kb.ingest("acme", FIXTURES / "faq.html")
    text = " ".join(h.text for h in kb.retrieve("acme", "store opening hours", top_k=5))
    assert "Monday to Saturday" in text
    assert "console.log" not in text and "font-family" not in text


def test_markdown_text_and_pasted_text(kb):
    assert kb.ingest("acme", FIXTURES / "care-guide.md").status == "created"
    pasted = kb.ingest("acme", text="Gift cards never expire and can be used online or in store.", title="Gift cards")
    assert pasted.title == "Gift cards" and pasted.chunk_count == 1
    assert kb.retrieve("acme", "do gift cards expire?", top_k=1)[0].document_id == pasted.document_id
    assert "mildew" in kb.retrieve("acme", "how to store a tent", top_k=1)[0].text


def test_type_comes_from_bytes_not_name(kb):
    data = (FIXTURES / "policies.pdf").read_bytes()
    kb.ingest("acme", data=data, filename="notes.txt")
    assert kb.list_documents("acme")[0].source_type == "pdf"


@pytest.mark.parametrize("name, data, code, words", [
    ("encrypted.pdf", (FIXTURES / "encrypted.pdf").read_bytes(), "encrypted", "password"),
    ("scan.pdf", (FIXTURES / "scanned.pdf").read_bytes(), "no_text", "no extractable text"),
    ("broken.pdf", (FIXTURES / "policies.pdf").read_bytes()[:700], "corrupt", "could not be read"),
    ("empty.txt", b"", "empty", "empty"),
    ("blank.md", b"   \n\n ", "empty", "empty"),
    ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "unsupported_type", "PNG image"),
    ("report.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "unsupported_type", "legacy Microsoft Office"),
    ("tool.exe", b"just text", "unsupported_type", "not supported"),
    ("fake.pdf", b"hello, I am not a pdf", "corrupt", "not a valid PDF"),
    ("fake.docx", b"hello", "corrupt", "not a valid Word"),
    ("archive.zip", b"PK\x03\x04" + b"\x00" * 50, "unsupported_type", "ZIP"),
])
def test_bad_files_raise_one_typed_error(kb, name, data, code, words):
    with pytest.raises(IngestError) as err:
        kb.ingest("acme", data=data, filename=name)
    assert err.value.code == code
    assert words.lower() in str(err.value).lower()
    assert kb.list_documents("acme") == []


def test_unchanged_replaced_and_deleted(kb):
    first = kb.ingest("acme", text="Our support line is open 8 am to 6 pm.", title="hours.txt")
    again = kb.ingest("acme", text="Our support line is open 8 am to 6 pm.", title="hours.txt")
    assert (first.status, again.status) == ("created", "unchanged")
    assert again.document_id == first.document_id

    new = kb.ingest("acme", text="Our support line is open around the clock, 24 hours a day.", title="hours.txt")
    assert new.status == "replaced" and new.document_id == first.document_id
    texts = [h.text for h in kb.retrieve("acme", "support line opening hours", top_k=10)]
    assert texts == ["Our support line is open around the clock, 24 hours a day."]  # old version gone
    assert [d.document_id for d in kb.list_documents("acme")] == [first.document_id]

    kb.delete_document("acme", first.document_id)
    assert kb.retrieve("acme", "support line opening hours") == []
    assert kb.list_documents("acme") == []
    with pytest.raises(DocumentNotFoundError):
        kb.delete_document("acme", first.document_id)


def test_progress_reports_every_batch(make_kb):
    kb = make_kb(embed_batch_size=2, chunk_size=40, chunk_overlap=5)
    calls = []
    result = kb.ingest("acme", FIXTURES / "policies.pdf", progress=lambda done, total: calls.append((done, total)))
    total = result.chunk_count
    assert total > 4
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert set(result.timings) == {"parse", "split", "embed", "write"}


def test_chunk_size_setting_changes_chunking(make_kb):
    small = make_kb(chunk_size=40, chunk_overlap=5).ingest("acme", FIXTURES / "policies.pdf")
    large = make_kb(chunk_size=1000, chunk_overlap=50).ingest("acme", FIXTURES / "policies.pdf")
    assert small.chunk_count > large.chunk_count == 3  # one chunk per page at most
