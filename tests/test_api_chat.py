"""Chat API: answers with sources, sessions, streaming, feedback, conversations, isolation, limits."""

import json

import pytest

from tests.conftest import FIXTURES


@pytest.fixture
def acme(app, make_company):
    company_id, key, headers = make_company("Acme Outdoor", allowed_origins=["https://shop.acme.example"])
    with app.app_context():
        app.extensions["knowledge_base"].ingest(company_id, FIXTURES / "policies.pdf")
    return headers


def ask(client, headers, message, session_id=None):
    body = {"message": message} | ({"session_id": session_id} if session_id else {})
    response = client.post("/api/chat/message/", json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_session_continues_and_follow_up_uses_history(client, acme):
    first = ask(client, acme, "How long does shipping to Europe take?")
    assert first["answered"] and "7 to 10 business days" in first["response"]
    follow = ask(client, acme, "and how much does it cost?", first["session_id"])
    assert follow["conversation_id"] == first["conversation_id"]
    assert follow["answered"] and "25 dollars" in follow["response"]
    messages = client.get(f"/api/chat/conversations/{first['conversation_id']}/messages/", headers=acme).get_json()
    assert [m["role"] for m in messages["messages"]] == ["customer", "assistant", "customer", "assistant"]
    assert messages["messages"][1]["sources"][0]["page"] == 2


def test_unknown_question_gets_fallback(client, acme):
    answer = ask(client, acme, "What is the airspeed velocity of an unladen swallow?")
    assert not answer["answered"] and answer["sources"] == []
    assert "connect you with a human" in answer["response"]


def test_company_fallback_and_personality_settings_are_used(app, client, make_company):
    _, _, headers = make_company("Initech", fallback_message="Please email help@initech.example.")
    assert ask(client, headers, "Where is the moon?")["response"] == "Please email help@initech.example."


def test_stream_sends_deltas_then_sources(client, acme):
    response = client.post("/api/chat/message/stream/", json={"message": "How long do I have to return an item?"},
                           headers=acme)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = [(block.split("\n")[0][7:], json.loads(block.split("\n")[1][6:]))
              for block in response.get_data(as_text=True).strip().split("\n\n")]
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("delta") > 3
    text = "".join(data["text"] for kind, data in events if kind == "delta")
    done = events[-1][1]
    assert done["response"] == text.strip() and "30 days" in text
    assert done["answered"] and done["sources"][0]["page"] == 1
    history = client.get(f"/api/chat/conversations/{events[0][1]['conversation_id']}/messages/", headers=acme)
    assert [m["content"] for m in history.get_json()["messages"]][1] == done["response"]


def test_stream_validates_body(client, acme):
    response = client.post("/api/chat/message/stream/", json={"message": ""}, headers=acme)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_request"


def test_feedback_on_an_answer(client, acme):
    answer = ask(client, acme, "How long do I have to return an item?")
    url = f"/api/chat/conversations/{answer['conversation_id']}/feedback/"
    response = client.post(url, json={"message_id": answer["reply_id"], "value": "up"}, headers=acme)
    assert response.status_code == 200 and response.get_json() == {"message_id": answer["reply_id"], "feedback": "up"}
    assert client.post(url, json={"message_id": answer["reply_id"], "value": "meh"}, headers=acme).status_code == 422
    assert client.post(url, json={"message_id": answer["message_id"], "value": "up"}, headers=acme).status_code == 404


def test_conversation_list_filters_and_pages(client, acme):
    for i in range(3):
        ask(client, acme, f"Question number {i} about returns")
    page = client.get("/api/chat/conversations/?per_page=2&page=1", headers=acme).get_json()
    assert page["total"] == 3 and len(page["conversations"]) == 2
    assert len(client.get("/api/chat/conversations/?per_page=2&page=2", headers=acme).get_json()["conversations"]) == 1
    assert client.get("/api/chat/conversations/?channel=whatsapp", headers=acme).get_json()["total"] == 0
    assert client.get("/api/chat/conversations/?status=active", headers=acme).get_json()["total"] == 3
    assert client.get("/api/chat/conversations/?status=bogus", headers=acme).status_code == 422
    assert client.get("/api/chat/conversations/?page=0", headers=acme).status_code == 422


def test_another_companys_conversations_are_invisible(client, acme, make_company):
    _, _, globex = make_company("Globex")
    answer = ask(client, acme, "How long do I have to return an item?")
    assert client.get("/api/chat/conversations/", headers=globex).get_json()["total"] == 0
    cid = answer["conversation_id"]
    assert client.get(f"/api/chat/conversations/{cid}/messages/", headers=globex).status_code == 404
    response = client.post(f"/api/chat/conversations/{cid}/feedback/", headers=globex,
                           json={"message_id": answer["reply_id"], "value": "down"})
    assert response.status_code == 404
    # Acme's session id used with Globex's key opens a new Globex conversation, not Acme's.
    other = ask(client, globex, "hello there, what do you sell?", answer["session_id"])
    assert other["conversation_id"] != cid


def test_handed_off_conversation_is_not_answered_by_the_ai(app, client, acme):
    first = ask(client, acme, "How long do I have to return an item?")
    with app.app_context():
        from app.infra.extensions import db
        from app.infra.models import Conversation

        db.session.get(Conversation, first["conversation_id"]).status = "handed_off"
        db.session.commit()
    second = ask(client, acme, "And how long does shipping take?", first["session_id"])
    assert second["handed_off"] and second["response"] is None and second["reply_id"] is None


def test_invalid_bodies_are_422_never_500(client, acme):
    for body in [{}, {"message": ""}, {"message": "  \x00 "}, {"message": "x" * 4001}, {"message": 5}, {"message": "hi", "session_id": "../x"},
                 {"message": "hi", "extra": 1}, [], "text"]:
        response = client.post("/api/chat/message/", json=body, headers=acme)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["code"] == "invalid_request"
    response = client.post("/api/chat/message/", data="{not json", headers=acme | {"Content-Type": "application/json"})
    assert response.status_code == 422


def test_rate_limit_per_api_key_is_429_with_retry_after(app, client, acme, make_company):
    _, _, other = make_company("Other")
    app.config["API_RATE_LIMIT"] = "3/minute"
    statuses = [client.get("/api/knowledge/documents/", headers=acme).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/api/knowledge/documents/", headers=acme)
    assert limited.get_json()["error"]["code"] == "rate_limited" and int(limited.headers["Retry-After"]) > 0
    assert client.get("/api/knowledge/documents/", headers=other).status_code == 200  # another key, another bucket


def test_cors_only_for_the_companys_allowed_origins(client, acme):
    preflight = client.options("/api/chat/message/", headers={
        "Origin": "https://shop.acme.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 204 and "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    allowed = client.post("/api/chat/message/", json={"message": "returns?"},
                          headers=acme | {"Origin": "https://shop.acme.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.acme.example"
    foreign = client.post("/api/chat/message/", json={"message": "returns?"},
                          headers=acme | {"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    documents = client.get("/api/knowledge/documents/", headers=acme | {"Origin": "https://shop.acme.example"})
    assert "Access-Control-Allow-Origin" not in documents.headers  # only the chat endpoints are cross-origin


def test_openapi_document_and_browsable_page(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ["/api/knowledge/documents/upload/", "/api/knowledge/documents/", "/api/chat/message/",
                 "/api/chat/conversations/", "/api/chat/conversations/{conversation_id}/messages/",
                 "/api/chat/message/stream/"]:
        assert path in spec["paths"], path
    assert client.get("/api/docs/swagger/").status_code == 200
