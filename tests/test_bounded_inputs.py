"""Bounded inputs: no upload, message, id or payload can exhaust the worker or reach SQL unchecked.

Decompression bombs are refused from the ZIP's directory before anything is inflated; documents have
caps on text and chunks; questions, ids, names and provider payloads are checked at the edge (4xx,
never a 500 from the database).
"""

from __future__ import annotations

import io
import time
import uuid
import zipfile

import pytest
from sqlalchemy import select

from app.infra.models import Document, Message
from rag_engine import IngestError, QueryTooLongError
from tests.browser_support import make_user, staff  # noqa: F401  (fixtures)
from tests.conftest import FIXTURES
from tests.test_channel_email import auth_header, postmark_inbound
from tests.test_channel_whatsapp import ACME_NUMBER, ACME_SID, ACME_TOKEN, inbound, post


def docx_bomb(inflated_mb: int = 64) -> bytes:
    """A real DOCX (membership.docx) whose document.xml is followed by a part of ``inflated_mb`` MB of zeros
    (compressed about 1000 to 1)."""
    out = io.BytesIO()
    with zipfile.ZipFile(FIXTURES / "membership.docx") as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            bomb.writestr(item, source.read(item.filename))
        with bomb.open("word/media/padding.xml", "w") as part:
            block = b"\0" * (1024 * 1024)
            for _ in range(inflated_mb):
                part.write(block)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return docx_bomb()


def stored(app, model, **filters):
    from app.infra.extensions import db

    with app.app_context():
        rows = db.session.scalars(select(model).filter_by(**filters)).all()
        db.session.expunge_all()
        return rows


# ----------------------------------------------------------------------------- documents
def test_a_docx_bomb_is_refused_before_anything_is_inflated(kb, bomb, monkeypatch):
    import docx

    def never(*args, **kwargs):
        raise AssertionError("python-docx opened a decompression bomb")

    monkeypatch.setattr(docx, "Document", never)
    assert len(bomb) < 1024 * 1024
    started = time.monotonic()
    with pytest.raises(IngestError) as err:
        kb.ingest("acme", data=bomb, filename="handbook.docx")
    assert err.value.code == "too_large" and "decompression bomb" in err.value.message
    assert time.monotonic() - started < 5


def test_an_archive_too_big_in_total_is_refused_by_its_declared_size():
    from rag_engine.readers.limits import check_archive

    data = (FIXTURES / "membership.docx").read_bytes()
    check_archive(data)  # a normal document passes
    with pytest.raises(IngestError) as err:
        check_archive(data, max_bytes=1000)
    assert err.value.code == "too_large" and "unpacks to" in err.value.message


def test_documents_have_caps_on_characters_and_chunks(make_kb):
    few_chars = make_kb(max_document_chars=2000)
    with pytest.raises(IngestError) as err:
        few_chars.ingest("acme", text="Returns are free. " * 200, title="long")
    assert err.value.code == "too_large" and "2,000 characters" in err.value.message
    with pytest.raises(IngestError):
        few_chars.ingest("acme", data=("Returns are free. " * 200).encode(), filename="long.txt")

    few_chunks = make_kb(max_document_chunks=2)
    with pytest.raises(IngestError) as err:
        few_chunks.ingest("acme", FIXTURES / "policies.pdf")
    assert err.value.code == "too_large" and "passages" in err.value.message
    assert few_chunks.list_documents("acme") == []
    assert few_chunks.ingest("acme", text="Gift cards never expire.", title="short").chunk_count == 1


def test_an_uploaded_bomb_fails_once_with_its_reason_and_is_not_retried(app, client, make_company, run_jobs, bomb):
    _, _, headers = make_company()
    response = client.post("/api/knowledge/documents/upload/", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(bomb), "handbook.docx")})
    assert response.status_code == 202
    run_jobs()
    [document] = stored(app, Document)
    assert document.status == "failed" and "decompression bomb" in document.error_message
    assert document.attempts == 1
    with app.app_context():
        from app.infra.queues import get_queue

        queue = get_queue("ingest")
        assert queue.count == 0 and queue.scheduled_job_registry.count == 0


def test_a_search_longer_than_the_limit_is_refused_before_sql(kb):
    kb.ingest("acme", text="Returns are accepted within 30 days.", title="returns")
    with pytest.raises(QueryTooLongError):
        kb.retrieve("acme", "returns " * 20_000)
    with pytest.raises(QueryTooLongError):  # answering too, before any search or model call
        kb.answer("acme", "returns " * 20_000)
    assert kb.retrieve("acme", "returns " * 100)


@pytest.mark.parametrize("length", [251, 253, 255])
def test_titles_and_file_names_up_to_255_characters_are_stored_and_ingested(app, client, make_company, run_jobs,
                                                                              length):
    _, _, headers = make_company()
    title = "T" * length
    pasted = client.post("/api/knowledge/documents/upload/", headers=headers,
                         json={"title": title, "content": "Gift cards never expire."})
    assert pasted.status_code == 202, pasted.get_json()
    name = "n" * (length - 4) + ".pdf"
    uploaded = client.post("/api/knowledge/documents/upload/", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO((FIXTURES / "policies.pdf").read_bytes()), name)})
    assert uploaded.status_code == 202, uploaded.get_json()
    run_jobs()
    documents = {d.title: d for d in stored(app, Document)}
    assert documents[title].status == "completed" and documents[name].status == "completed"
    assert documents[name].filename == name and documents[title].filename.endswith(".txt")


