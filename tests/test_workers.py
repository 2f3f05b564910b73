"""Workers: a worker killed mid-job leaves nothing stuck; lost jobs are recovered; CLI commands."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import FIXTURES


def big_text(paragraphs=160):
    topics = ["returns", "shipping", "warranty", "membership", "gift cards", "repairs", "rentals", "events"]
    return "\n\n".join(
        f"Section {i}. Our {topics[i % len(topics)]} policy, clause {i}: customers in region {i % 17} may ask for "
        f"assistance number {i * 7} within {i % 30 + 1} days, and the store in district {i % 11} keeps records "
        f"for {i % 5 + 1} years according to internal rule {i * 13}." for i in range(paragraphs))


def worker_env(app, redis_conn):
    env = dict(os.environ)
    env.update(DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=f"unix://{redis_conn.socket_file}",
               RAG_DATA_DIR=str(app.config["DATA_DIR"]), UPLOAD_DIR=str(app.config["UPLOAD_DIR"]),
               SECRET_KEY="test", EMBED_BATCH_SIZE="4")
    return env


def document_state(app, document_id):
    with app.app_context():
        from app.infra.extensions import db
        from app.infra.models import Document

        db.session.expire_all()
        doc = db.session.get(Document, document_id)
        return doc.status, doc.chunks_done, doc.worker_id


def test_worker_killed_mid_ingestion_is_recovered_on_restart(app, client, make_company, redis_conn):
    _, _, headers = make_company()
    doc = client.post("/api/knowledge/documents/upload/", headers=headers,
                      json={"title": "handbook", "content": big_text()}).get_json()
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"], env=worker_env(app, redis_conn),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, done, worker_id = document_state(app, doc["id"])
            if status == "processing" and done > 0:
                break
            assert worker.poll() is None, "worker exited early"
            time.sleep(0.2)
        else:
            pytest.fail("the worker never started processing")
        os.killpg(worker.pid, signal.SIGKILL)  # the worker dies mid-job
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    status, _, worker_id = document_state(app, doc["id"])
    assert status == "processing" and worker_id.endswith(f":{worker.pid}")

    from workers.cli import run_worker

    run_worker(app, burst=True)  # a new worker starts: recovery, then the queue
    status, done, _ = document_state(app, doc["id"])
    response = client.get(f"/api/knowledge/documents/{doc['id']}/", headers=headers).get_json()
    assert response["status"] == "completed" and response["chunk_count"] == done > 0
    kb = app.extensions["knowledge_base"]
    company_id = response_company_id(app, doc["id"])
    assert kb.store.tenant_chunk_count(company_id) == done  # one complete copy, nothing half-written
    hit = kb.retrieve(company_id, "internal rule 1300", mode="text", top_k=1)[0]
    assert hit.document_id == doc["id"] and "rule 1300" in hit.text


def response_company_id(app, document_id):
    with app.app_context():
        from app.infra.extensions import db
        from app.infra.models import Document

        return db.session.get(Document, document_id).company_id


def test_documents_whose_jobs_were_lost_are_queued_again(app, client, make_company, redis_conn):
    _, _, headers = make_company()
    doc = client.post("/api/knowledge/documents/upload/", headers=headers,
                      json={"title": "hours", "content": "We are open 9 to 5."}).get_json()
    redis_conn.flushdb()  # Redis lost its data before any worker ran
    from workers.cli import run_worker

    run_worker(app, burst=True)
    assert client.get(f"/api/knowledge/documents/{doc['id']}/", headers=headers).get_json()["status"] == "completed"


def test_transient_failure_is_retried_then_fails_with_a_reason(app, client, make_company, run_jobs, redis_conn,
                                                                   monkeypatch):
    _, _, headers = make_company()
    kb = app.extensions["knowledge_base"]

    def broken(*args, **kwargs):
        raise ConnectionError("database went away")

    monkeypatch.setattr(kb, "ingest", broken)
    doc = client.post("/api/knowledge/documents/upload/", headers=headers,
                      json={"title": "hours", "content": "We are open 9 to 5."}).get_json()
    run_jobs()
    state = client.get(f"/api/knowledge/documents/{doc['id']}/", headers=headers).get_json()
    assert state["status"] == "pending" and "Retrying" in state["error_message"]  # a retry is scheduled
    with app.app_context():
        from rq.job import Job
        from rq.serializers import JSONSerializer

        job = Job.fetch(f"ingest-{doc['id']}", connection=redis_conn, serializer=JSONSerializer)
        assert job.get_status() == "scheduled" and job.retries_left == 2
        job.retries_left = 0  # the last attempt
        job.save()
        from app.infra.queues import get_queue

        get_queue("ingest", redis_conn).scheduled_job_registry.remove(job)
        get_queue("ingest", redis_conn).enqueue_job(job)
    run_jobs()
    state = client.get(f"/api/knowledge/documents/{doc['id']}/", headers=headers).get_json()
    assert state["status"] == "failed" and "temporary error" in state["error_message"]


def test_permanent_failure_is_not_retried(app, client, make_company, run_jobs, redis_conn):
    _, _, headers = make_company()
    data = {"file": ((FIXTURES / "encrypted.pdf").open("rb"), "secret.pdf")}
    doc = client.post("/api/knowledge/documents/upload/", headers=headers, data=data,
                      content_type="multipart/form-data").get_json()
    run_jobs()
    state = client.get(f"/api/knowledge/documents/{doc['id']}/", headers=headers).get_json()
    assert state["status"] == "failed" and "password-protected" in state["error_message"]
    with app.app_context():
        from app.infra.queues import get_queue

        assert get_queue("ingest", redis_conn).scheduled_job_registry.count == 0


def flask_cli(app, *args):
    runner = app.test_cli_runner()
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_companies_users_and_queue_health(app, client):
    output = flask_cli(app, "companies", "create", "Acme Corp")
    key = output.strip().splitlines()[-1]
    assert key.startswith("sk_") and "acme-corp" in output
    assert client.get("/api/knowledge/documents/", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    second = flask_cli(app, "companies", "create", "Acme Corp")
    assert "acme-corp-2" in second

    out = flask_cli(app, "companies", "set", "acme-corp", "--whatsapp-number", "+14155238886",
                    "--twilio-auth-token", "secret-token", "--inbound-email", "Support@Acme.example",
                    "--allowed-origin", "https://shop.acme.example/")
    assert "secret-token" not in out
    with app.app_context():
        from app.infra.extensions import db
        from app.infra.models import Company

        company = db.session.query(Company).filter_by(slug="acme-corp").one()
        assert company.whatsapp_number == "whatsapp:+14155238886"
        assert company.inbound_email == "support@acme.example"
        assert company.allowed_origins == ["https://shop.acme.example"]

    assert "Created owner" in flask_cli(app, "users", "create", "--company", "acme-corp", "--email",
                                        "Owner@Acme.example", "--password", "correct horse")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create", "--company", "nope", "--email", "a@b.c",
                               "--password", "12345678"]).exit_code != 0
    health = flask_cli(app, "queues", "health")
    assert "ingest" in health and "answer" in health and "outbound" in health


def test_recovery_skips_messages_a_human_already_answered(app, make_company, redis_conn):
    company_id, _, _ = make_company()
    with app.app_context():
        from app.infra.extensions import db
        from app.infra.models import Company
        from app.services import intake, replies
        from workers.recovery import recover_messages

        company = db.session.get(Company, company_id)
        conversation = intake.get_or_create_conversation(company, "whatsapp", "whatsapp:+15550001")
        intake.record_customer_message(conversation, "Is my order late?", channel_message_id="SM-old")
        db.session.commit()
        first = intake.record_customer_message(conversation, "Hello?", channel_message_id="SM-new")[0]
        db.session.commit()
        replies.add_staff_message(conversation, "Yes, it ships tomorrow.")
        db.session.commit()
        intake.record_customer_message(conversation, "Thanks! And returns?", channel_message_id="SM-last")
        db.session.commit()
        redis_conn.flushdb()
        # Only the message after the staff reply is still waiting for an answer (+ the staff reply's delivery).
        assert recover_messages() == 2
        assert first.delivery_status == "received"


def test_a_provider_message_id_of_another_company_is_never_reused(app, make_company):
    acme_id, _, _ = make_company("Acme")
    globex_id, _, _ = make_company("Globex")
    with app.app_context():
        from app.domain_errors import ForeignMessageId
        from app.infra.extensions import db
        from app.infra.models import Company, Message
        from app.services import intake

        acme, globex = db.session.get(Company, acme_id), db.session.get(Company, globex_id)
        ours = intake.get_or_create_conversation(acme, "whatsapp", "whatsapp:+15550002")
        intake.record_customer_message(ours, "Where is my order?", channel_message_id="SM-shared")
        db.session.commit()
        theirs = intake.get_or_create_conversation(globex, "whatsapp", "whatsapp:+15550003")
        with pytest.raises(ForeignMessageId):
            intake.record_customer_message(theirs, "Hi", channel_message_id="SM-shared")
        db.session.rollback()
        again, created = intake.record_customer_message(
            intake.get_or_create_conversation(acme, "whatsapp", "whatsapp:+15550002"), "Where is my order?",
            channel_message_id="SM-shared")
        assert not created and again.company_id == acme_id
        assert db.session.query(Message).filter_by(company_id=globex_id).count() == 0
