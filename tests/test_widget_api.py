"""The widget's endpoints with the Flask test client: key, origins, streaming, sessions, hand-off, limits."""

import json

import pytest

from tests.browser_support import make_user, staff  # noqa: F401  (fixtures)
from tests.conftest import FIXTURES

SITE = "https://www.acme.example"
SESSION = "visitor-session-0123456789"


def events(response):
    """Parse a server-sent-events body into [(event, data)]."""
    out = []
    for block in response.get_data(as_text=True).strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


@pytest.fixture
def widget(app, make_company):
    """A company allowing SITE, with policies.pdf ingested. Returns (company_id, widget_key)."""
    from app.infra.extensions import db
    from app.infra.models import Company

    company_id, _, _ = make_company("Acme Corp", allowed_origins=[SITE])
    with app.app_context():
        app.extensions["knowledge_base"].ingest(company_id, str(FIXTURES / "policies.pdf"))
        return company_id, db.session.get(Company, company_id).widget_key


def send(client, key, text, session_id=SESSION, origin=SITE):
    body = {"message": text}
    if session_id:
        body["session_id"] = session_id
    headers = {"Origin": origin} if origin else {}
    return client.post(f"/widget/{key}/messages", json=body, headers=headers)


# ----------------------------------------------------------------------------- the script
def test_widget_js_is_served(client):
    response = client.get("/widget.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    body = response.get_data(as_text=True)
    assert "data-widget-key" in body and "attachShadow" in body
    for html_sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert html_sink not in body  # visitor and AI text is never parsed as HTML
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


# ----------------------------------------------------------------------------- key and origin checks
def test_config_for_an_allowed_origin(client, widget, app):
    _, key = widget
    response = client.get(f"/widget/{key}/config", headers={"Origin": SITE})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SITE and "Origin" in response.headers["Vary"]
    assert response.get_json() == {"title": "Support", "company_name": "Acme Corp", "color": "#4f46e5",
                                   "greeting": "Hi! How can we help you today?"}


@pytest.mark.parametrize("key", ["wk_doesnotexist123456", "sk_secret", "x" * 300])
def test_invalid_widget_key_is_401_json(client, key):
    response = client.get(f"/widget/{key}/config", headers={"Origin": SITE})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_widget_key"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_secret_api_key_is_not_a_widget_key(client, make_company):
    _, api_key, _ = make_company()
    assert client.get(f"/widget/{api_key}/config").status_code == 401


def test_disallowed_origin_is_403(client, widget):
    _, key = widget
    for method, path in [("get", "config"), ("get", f"messages?session_id={SESSION}"), ("post", "messages"),
                         ("post", "handoff"), ("post", "feedback"), ("options", "messages")]:
        response = getattr(client, method)(f"/widget/{key}/{path}", json={"message": "hi"} if method == "post"
                                           else None, headers={"Origin": "https://evil.example"})
        assert response.status_code == 403, path
        assert response.get_json()["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in response.headers
    # Nothing was stored for the refused requests.
    assert client.get(f"/widget/{key}/messages?session_id={SESSION}").get_json()["messages"] == []


def test_empty_allow_list_denies_every_foreign_origin(client, make_company, app):
    from app.infra.extensions import db
    from app.infra.models import Company

    company_id, _, _ = make_company("Closed Co")
    with app.app_context():
        company = db.session.get(Company, company_id)
        assert company.allowed_origins == []
        key = company.widget_key
    for origin in ("https://www.acme.example", "http://localhost:3000", "null"):
        assert client.get(f"/widget/{key}/config", headers={"Origin": origin}).status_code == 403, origin
    # The app's own origins (the dashboard preview page, the public base URL) are fine.
    for origin in ("http://localhost", "https://support.example.com"):
        response = client.get(f"/widget/{key}/config", headers={"Origin": origin})
        assert response.status_code == 200, origin


def test_preflight_for_an_allowed_origin(client, widget):
    _, key = widget
    response = client.options(f"/widget/{key}/messages", headers={
        "Origin": SITE, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]


# ----------------------------------------------------------------------------- chatting
def test_streamed_answer_with_sources_and_a_lasting_session(client, widget):
    _, key = widget
    response = send(client, key, "How long does shipping to Europe take?", session_id=None)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    stream = events(response)
    kinds = [kind for kind, _ in stream]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("delta") > 3
    start, done = stream[0][1], stream[-1][1]
    text = "".join(data["text"] for kind, data in stream if kind == "delta")
    assert "7 to 10 business days" in text and done["response"] == text.strip()
    assert done["answered"] is True and done["sources"][0]["title"] == "policies.pdf"
    assert done["sources"][0]["page"] == 2
    session_id = start["session_id"]
    assert len(session_id) >= 16

    # The same session continues the same conversation (what localStorage keeps across reloads).
    second = events(send(client, key, "And what is the warranty?", session_id=session_id))
    assert second[0][1]["conversation_id"] == start["conversation_id"]
    history = client.get(f"/widget/{key}/messages?session_id={session_id}", headers={"Origin": SITE}).get_json()
    assert history["status"] == "active"
    assert [m["role"] for m in history["messages"]] == ["customer", "assistant", "customer", "assistant"]
    assert history["messages"][1]["sources"][0] == {"document_id": done["sources"][0]["document_id"],
                                                    "title": "policies.pdf", "page": 2}
    assert "snippet" not in history["messages"][1]["sources"][0]
    after = client.get(f"/widget/{key}/messages?session_id={session_id}&after={history['messages'][1]['id']}")
    assert [m["content"] for m in after.get_json()["messages"]][0] == "And what is the warranty?"


def test_unknown_session_has_no_messages_and_bad_input_is_422(client, widget):
    _, key = widget
    assert client.get(f"/widget/{key}/messages?session_id=unknown-session-123456").get_json() == \
        {"status": None, "messages": []}
    assert client.get(f"/widget/{key}/messages?session_id=short").status_code == 422
    assert send(client, key, "hi", session_id="bad id!").status_code == 422
    assert send(client, key, "   ").status_code == 422
    assert send(client, key, "x" * 4001).status_code == 422


def test_sessions_are_per_company(client, widget, make_company, app):
    from app.infra.extensions import db
    from app.infra.models import Company

    _, key = widget
    events(send(client, key, "How long does shipping take?"))
    other_id, _, _ = make_company("Other", allowed_origins=[SITE])
    with app.app_context():
        other_key = db.session.get(Company, other_id).widget_key
    # Another company's widget key cannot read this session's conversation.
    assert client.get(f"/widget/{other_key}/messages?session_id={SESSION}").get_json()["messages"] == []


def test_a_visitor_rates_answers_of_their_own_conversation_only(client, widget, app):
    from app.infra.extensions import db
    from app.infra.models import Message

    _, key = widget
    done = events(send(client, key, "How long does shipping to Europe take?"))[-1][1]
    response = client.post(f"/widget/{key}/feedback", headers={"Origin": SITE},
                           json={"session_id": SESSION, "message_id": done["reply_id"], "value": "down"})
    assert response.status_code == 200 and response.get_json()["feedback"] == "down"
    with app.app_context():
        assert db.session.get(Message, done["reply_id"]).feedback == "down"
    # Another visitor cannot rate it; only assistant messages can be rated; values are checked.
    assert client.post(f"/widget/{key}/feedback", json={"session_id": "someone-else-12345678",
                                                         "message_id": done["reply_id"], "value": "up"}
                       ).status_code == 404
    assert client.post(f"/widget/{key}/feedback", json={"session_id": SESSION, "message_id": done["reply_id"],
                                                         "value": "meh"}).status_code == 422


def test_talk_to_a_human_stops_the_ai(client, widget, app):
    from app.infra.extensions import db
    from app.infra.models import Conversation, Message

    company_id, key = widget
    events(send(client, key, "How long does shipping to Europe take?"))
    response = client.post(f"/widget/{key}/handoff", json={"session_id": SESSION}, headers={"Origin": SITE})
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == SITE
    body = response.get_json()
    assert body["status"] == "handed_off" and body["message"]["role"] == "system"

    stream = events(send(client, key, "What is the warranty?"))
    assert [kind for kind, _ in stream] == ["start", "done"]
    assert stream[-1][1]["reply_id"] is None and stream[-1][1]["handed_off"] is True
    with app.app_context():
        conv = db.session.get(Conversation, body["conversation_id"])
        assert conv.status == "handed_off"
        roles = [(m.role, m.content) for m in conv.messages]
        assert roles[-1] == ("customer", "What is the warranty?")  # stored…
        assert [r for r, _ in roles] == ["customer", "assistant", "system", "customer"]  # …with no AI reply
        assert db.session.query(Message).filter_by(conversation_id=conv.id, role="assistant").count() == 1


def test_talk_to_a_human_before_any_message(client, widget):
    _, key = widget
    body = client.post(f"/widget/{key}/handoff", json={}, headers={"Origin": SITE}).get_json()
    assert body["status"] == "handed_off" and len(body["session_id"]) >= 16
    again = client.post(f"/widget/{key}/handoff", json={"session_id": body["session_id"]}).get_json()
    assert again["conversation_id"] == body["conversation_id"] and again["message"] is None


def test_staff_reply_appears_in_the_widget(app, widget, make_user, client):
    from tests.browser_support import login

    company_id, key = widget
    start = events(send(client, key, "How long does shipping to Europe take?"))[0][1]
    client.post(f"/widget/{key}/handoff", json={"session_id": SESSION})
    before = client.get(f"/widget/{key}/messages?session_id={SESSION}").get_json()["messages"]

    staff_client = app.test_client()
    login(staff_client, make_user(company_id))
    response = staff_client.post(f"/dashboard/conversations/{start['conversation_id']}/reply",
                                 data={"content": "Hi! This is Sam. Your parcel ships today."})
    assert response.status_code == 302

    after = client.get(f"/widget/{key}/messages?session_id={SESSION}&after={before[-1]['id']}",
                       headers={"Origin": SITE}).get_json()
    assert after["status"] == "handed_off"
    assert [(m["role"], m["content"]) for m in after["messages"]] == [
        ("staff", "Hi! This is Sam. Your parcel ships today.")]


# ----------------------------------------------------------------------------- rate limits
def test_rate_limit_per_session_is_429_with_a_friendly_message(app, client, widget):
    _, key = widget
    app.config["WIDGET_RATE_LIMIT"] = "3/minute"
    for _ in range(3):
        assert send(client, key, "How long does shipping take?").status_code == 200
    response = send(client, key, "How long does shipping take?")
    assert response.status_code == 429
    error = response.get_json()["error"]
    assert error["code"] == "rate_limited" and error["message"] == \
        "Too many requests. Please wait a moment and try again."
    assert int(response.headers["Retry-After"]) > 0
    # The widget on the customer's site can read the answer (CORS) and the Retry-After header.
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    # Another visitor is not affected.
    assert send(client, key, "How long does shipping take?", session_id="another-visitor-1234567").status_code == 200


def test_rate_limit_per_address_catches_new_sessions(app, client, widget):
    _, key = widget
    app.config["WIDGET_IP_RATE_LIMIT"] = "4/minute"
    statuses = [send(client, key, "Hello", session_id=f"fresh-session-{n:010d}").status_code for n in range(5)]
    assert statuses == [200, 200, 200, 200, 429]


def test_polling_is_not_counted_against_sending(app, client, widget):
    _, key = widget
    app.config["WIDGET_RATE_LIMIT"] = "2/minute"
    for _ in range(10):
        assert client.get(f"/widget/{key}/messages?session_id={SESSION}").status_code == 200
    assert send(client, key, "Hello").status_code == 200