# ----------------------------------------------------------------------------- questions and ids
def test_a_question_longer_than_the_limit_is_a_4xx_on_every_channel(app, client, make_company):
    _, _, headers = make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID,
                                 twilio_auth_token=ACME_TOKEN)
    huge = "Where is my parcel? " * 60_000  # 1.2 MB
    response = client.post("/api/chat/message/", json={"message": huge}, headers=headers)
    assert response.status_code == 422
    with app.app_context():
        from app.infra.extensions import db
        from app.infra.models import Company

        widget_key = db.session.scalars(select(Company.widget_key)).first()
    response = client.post(f"/widget/{widget_key}/messages", json={"message": huge})
    assert response.status_code == 422
    response = post(client, inbound(huge))
    assert response.status_code == 400 and "longer than 10,000" in response.get_json()["error"]["message"]
    assert stored(app, Message) == []
    assert post(client, inbound("Where is my parcel? " * 400)).status_code == 200  # 8,000 characters


def test_nul_characters_in_urls_and_forms_are_400_not_500(app, client, staff):
    owner = staff()
    checks = [
        (client.get, "/api/knowledge/documents/%00/", owner.api_headers),
        (client.get, "/api/chat/conversations/%00abc/messages/", owner.api_headers),
        (client.get, "/api/chat/conversations/?channel=%00", owner.api_headers),
        (client.get, f"/widget/{owner.widget_key}/messages?session_id=abcdefghijklmnop%00", {}),
        (client.get, f"/widget/{owner.widget_key}/messages?session_id=abcdefghijklmnopq&after=%00", {}),
        (owner.client.get, "/dashboard/conversations/%00", {}),
        (owner.client.get, "/dashboard/conversations?q=%00", {}),
        (client.post, "/login", {}),
    ]
    for call, url, headers in checks:
        kwargs = {"data": {"email": "a\x00@example.com", "password": "x"}} if url == "/login" else {}
        response = call(url, headers=headers, **kwargs)
        assert 400 <= response.status_code < 500, (url, response.status_code)
    response = client.post(f"/widget/{owner.widget_key}/feedback",
                           json={"session_id": "abcdefghijklmnopq", "message_id": "\x00", "value": "up"})
    assert response.status_code == 422


@pytest.mark.parametrize("field, value", [("From", "whatsapp:+" + "3" * 300), ("MessageSid", "SM" + "a" * 600),
                                          ("MessageSid", "SM%_\x01"), ("From", "whatsapp:+34\x00600")])
def test_whatsapp_ids_and_numbers_of_the_wrong_shape_are_400(app, client, make_company, field, value):
    make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID, twilio_auth_token=ACME_TOKEN)
    response = post(client, inbound(**{field: value}))
    assert response.status_code == 400
    assert stored(app, Message) == []


def test_a_status_callback_with_a_pattern_for_a_sid_matches_nothing(app, client, make_company, run_jobs):
    from tests.fakes.twilio_api import TwilioAPI

    make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID, twilio_auth_token=ACME_TOKEN)
    with TwilioAPI() as twilio:
        app.config["TWILIO_API_BASE_URL"] = twilio.url
        post(client, inbound())
        run_jobs()
    [reply] = stored(app, Message, role="assistant")
    assert reply.delivery_status == "sent"
    status_url = "https://support.example.com/api/webhooks/whatsapp/status/"
    for sid in ("%", "SM%", "_" * 34):
        report = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63016", "From": ACME_NUMBER,
                  "To": "whatsapp:+34600111222", "AccountSid": ACME_SID}
        response = post(client, report, url=status_url, path="/api/webhooks/whatsapp/status/")
        assert response.status_code in (204, 400)
    assert stored(app, Message, role="assistant")[0].delivery_status == "sent"


@pytest.mark.parametrize("field, value", [
    ("MessageID", 12345), ("From", ["maria@example.net"]), ("FromFull", "maria@example.net"),
    ("Subject", {"text": "hi"}), ("TextBody", 3.5), ("Headers", "Message-ID: <a@b>"), ("Headers", [["Name", "x"]]),
    ("ToFull", {"Email": "support@acme.example"}), ("Attachments", [{"ContentLength": "lots"}]),
    ("MailboxHash", False), ("MessageID", "x" * 1000),
])
def test_postmark_fields_of_the_wrong_type_are_400(app, client, make_company, field, value):
    app.config.update(POSTMARK_WEBHOOK_USER="postmark", POSTMARK_WEBHOOK_PASSWORD="s3cret-inbound-password")
    make_company("Acme Corp", inbound_email="support@acme.example")
    payload = postmark_inbound(to="support@acme.example")
    payload[field] = value
    response = client.post("/api/webhooks/email/", json=payload,
                           headers=auth_header("postmark", "s3cret-inbound-password"))
    assert response.status_code == 400, response.get_json()
    assert stored(app, Message) == []


def test_nul_characters_in_an_email_are_dropped_not_a_500(app, client, make_company):
    app.config.update(POSTMARK_WEBHOOK_USER="postmark", POSTMARK_WEBHOOK_PASSWORD="s3cret-inbound-password")
    make_company("Acme Corp", inbound_email="support@acme.example")
    payload = postmark_inbound(to="support@acme.example", subject="Ship\x00ping", text="Where\x00 is it?",
                               message_id=f"<{uuid.uuid4().hex}\x00@mail.example>")
    payload["FromName"] = payload["FromFull"]["Name"] = "Ma\x00ria"
    response = client.post("/api/webhooks/email/", json=payload,
                           headers=auth_header("postmark", "s3cret-inbound-password"))
    assert response.status_code == 200 and response.get_json() == {"status": "stored"}
    assert stored(app, Message)[0].content == "Where is it?"
