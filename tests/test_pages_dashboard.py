"""Staff pages with the Flask test client: overview numbers, knowledge, conversations, settings, isolation."""

import io
import re

from rq.job import Job
from rq.serializers import JSONSerializer

from tests.browser_support import make_user, staff  # noqa: F401  (fixtures)
from tests.conftest import FIXTURES


# ----------------------------------------------------------------------------- helpers
def conversation(app, company_id, channel="web", customer_id="visitor-session-0001", name=None, status="active",
                 messages=()):
    """Store a conversation with (role, content[, answered[, sources[, feedback]]]) messages."""
    from app.infra.extensions import db
    from app.infra.models import Company, Message
    from app.services import intake

    with app.app_context():
        company = db.session.get(Company, company_id)
        conv = intake.get_or_create_conversation(company, channel, customer_id, customer_name=name)
        previous = None
        for spec in messages:
            role, content = spec[0], spec[1]
            if role == "customer":
                previous, _ = intake.record_customer_message(conv, content)
                db.session.flush()
                continue
            message = Message(conversation_id=conv.id, company_id=company_id, channel=channel, role=role,
                              content=content, answered=spec[2] if len(spec) > 2 else None,
                              sources=spec[3] if len(spec) > 3 else [], feedback=spec[4] if len(spec) > 4 else None,
                              reply_to_id=previous.id if role == "assistant" and previous else None)
            db.session.add(message)
            db.session.flush()
        conv.status = status
        db.session.commit()
        return conv.id


def html(response):
    return response.get_data(as_text=True)


def upload(client, files=(), **form):
    data = {"files": [(io.BytesIO(content), name) for name, content in files], **form}
    return client.post("/dashboard/knowledge/upload", data=data, content_type="multipart/form-data",
                       headers={"Accept": "application/json"})


SOURCE = {"document_id": "d1", "title": "policies.pdf", "page": 2, "chunk_id": "c1", "score": 0.9,
          "snippet": "Shipping to Europe takes 7 to 10 business days."}


# ----------------------------------------------------------------------------- overview
def test_overview_shows_the_numbers_and_knowledge_gaps(app, staff):
    owner = staff()
    cid = owner.company_id
    conversation(app, cid, customer_id="session-aaaaaaaaaaaa", messages=[
        ("customer", "How long does shipping take?"), ("assistant", "7 to 10 days.", True, [SOURCE], "up"),
        ("customer", "Do you sell gift cards?"), ("assistant", "Sorry, I don't know.", False, [], "down"),
    ])
    conversation(app, cid, customer_id="session-bbbbbbbbbbbb", status="handed_off", messages=[
        ("customer", "do you sell gift cards"), ("assistant", "Sorry, I don't know.", False),
        ("customer", "Can I pay with crypto?"), ("assistant", "Sorry, I don't know.", False),
    ])
    page = html(owner.client.get("/dashboard/"))
    stat = lambda name: re.search(rf'data-stat="{name}".*?class="value">(.*?)</div>', page, re.S).group(1)  # noqa
    assert stat("conversations-today").strip() == "2"
    assert stat("answered").strip() == "25%"  # 1 answered of 4 AI replies
    assert re.sub(r"<[^>]+>|\s", "", stat("feedback")) == "1/1"
    assert stat("documents").strip() == "0"
    gaps = re.search(r'id="knowledge-gaps".*?</section>', page, re.S).group(0)
    # Grouped case- and punctuation-insensitively, most asked first.
    assert gaps.lower().index("do you sell gift cards") < gaps.index("Can I pay with crypto?")
    assert "2×" in gaps and "How long does shipping take" not in gaps
    assert 'class="count" title="1 waiting' in page  # sidebar badge: one conversation waits for a person


def test_overview_of_an_empty_company(staff):
    page = html(staff().client.get("/dashboard/"))
    assert "No knowledge gaps yet" in page and "No conversations yet" in page


