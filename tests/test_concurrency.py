"""Concurrency: one conversation per (company, channel, customer) whatever arrives at once, enforced by the
database; and never an AI answer after a person took the conversation over, even mid-answer.

Real threads against the real app and PostgreSQL (each thread its own test client and connection).
"""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from app.infra.models import Conversation, Message
from tests.test_channel_whatsapp import ACME_NUMBER, ACME_SID, ACME_TOKEN, inbound, post


def all_at_once(app, calls):
    """Run each call(client) in its own thread, released together; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(index, call):
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            results[index] = call(client)
        except Exception as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def count(app, model, **filters):
    from app.infra.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).filter_by(**filters))


@pytest.fixture
def acme(app, make_company):
    company_id, _, headers = make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID,
                                          twilio_auth_token=ACME_TOKEN)
    return company_id, headers


def test_ten_concurrent_whatsapp_messages_from_a_new_number_make_one_conversation(app, acme):
    sender = "whatsapp:+34600999888"
    forms = [inbound(f"Question {i}", sender=sender) for i in range(10)]
    responses = all_at_once(app, [lambda client, form=form: post(client, form) for form in forms])
    assert [r.status_code for r in responses] == [200] * 10
    assert count(app, Conversation, customer_id=sender) == 1
    assert count(app, Message, role="customer") == 10


def test_concurrent_api_messages_with_one_session_make_one_conversation(app, acme):
    _, headers = acme
    session_id = "s-" + uuid.uuid4().hex
    responses = all_at_once(app, [
        lambda client, i=i: client.post("/api/chat/message/", headers=headers,
                                        json={"message": f"Hello {i}", "session_id": session_id})
        for i in range(6)])
    assert [r.status_code for r in responses] == [200] * 6
    assert {r.get_json()["conversation_id"] for r in responses} == {responses[0].get_json()["conversation_id"]}
    assert count(app, Conversation, channel="web") == 1


def test_after_a_takeover_no_concurrent_message_is_answered_by_the_ai(app, acme):
    from app.infra.extensions import db

    _, headers = acme
    session_id = "s-" + uuid.uuid4().hex
    first = app.test_client().post("/api/chat/message/", headers=headers,
                                   json={"message": "Hi", "session_id": session_id}).get_json()
    with app.app_context():
        db.session.get(Conversation, first["conversation_id"]).status = "handed_off"
        db.session.commit()
    responses = all_at_once(app, [
        lambda client, i=i: client.post("/api/chat/message/", headers=headers,
                                        json={"message": f"Anyone there? {i}", "session_id": session_id})
        for i in range(6)])
    assert all(r.get_json()["handed_off"] and r.get_json()["response"] is None for r in responses)
    assert count(app, Conversation, channel="web") == 1
    assert count(app, Message, role="assistant") == 1  # the answer to "Hi", before the takeover


def test_a_takeover_during_the_ais_answer_wins(app, acme, monkeypatch):
    """The worker is half-way through answering when staff take over: its answer is dropped, not sent."""
    from app.infra.extensions import db
    from app.services import handover
    from workers.jobs import answer_message

    post(app.test_client(), inbound("How long does shipping to Europe take?"))
    with app.app_context():
        message_id = db.session.scalars(select(Message.id).where(Message.role == "customer")).one()
    kb = app.extensions["knowledge_base"]
    answering, release = threading.Event(), threading.Event()
    real_answer = kb.answer

    def slow_answer(*args, **kwargs):
        answering.set()
        assert release.wait(30)
        return real_answer(*args, **kwargs)

    monkeypatch.setattr(kb, "answer", slow_answer)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("job", answer_message(message_id)))
    worker.start()
    assert answering.wait(30)
    with app.app_context():  # staff take over while the answer is being produced
        handover.set_status(db.session.scalars(select(Conversation)).one(), "handed_off")
        db.session.commit()
    release.set()
    worker.join(60)
    assert outcome["job"] == "not answered (handed off to a human)"
    assert count(app, Message, role="assistant") == 0


def test_a_reply_not_yet_sent_when_staff_take_over_is_not_sent(app, acme, run_jobs):
    from app.infra.extensions import db
    from app.services import handover
    from tests.fakes.twilio_api import TwilioAPI

    post(app.test_client(), inbound("How long does shipping to Europe take?"))
    from workers.jobs import answer_message

    with app.app_context():
        message_id = db.session.scalars(select(Message.id).where(Message.role == "customer")).one()
    assert answer_message(message_id) == "answered"  # answered, its delivery queued…
    with app.app_context():  # …and taken over before a worker sent it
        handover.set_status(db.session.scalars(select(Conversation)).one(), "handed_off")
        db.session.commit()
    with TwilioAPI() as twilio:
        app.config["TWILIO_API_BASE_URL"] = twilio.url
        run_jobs()
        assert twilio.attempts == []
    with app.app_context():
        reply = db.session.scalars(select(Message).where(Message.role == "assistant")).one()
        assert reply.delivery_status == "skipped" and "took the conversation over" in reply.delivery_error


def test_the_migration_merges_conversations_duplicated_before_the_index(app, acme):
    from flask_migrate import downgrade, upgrade

    from app.infra.extensions import db

    company_id, _ = acme
    with app.app_context():
        directory = app.extensions["migrate"].directory
        downgrade(directory=directory, revision="b7e2f4c9a310-1")  # just before the index
        ids = [str(uuid.uuid4()) for _ in range(3)]
        for n, (conversation_id, status) in enumerate(zip(ids, ["active", "handed_off", "active"])):
            db.session.execute(sa.text(
                "INSERT INTO conversations (id, company_id, channel, customer_id, status, created_at, updated_at, "
                "last_message_at) VALUES (:id, :c, 'whatsapp', 'whatsapp:+34600000001', :s, now() + make_interval("
                "secs => :n), now(), now())"), {"id": conversation_id, "c": company_id, "s": status, "n": n})
            db.session.execute(sa.text(
                "INSERT INTO messages (id, conversation_id, company_id, channel, role, content, sources, attempts, "
                "created_at, updated_at) VALUES (:m, :id, :c, 'whatsapp', 'customer', :t, '[]', 0, now(), now())"),
                {"m": str(uuid.uuid4()), "id": conversation_id, "c": company_id, "t": f"message {n}"})
        db.session.commit()
        upgrade(directory=directory)
        rows = db.session.execute(sa.text("SELECT id, status FROM conversations")).all()
        assert [(r.id, r.status) for r in rows] == [(ids[0], "handed_off")]  # the oldest, taken over
        assert db.session.scalar(sa.text("SELECT count(*) FROM messages WHERE conversation_id = :k"),
                                 {"k": ids[0]}) == 3
