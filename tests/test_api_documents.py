"""Knowledge API: upload → worker → completed, errors, isolation, delete."""

import io

import pytest

from tests.conftest import FIXTURES


def upload(client, headers, path=None, data=None, filename=None, title=None):
    payload = {"file": (io.BytesIO(data if data is not None else path.read_bytes()), filename or path.name)}
    if title:
        payload["title"] = title
    return client.post("/api/knowledge/documents/upload/", data=payload, headers=headers,
                       content_type="multipart/form-data")


def test_pdf_upload_is_processed_by_a_worker(client, make_company, run_jobs):
    _, _, headers = make_company()
    response = upload(client, headers, FIXTURES / "policies.pdf")
    assert response.status_code == 202
    document = response.get_json()
    assert document["status"] == "pending" and document["source_type"] == "pdf"
    listed = client.get("/api/knowledge/documents/", headers=headers).get_json()["documents"]
    assert [(d["title"], d["source_type"], d["chunk_count"]) for d in listed] == [("policies.pdf", "pdf", 0)]

    run_jobs()
    document = client.get(f"/api/knowledge/documents/{document['id']}/", headers=headers).get_json()
    assert document["status"] == "completed" and document["progress"] == 100 and document["chunk_count"] >= 3

    answer = client.post("/api/chat/message/", json={"message": "How long does shipping to Europe take?"},
                         headers=headers).get_json()
    assert answer["answered"] and "7 to 10 business days" in answer["response"]
    assert answer["sources"][0]["title"] == "policies.pdf" and answer["sources"][0]["page"] == 2
    assert answer["sources"][0]["document_id"] == document["id"]


def test_pasted_text_document(client, make_company, run_jobs):
    _, _, headers = make_company()
    response = client.post("/api/knowledge/documents/upload/", headers=headers,
                           json={"title": "Gift cards", "content": "Gift cards never expire."})
    assert response.status_code == 202 and response.get_json()["title"] == "Gift cards"
    run_jobs()
    listed = client.get("/api/knowledge/documents/", headers=headers).get_json()
    assert listed["total"] == 1 and listed["documents"][0]["status"] == "completed"


def test_same_content_twice_returns_the_existing_document(client, make_company):
    _, _, headers = make_company()
    first = upload(client, headers, FIXTURES / "faq.html")
    second = upload(client, headers, FIXTURES / "faq.html")
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.get_json()["id"] == second.get_json()["id"]


def test_reindexing_the_same_file_leaves_the_engine_alone(app, client, make_company, run_jobs):
    company_id, _, headers = make_company()
    doc = upload(client, headers, FIXTURES / "faq.html").get_json()
    run_jobs()
    kb = app.extensions["knowledge_base"]
    indexed = kb.get_document(company_id, doc["id"])
    with app.app_context():
        from app.infra.extensions import db
        from app.infra.models import Document
        from app.services.uploads import request_reindex

        request_reindex(db.session.get(Document, doc["id"]))
        db.session.commit()
    assert client.get(f"/api/knowledge/documents/{doc['id']}/", headers=headers).get_json()["chunk_count"] == \
        indexed.chunk_count  # the engine still holds it while it is queued again
    run_jobs()
    document = client.get(f"/api/knowledge/documents/{doc['id']}/", headers=headers).get_json()
    assert document["status"] == "completed" and document["chunk_count"] == indexed.chunk_count
    assert document["source_type"] == "html" and document["title"] == "faq.html"
    assert kb.get_document(company_id, doc["id"]) == indexed  # "unchanged": not written again


def test_unreadable_pdf_ends_failed_with_the_reason(client, make_company, run_jobs):
    _, _, headers = make_company()
    doc = upload(client, headers, FIXTURES / "scanned.pdf").get_json()
    run_jobs()
    doc = client.get(f"/api/knowledge/documents/{doc['id']}/", headers=headers).get_json()
    assert doc["status"] == "failed" and "no extractable text" in doc["error_message"]


@pytest.mark.parametrize("data, filename, status, code", [
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "logo.png", 415, "unsupported_type"),
    (b"MZ\x90\x00", "setup.exe", 415, "unsupported_type"),
    (b"", "empty.txt", 422, "empty_file"),
    (b"not a pdf at all", "report.pdf", 422, "corrupt"),
])
def test_bad_uploads_get_clear_errors(client, make_company, data, filename, status, code):
    _, _, headers = make_company()
    response = upload(client, headers, data=data, filename=filename)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code and response.get_json()["error"]["message"]
    assert client.get("/api/knowledge/documents/", headers=headers).get_json()["total"] == 0


def test_oversized_upload_is_413(app, client, make_company):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    _, _, headers = make_company()
    response = upload(client, headers, data=b"a" * 4096, filename="big.txt")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_missing_file_field_and_invalid_json_are_422(client, make_company):
    _, _, headers = make_company()
    response = client.post("/api/knowledge/documents/upload/", data={"title": "x"}, headers=headers,
                           content_type="multipart/form-data")
    assert response.status_code == 422
    response = client.post("/api/knowledge/documents/upload/", json={"title": ""}, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_request"


def test_delete_removes_the_chunks(client, make_company, run_jobs):
    _, _, headers = make_company()
    doc = upload(client, headers, FIXTURES / "policies.pdf").get_json()
    run_jobs()
    assert client.delete(f"/api/knowledge/documents/{doc['id']}/", headers=headers).status_code == 204
    assert client.get(f"/api/knowledge/documents/{doc['id']}/", headers=headers).status_code == 404
    answer = client.post("/api/chat/message/", json={"message": "How long does shipping to Europe take?"},
                         headers=headers).get_json()
    assert not answer["answered"] and answer["sources"] == []


def test_another_companys_documents_are_invisible(client, make_company, run_jobs):
    _, _, acme = make_company("Acme")
    _, _, globex = make_company("Globex")
    doc = upload(client, acme, FIXTURES / "policies.pdf").get_json()
    run_jobs()
    assert client.get("/api/knowledge/documents/", headers=globex).get_json()["total"] == 0
    for method in ("get", "delete"):
        response = getattr(client, method)(f"/api/knowledge/documents/{doc['id']}/", headers=globex)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    answer = client.post("/api/chat/message/", json={"message": "How long does shipping to Europe take?"},
                         headers=globex).get_json()
    assert not answer["answered"]
    assert client.get(f"/api/knowledge/documents/{doc['id']}/", headers=acme).get_json()["status"] == "completed"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "}])
def test_missing_or_invalid_key_is_401(client, make_company, headers):
    make_company()
    for method, path in [("get", "/api/knowledge/documents/"), ("post", "/api/chat/message/"),
                         ("get", "/api/chat/conversations/")]:
        response = getattr(client, method)(path, headers=headers, json={"message": "hi"})
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_revoked_key_is_401(app, client, make_company):
    company_id, key, headers = make_company()
    with app.app_context():
        from app.infra.extensions import db
        from app.infra.models import ApiKey, now

        db.session.query(ApiKey).filter_by(company_id=company_id).update({"revoked_at": now()})
        db.session.commit()
    assert client.get("/api/knowledge/documents/", headers=headers).status_code == 401