# ----------------------------------------------------------------------------- knowledge
def test_upload_several_files_then_they_are_processed(app, staff, run_jobs):
    owner = staff()
    response = upload(owner.client, [("policies.pdf", (FIXTURES / "policies.pdf").read_bytes()),
                                     ("care-guide.md", (FIXTURES / "care-guide.md").read_bytes())])
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["ok"] for r in results] == [True, True]
    assert {r["document"]["status"] for r in results} == {"pending"}

    status = owner.client.get("/dashboard/knowledge/documents.json").get_json()["documents"]
    assert sorted(d["title"] for d in status) == ["care-guide.md", "policies.pdf"]
    run_jobs()
    status = owner.client.get("/dashboard/knowledge/documents.json").get_json()["documents"]
    assert {d["status"] for d in status} == {"completed"} and all(d["progress"] == 100 for d in status)
    page = html(owner.client.get("/dashboard/knowledge"))
    assert "policies.pdf" in page and "Ready" in page
    assert "2" in re.search(r'data-stat="documents".*?class="value">(.*?)</div>',
                            html(owner.client.get("/dashboard/")), re.S).group(1)


def test_bad_files_are_explained_in_words(staff):
    owner = staff()
    response = upload(owner.client, [("logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), ("empty.txt", b""),
                                     ("notes.txt", b"Our office is open 9 to 5.")])
    results = {r["filename"]: r for r in response.get_json()["results"]}
    assert not results["logo.png"]["ok"] and "png image, which cannot be read" in results["logo.png"]["error"].lower()
    assert not results["empty.txt"]["ok"] and results["empty.txt"]["error"] == "The file is empty."
    assert results["notes.txt"]["ok"]

    response = upload(owner.client, [("setup.exe", b"MZ\x90\x00")])
    assert response.status_code == 200 and not response.get_json()["results"][0]["ok"]
    assert owner.client.get("/dashboard/knowledge/documents.json").get_json()["documents"][0]["title"] == "notes.txt"


def test_upload_without_javascript_flashes_the_outcome(staff):
    owner = staff()
    response = owner.client.post("/dashboard/knowledge/upload", content_type="multipart/form-data",
                                 data={"files": [(io.BytesIO(b"not a pdf at all"), "report.pdf")]},
                                 follow_redirects=True)
    page = html(response)
    assert response.status_code == 200 and "report.pdf:" in page and 'class="alert error"' in page


def test_pasted_text_and_failed_status_in_words(app, staff, run_jobs):
    owner = staff()
    response = upload(owner.client, text_title="Gift cards", text_content="Gift cards never expire.")
    assert response.get_json()["results"][0]["document"]["title"] == "Gift cards"
    assert upload(owner.client, text_title="", text_content="text").get_json()["results"][0]["error"] == \
        "Give the pasted text a title."
    upload(owner.client, [("scanned.pdf", (FIXTURES / "scanned.pdf").read_bytes())])
    run_jobs()
    docs = {d["title"]: d for d in owner.client.get("/dashboard/knowledge/documents.json").get_json()["documents"]}
    assert docs["Gift cards"]["status"] == "completed"
    assert docs["scanned.pdf"]["status"] == "failed" and "no extractable text" in docs["scanned.pdf"]["error_message"]
    assert "no extractable text" in html(owner.client.get("/dashboard/knowledge"))


def test_reindex_queues_the_document_again_and_delete_removes_its_chunks(app, staff, run_jobs, redis_conn):
    owner = staff()
    doc = upload(owner.client, text_title="Hours", text_content="We open at nine.").get_json()["results"][0]
    doc_id = doc["document"]["id"]
    run_jobs()
    response = owner.client.post(f"/dashboard/knowledge/{doc_id}/reindex")
    assert response.status_code == 302
    status = owner.client.get("/dashboard/knowledge/documents.json").get_json()["documents"][0]
    assert status["status"] == "pending"
    assert Job.fetch(f"ingest-{doc_id}", connection=redis_conn, serializer=JSONSerializer).get_status() == "queued"
    run_jobs()
    assert owner.client.get("/dashboard/knowledge/documents.json").get_json()["documents"][0]["status"] == "completed"

    response = owner.client.post(f"/dashboard/knowledge/{doc_id}/delete", follow_redirects=True)
    assert "Deleted Hours" in html(response)
    assert owner.client.get("/dashboard/knowledge/documents.json").get_json()["documents"] == []
    with app.app_context():
        assert app.extensions["knowledge_base"].retrieve(owner.company_id, "When do you open?") == []


# ----------------------------------------------------------------------------- conversations
def test_conversation_list_filters_by_channel_and_status_and_searches_messages(app, staff):
    owner = staff()
    cid = owner.company_id
    conversation(app, cid, customer_id="session-web-000000001", name="Maria Lopez",
                 messages=[("customer", "Where is my parcel?")])
    conversation(app, cid, channel="whatsapp", customer_id="whatsapp:+34600111222", status="handed_off",
                 messages=[("customer", "Hola, quiero devolver unas botas")])
    conversation(app, cid, channel="email", customer_id="lee@example.com", status="resolved",
                 messages=[("customer", "Invoice copy please")])

    def names(query=""):
        return html(owner.client.get("/dashboard/conversations" + query))

    page = names()
    assert "Maria Lopez" in page and "+34600111222" in page and "lee@example.com" in page
    assert "+34600111222" in names("?channel=whatsapp") and "Maria Lopez" not in names("?channel=whatsapp")
    assert "lee@example.com" in names("?status=resolved") and "Maria" not in names("?status=resolved")
    assert "Maria Lopez" in names("?q=maria") and "lee@" not in names("?q=maria")   # by name
    assert "+34600111222" in names("?q=botas") and "Maria" not in names("?q=botas")  # by message text
    assert "lee@example.com" in names("?q=LEE@") and "Maria" not in names("?q=LEE@")  # by customer id
    assert "No conversations match" in names("?q=100%25_off")  # LIKE wildcards are literal


def test_thread_shows_sources_and_fallback(app, staff):
    owner = staff()
    conv_id = conversation(app, owner.company_id, messages=[
        ("customer", "How long does shipping to Europe take?"),
        ("assistant", "Shipping to Europe takes 7 to 10 business days.", True, [SOURCE]),
        ("customer", "Gift cards?"), ("assistant", "Sorry, I don't know.", False)])
    page = html(owner.client.get(f"/dashboard/conversations/{conv_id}"))
    assert "7 to 10 business days" in page
    assert re.search(r'class="source"[^>]*>.*?policies\.pdf · p\. 2</span>', page, re.S)
    assert "Fallback" in page
    data = owner.client.get(f"/dashboard/conversations/{conv_id}/messages.json").get_json()
    assert [m["role"] for m in data["messages"]] == ["customer", "assistant", "customer", "assistant"]
    assert data["messages"][1]["sources"] == [{"title": "policies.pdf", "page": 2}]
    after = owner.client.get(f"/dashboard/conversations/{conv_id}/messages.json?after={data['messages'][1]['id']}")
    assert [m["content"] for m in after.get_json()["messages"]] == ["Gift cards?", "Sorry, I don't know."]


def test_take_over_reply_resolve_and_hand_back(app, staff, make_company, redis_conn):
    from app.infra.extensions import db
    from app.infra.models import Conversation, Message

    owner = staff()
    conv_id = conversation(app, owner.company_id, channel="whatsapp", customer_id="whatsapp:+15550001111",
                           messages=[("customer", "I need a person")])
    url = f"/dashboard/conversations/{conv_id}"
    assert owner.client.post(url + "/status", data={"status": "handed_off"}).status_code == 302
    with app.app_context():
        assert db.session.get(Conversation, conv_id).status == "handed_off"

    assert owner.client.post(url + "/reply", data={"content": "Hi, this is Sam from support."}).status_code == 302
    with app.app_context():
        staff_msg = db.session.query(Message).filter_by(conversation_id=conv_id, role="staff").one()
        assert staff_msg.channel == "whatsapp" and staff_msg.delivery_status == "queued"
    job = Job.fetch(f"deliver-{staff_msg.id}", connection=redis_conn, serializer=JSONSerializer)
    assert job.func_name == "workers.jobs.deliver_message" and job.args == [staff_msg.id]
    assert job.origin == "outbound"

    assert owner.client.post(url + "/reply", data={"content": "   "}, follow_redirects=True).status_code == 200
    owner.client.post(url + "/status", data={"status": "resolved"})
    owner.client.post(url + "/status", data={"status": "active"})
    assert owner.client.post(url + "/status", data={"status": "deleted"}).status_code == 400
    with app.app_context():
        conv = db.session.get(Conversation, conv_id)
        assert conv.status == "active"
        roles = [m.role for m in conv.messages]
        assert roles == ["customer", "system", "staff", "system", "system"]
    page = html(owner.client.get(url))
    assert "Hi, this is Sam from support." in page and "The AI assistant is answering again." in page


def test_replying_takes_over_an_ai_conversation(app, staff):
    from app.infra.extensions import db
    from app.infra.models import Conversation

    owner = staff()
    conv_id = conversation(app, owner.company_id, messages=[("customer", "Hello")])
    owner.client.post(f"/dashboard/conversations/{conv_id}/reply", data={"content": "Hello from a person"})
    with app.app_context():
        assert db.session.get(Conversation, conv_id).status == "handed_off"


def test_messages_are_escaped_no_script_injection(app, staff):
    owner = staff()
    evil = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    conv_id = conversation(app, owner.company_id, name='<b onmouseover="x()">Eve</b>', messages=[
        ("customer", evil), ("assistant", "Sorry, I don't know.", False)])
    for path in ("/dashboard/", "/dashboard/conversations", f"/dashboard/conversations/{conv_id}",
                 "/dashboard/conversations?q=script"):
        page = html(owner.client.get(path))
        assert "<script>alert" not in page and "<img src=x" not in page and '<b onmouseover' not in page, path
        assert "&lt;b onmouseover=&#34;x()&#34;&gt;Eve&lt;/b&gt;" in page, path  # the customer's name
        if "conversations/" in path or path == "/dashboard/":  # the thread, and the knowledge gaps
            assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page


# ----------------------------------------------------------------------------- settings
def test_settings_are_saved_and_bad_values_are_explained_without_saving(app, staff):
    from app.infra.extensions import db
    from app.infra.models import Company

    owner = staff()
    client = owner.client
    assert client.post("/dashboard/settings/assistant", data={
        "personality": "Warm and brief.", "fallback_message": "Let me find a person for you."}).status_code == 302
    response = client.post("/dashboard/settings/widget", data={
        "widget_title": "Acme Help", "widget_color": "#0EA5E9", "widget_greeting": "Hello there!",
        "allowed_origins": "https://www.acme.example/\nhttp://localhost:8080 https://www.acme.example"})
    assert response.status_code == 302
    with app.app_context():
        company = db.session.get(Company, owner.company_id)
        assert company.personality == "Warm and brief." and company.widget_color == "#0ea5e9"
        assert company.allowed_origins == ["https://www.acme.example", "http://localhost:8080"]

    response = client.post("/dashboard/settings/widget", data={
        "widget_title": "", "widget_color": "blue", "widget_greeting": "Hi",
        "allowed_origins": "www.acme.example\nhttps://acme.example/path"})
    page = html(response)
    assert response.status_code == 422
    for text in ("title is empty", "colour must look like", "www.acme.example is not an origin",
                 "https://acme.example/path is not an origin"):
        assert text in page
    with app.app_context():
        assert db.session.get(Company, owner.company_id).widget_title == "Acme Help"  # unchanged


def test_secrets_are_write_only(app, staff):
    from app.infra.extensions import db
    from app.infra.models import Company

    owner = staff()
    page = html(owner.client.get("/dashboard/settings"))
    assert page.count(">not set<") == 2
    response = owner.client.post("/dashboard/settings/channels", data={
        "whatsapp_number": "+1 415 523 8886", "twilio_account_sid": "AC" + "a1" * 16,
        "twilio_auth_token": "tw-secret-token-value", "inbound_email": "Support@Acme.example",
        "postmark_from_email": "help@acme.example", "postmark_server_token": "pm-secret-token-value"})
    assert response.status_code == 302
    page = html(owner.client.get("/dashboard/settings"))
    assert "tw-secret-token-value" not in page and "pm-secret-token-value" not in page
    assert page.count(">set<") == 2 and "+14155238886" in page
    with app.app_context():
        company = db.session.get(Company, owner.company_id)
        assert company.whatsapp_number == "whatsapp:+14155238886" and company.twilio_auth_token == "tw-secret-token-value"
        # A custom inbound address waits for its proof (tests/test_tenant_boundaries.py).
        assert company.inbound_email is None and company.inbound_email_pending == "support@acme.example"

    # A blank secret keeps the stored value; "remove it" clears it; errors never echo secrets.
    owner.client.post("/dashboard/settings/channels", data={
        "whatsapp_number": "+14155238886", "twilio_account_sid": "AC" + "a1" * 16, "twilio_auth_token": "",
        "inbound_email": "support@acme.example", "clear_postmark_server_token": "1"})
    with app.app_context():
        company = db.session.get(Company, owner.company_id)
        assert company.twilio_auth_token == "tw-secret-token-value" and company.postmark_server_token is None
    response = owner.client.post("/dashboard/settings/channels", data={
        "whatsapp_number": "12", "twilio_auth_token": "another-secret-value"})
    assert response.status_code == 422 and "another-secret-value" not in html(response)
    assert "international format" in html(response)


def test_channel_addresses_must_be_unique(app, staff):
    staff("First", inbound_email="help@shared.example", whatsapp_number="whatsapp:+14155550100")
    second = staff("Second")
    response = second.client.post("/dashboard/settings/channels", data={"inbound_email": "help@shared.example"})
    assert response.status_code == 409 and "already used by another company" in html(response)
    response = second.client.post("/dashboard/settings/channels", data={"whatsapp_number": "+1 415 555 0100"})
    assert response.status_code == 409 and "already used by another company" in html(response)


def test_widget_snippet_has_the_real_host_and_public_key_only(app, staff):
    owner = staff()
    page = html(owner.client.get("/dashboard/settings"))
    snippet = (f'&lt;script src=&#34;https://support.example.com/widget.js&#34; '
               f'data-widget-key=&#34;{owner.widget_key}&#34; async&gt;&lt;/script&gt;')
    assert snippet in page
    secret = owner.api_headers["Authorization"].split()[1]
    assert secret.startswith("sk_") and secret not in page  # no secret API key in the page
    preview = html(owner.client.get("/dashboard/widget-preview"))
    assert f'src="/widget.js" data-widget-key="{owner.widget_key}"' in preview


def test_api_keys_shown_once_and_revocable(app, staff, client):
    owner = staff()
    page = html(owner.client.post("/dashboard/settings/api-keys", data={"name": "Helpdesk"}))
    key = re.search(r'id="new-key-value">(sk_[A-Za-z0-9_-]+)<', page).group(1)
    assert client.get("/api/knowledge/documents/", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    page = html(owner.client.get("/dashboard/settings"))
    assert key not in page and key[:10] + "…" in page and "Helpdesk" in page

    key_id = re.search(r'<tr data-id="([0-9a-f-]+)">\s*<td><strong>Helpdesk', page).group(1)
    assert owner.client.post(f"/dashboard/settings/api-keys/{key_id}/revoke").status_code == 302
    assert client.get("/api/knowledge/documents/", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert "Revoked" in html(owner.client.get("/dashboard/settings"))


# ----------------------------------------------------------------------------- tenant isolation
def test_another_companys_ids_are_404_everywhere(app, staff, run_jobs):
    from app.infra.extensions import db
    from app.infra.models import ApiKey, Company, Conversation, Document

    mine, theirs = staff("Mine"), staff("Theirs")
    doc_id = upload(theirs.client, text_title="Secret plan", text_content="Top secret content.").get_json()[
        "results"][0]["document"]["id"]
    run_jobs()
    conv_id = conversation(app, theirs.company_id, messages=[("customer", "their private question")])
    with app.app_context():
        key_id = db.session.query(ApiKey).filter_by(company_id=theirs.company_id).first().id

    c = mine.client
    for method, path, data in [
        ("get", f"/dashboard/conversations/{conv_id}", None),
        ("get", f"/dashboard/conversations/{conv_id}/messages.json", None),
        ("post", f"/dashboard/conversations/{conv_id}/status", {"status": "resolved"}),
        ("post", f"/dashboard/conversations/{conv_id}/reply", {"content": "hijack"}),
        ("post", f"/dashboard/knowledge/{doc_id}/reindex", {}),
        ("post", f"/dashboard/knowledge/{doc_id}/delete", {}),
        ("post", f"/dashboard/settings/api-keys/{key_id}/revoke", {}),
    ]:
        response = getattr(c, method)(path, data=data)
        assert response.status_code == 404, path
    # Nothing of theirs leaks into my lists, and nothing of theirs changed.
    assert "their private question" not in html(c.get("/dashboard/conversations?q=private"))
    assert "Secret plan" not in html(c.get("/dashboard/knowledge"))
    assert c.get("/dashboard/knowledge/documents.json").get_json()["documents"] == []
    assert "their private question" not in html(c.get("/dashboard/"))
    with app.app_context():
        assert db.session.get(Conversation, conv_id).status == "active"
        assert db.session.get(Document, doc_id).status == "completed"
        assert db.session.get(ApiKey, key_id).revoked_at is None
        assert db.session.get(Company, theirs.company_id).name == "Theirs"
