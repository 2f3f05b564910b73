"""WhatsApp through Twilio: signed webhooks in, answers out through a local stand-in for Twilio's API.

Real PostgreSQL, Redis and RQ (the fixtures); the only fake is Twilio's REST API (a local HTTP server).
"""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from app.infra.models import Conversation, Message
from tests.conftest import FIXTURES
from tests.fakes.twilio_api import TwilioAPI

PATH = "/api/webhooks/whatsapp/"
PUBLIC_URL = "https://support.example.com" + PATH  # PUBLIC_BASE_URL in the test config + the path
ACME_NUMBER, ACME_SID, ACME_TOKEN = "whatsapp:+14155550100", "AC" + "a" * 32, "acme-auth-token"
GLOBEX_NUMBER, GLOBEX_SID, GLOBEX_TOKEN = "whatsapp:+14155550199", "AC" + "b" * 32, "globex-auth-token"
CUSTOMER = "whatsapp:+34600111222"


@pytest.fixture
def twilio(app):
    with TwilioAPI() as api:
        app.config["TWILIO_API_BASE_URL"] = api.url
        yield api


@pytest.fixture
def acme(app, make_company):
    company_id, _, _ = make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID,
                                    twilio_auth_token=ACME_TOKEN)
    ingest(app, company_id, "policies.pdf")
    return company_id


def ingest(app, company_id, name):
    with app.app_context():
        app.extensions["knowledge_base"].ingest(company_id, FIXTURES / name)


def inbound(body="How long does shipping to Europe take?", to=ACME_NUMBER, sender=CUSTOMER, sid=None, **extra):
    """The form Twilio posts for an inbound WhatsApp message."""
    sid = sid or "SM" + uuid.uuid4().hex
    params = {
        "SmsMessageSid": sid, "NumMedia": "0", "ProfileName": "Maria", "MessageType": "text", "SmsSid": sid,
        "WaId": sender.split("+")[-1], "SmsStatus": "received", "Body": body, "To": to, "NumSegments": "1",
        "ReferralNumMedia": "0", "MessageSid": sid, "AccountSid": ACME_SID, "From": sender,
        "ApiVersion": "2010-04-01",
    }
    params.update(extra)
    return params


def post(client, params, token=ACME_TOKEN, url=PUBLIC_URL, signature=None, path=PATH):
    headers = {}
    if token is not None:
        headers["X-Twilio-Signature"] = signature or RequestValidator(token).compute_signature(url, params)
    return client.post(path, data=params, headers=headers)


def fetch(app, model, **filters):
    """Rows of ``model`` (oldest first), detached so they can be read after the app context ends."""
    from app.infra.extensions import db

    with app.app_context():
        found = db.session.scalars(select(model).filter_by(**filters).order_by(model.created_at)).all()
        db.session.expunge_all()
        return found


def messages(app, **filters):
    return fetch(app, Message, **filters)


def queued_job_ids(app, queue_name):
    from app.infra.queues import get_queue

    with app.app_context():
        return get_queue(queue_name).get_job_ids()


def assert_empty_twiml(response):
    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert re.fullmatch(r'<\?xml version="1.0" encoding="UTF-8"\?><Response\s*/>', response.get_data(as_text=True))


# ----------------------------------------------------------------------------- answering
def test_signed_message_is_stored_queued_and_answered_once_with_sources(app, client, acme, twilio, run_jobs):
    params = inbound()
    response = post(client, params)
    assert_empty_twiml(response)
    stored = messages(app, role="customer")
    assert len(stored) == 1 and stored[0].channel_message_id == params["MessageSid"]
    assert stored[0].content == params["Body"] and stored[0].company_id == acme
    assert queued_job_ids(app, "answer") == [f"answer-{stored[0].id}"]
    assert twilio.attempts == []  # nothing is answered during the webhook request

    run_jobs()
    assert len(twilio.sent) == 1
    sent = twilio.sent[0]
    assert sent["account"] == ACME_SID and sent["auth"] == (ACME_SID, ACME_TOKEN)
    assert sent["From"] == ACME_NUMBER and sent["To"] == CUSTOMER
    assert "7 to 10 business days" in sent["Body"]
    assert sent["Body"].rstrip().endswith("Source: policies.pdf p.2")
    reply = messages(app, role="assistant")[0]
    assert reply.reply_to_id == stored[0].id and reply.delivery_status == "sent"
    assert reply.channel_message_id == sent["sid"] and reply.attempts == 1

    conversation = fetch(app, Conversation)[0]
    assert (conversation.company_id, conversation.channel, conversation.customer_id, conversation.customer_name) \
        == (acme, "whatsapp", CUSTOMER, "Maria")


def test_same_payload_delivered_three_times_is_answered_once(app, client, acme, twilio, run_jobs):
    params = inbound()
    assert_empty_twiml(post(client, params))
    run_jobs()
    assert_empty_twiml(post(client, params))
    assert_empty_twiml(post(client, params))
    run_jobs()
    assert len(twilio.attempts) == 1
    assert len(messages(app, role="customer")) == 1 and len(messages(app, role="assistant")) == 1


def test_redeliveries_before_a_worker_runs_queue_one_job(app, client, acme, twilio, run_jobs):
    params = inbound()
    for _ in range(3):
        assert_empty_twiml(post(client, params))
    assert len(queued_job_ids(app, "answer")) == 1
    run_jobs()
    assert len(twilio.attempts) == 1


def test_the_conversation_history_is_used_and_kept_per_customer(app, client, acme, twilio, run_jobs):
    post(client, inbound("How long does shipping to Europe take?"))
    run_jobs()
    post(client, inbound("And what does it cost?"))
    run_jobs()
    post(client, inbound("How long does shipping to Europe take?", sender="whatsapp:+447700900123"))
    run_jobs()
    conversations = fetch(app, Conversation)
    assert sorted(c.customer_id for c in conversations) == sorted([CUSTOMER, "whatsapp:+447700900123"])
    maria = next(c for c in conversations if c.customer_id == CUSTOMER)
    assert [m.role for m in messages(app, conversation_id=maria.id)] == ["customer", "assistant"] * 2
    assert "25 dollars" in twilio.sent[1]["Body"]  # "it" resolved from the history: the shipping cost


def test_replies_leave_in_the_order_the_customer_wrote_though_the_jobs_were_queued_the_other_way(
        app, client, acme, twilio, run_jobs):
    from app.infra.queues import get_queue

    post(client, inbound("How long does shipping to Europe take?"))
    post(client, inbound("How much does shipping to Europe cost?"))
    first, second = messages(app, role="customer")
    # Two webhooks of one customer at once: each queues its answer after its own commit, so the second
    # message's job can be queued first.
    with app.app_context():
        answers = get_queue("answer")
        answers.remove(f"answer-{first.id}")
        answers.push_job_id(f"answer-{first.id}")
        assert answers.get_job_ids() == [f"answer-{second.id}", f"answer-{first.id}"]
    run_jobs()
    assert len(twilio.sent) == 2
    assert "7 to 10 business days" in twilio.sent[0]["Body"] and "25 dollars" in twilio.sent[1]["Body"]
    replies = messages(app, role="assistant")
    assert [r.reply_to_id for r in replies] == [first.id, second.id]  # each answered once, in order


# ----------------------------------------------------------------------------- signatures
@pytest.mark.parametrize("case", ["missing", "wrong token", "other url", "tampered body", "garbage"])
def test_bad_or_missing_signature_is_403_and_nothing_is_stored(app, client, acme, twilio, run_jobs, case):
    params = inbound()
    if case == "missing":
        response = post(client, params, token=None)
    elif case == "wrong token":
        response = post(client, params, token="not-the-token")
    elif case == "other url":
        response = post(client, params, url="https://evil.example.com" + PATH)
    elif case == "tampered body":
        signature = RequestValidator(ACME_TOKEN).compute_signature(PUBLIC_URL, params)
        response = post(client, dict(params, Body="Send me every customer's address"), signature=signature)
    else:
        response = post(client, params, signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "invalid_signature"
    assert messages(app) == [] and fetch(app, Conversation) == []
    assert queued_job_ids(app, "answer") == []
    run_jobs()
    assert twilio.attempts == []


def test_signature_is_checked_against_the_public_url_behind_a_proxy(app, client, acme, twilio):
    params = inbound()
    # Flask sees http://localhost/…; Twilio signed https://support.example.com/… (PUBLIC_BASE_URL).
    assert post(client, params, url="http://localhost" + PATH).status_code == 403
    assert_empty_twiml(post(client, params, url=PUBLIC_URL))
    app.config["PUBLIC_BASE_URL"] = None  # without it, the URL Flask sees is the one checked
    params = inbound()
    assert_empty_twiml(post(client, params, url="http://localhost" + PATH))


def test_disabling_signature_checks_is_loud(app, client, acme, twilio, caplog):
    app.config["TWILIO_VALIDATE_SIGNATURES"] = False
    with caplog.at_level(logging.WARNING, logger="app.webhooks"):
        assert_empty_twiml(post(client, inbound(), token=None))
    assert "NOT verified" in caplog.text
    assert len(messages(app, role="customer")) == 1


# ----------------------------------------------------------------------------- routing
def test_two_companies_are_routed_by_their_numbers(app, client, make_company, twilio, run_jobs):
    acme_id, _, _ = make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID,
                                 twilio_auth_token=ACME_TOKEN)
    globex_id, _, _ = make_company("Globex", whatsapp_number=GLOBEX_NUMBER, twilio_account_sid=GLOBEX_SID,
                                   twilio_auth_token=GLOBEX_TOKEN)
    ingest(app, acme_id, "policies.pdf")
    ingest(app, globex_id, "care-guide.md")

    # Signed with Acme's token but sent to Globex's number: refused (each number checks its own token).
    assert post(client, inbound("How do I wash it?", to=GLOBEX_NUMBER), token=ACME_TOKEN).status_code == 403
    assert_empty_twiml(post(client, inbound("How long does shipping to Europe take?", to=ACME_NUMBER)))
    assert_empty_twiml(post(client, inbound("How long does shipping to Europe take?", to=GLOBEX_NUMBER),
                            token=GLOBEX_TOKEN))
    run_jobs()

    by_sender = {s["From"]: s for s in twilio.sent}
    assert set(by_sender) == {ACME_NUMBER, GLOBEX_NUMBER}
    assert by_sender[ACME_NUMBER]["auth"] == (ACME_SID, ACME_TOKEN)
    assert by_sender[GLOBEX_NUMBER]["auth"] == (GLOBEX_SID, GLOBEX_TOKEN)
    assert "7 to 10 business days" in by_sender[ACME_NUMBER]["Body"]
    assert "policies.pdf" not in by_sender[GLOBEX_NUMBER]["Body"]  # Globex never sees Acme's documents
    assert sorted(c.company_id for c in fetch(app, Conversation)) == sorted([acme_id, globex_id])


def test_unknown_number_gets_empty_twiml_and_nothing_is_stored(app, client, acme, twilio, run_jobs, caplog):
    with caplog.at_level(logging.WARNING):
        assert_empty_twiml(post(client, inbound(to="whatsapp:+19995550000")))
    assert "no company owns" in caplog.text
    run_jobs()
    assert messages(app) == [] and twilio.attempts == []


def test_process_wide_defaults_serve_the_one_company_without_a_number(app, client, make_company, twilio,
                                                                      run_jobs):
    default_number, default_sid, default_token = "whatsapp:+14155238886", "AC" + "d" * 32, "default-token"
    app.config.update(TWILIO_WHATSAPP_NUMBER=default_number, TWILIO_ACCOUNT_SID=default_sid,
                      TWILIO_AUTH_TOKEN=default_token)
    make_company("Globex", whatsapp_number=GLOBEX_NUMBER, twilio_account_sid=GLOBEX_SID,
                 twilio_auth_token=GLOBEX_TOKEN)
    solo_id, _, _ = make_company("Solo Shop")  # no channel settings of its own
    ingest(app, solo_id, "policies.pdf")

    assert_empty_twiml(post(client, inbound(to=default_number), token=default_token))
    run_jobs()
    assert len(twilio.sent) == 1
    assert twilio.sent[0]["From"] == default_number and twilio.sent[0]["auth"] == (default_sid, default_token)
    assert messages(app, role="customer")[0].company_id == solo_id

    # A second company without a number makes the default number ambiguous: not routed, not guessed.
    make_company("Another Shop")
    assert_empty_twiml(post(client, inbound(to=default_number), token=default_token))
    run_jobs()
    assert len(messages(app, role="customer")) == 1 and len(twilio.sent) == 1


# ----------------------------------------------------------------------------- what is sent
def test_long_reply_is_split_on_sentence_boundaries(app, client, make_company, twilio, run_jobs):
    sentences = [f"Sentence number {i} explains one more detail of our support process in plain words."
                 for i in range(60)]
    long_text = " ".join(sentences)
    assert len(long_text) > 3 * 1600 // 2
    make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID,
                 twilio_auth_token=ACME_TOKEN, fallback_message=long_text)  # no documents: the fallback answers

    post(client, inbound("What is the meaning of life?"))
    run_jobs()
    bodies = [s["Body"] for s in twilio.sent]
    assert len(bodies) >= 2 and all(len(b) <= 1600 for b in bodies)
    assert all(b.endswith("plain words.") for b in bodies)  # every part ends with a whole sentence
    assert " ".join(bodies) == long_text  # nothing lost, nothing added (a fallback has no sources)
    reply = messages(app, role="assistant")[0]
    assert reply.delivery_status == "sent" and reply.channel_meta["parts"] == len(bodies)


def test_a_retry_after_a_failure_half_way_sends_only_the_remaining_parts(app, client, make_company, twilio,
                                                                         run_jobs):
    long_text = " ".join(f"Part of the answer number {i} is here." for i in range(150))
    make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID,
                 twilio_auth_token=ACME_TOKEN, fallback_message=long_text)
    twilio.fail_attempt(2, 503, 20503, "Service Unavailable")
    post(client, inbound("Tell me everything"))
    run_jobs()
    assert len(twilio.sent) == 1 and len(twilio.attempts) == 2
    reply = fetch(app, Message, role="assistant")[0]
    assert reply.delivery_status == "queued" and reply.channel_meta["sent_parts"] == [twilio.sent[0]["sid"]]
    retry_scheduled(app, f"deliver-{reply.id}")
    run_jobs()
    bodies = [s["Body"] for s in twilio.sent]
    assert len(bodies) == reply.channel_meta["parts"] >= 3 and len(set(bodies)) == len(bodies)  # none twice
    assert " ".join(bodies) == long_text
    assert fetch(app, Message, id=reply.id)[0].delivery_status == "sent"


def test_media_only_message_gets_a_polite_text_reply_without_the_ai(app, client, acme, twilio, run_jobs):
    params = inbound("", NumMedia="1", MediaContentType0="image/jpeg",
                     MediaUrl0=f"https://api.twilio.com/2010-04-01/Accounts/{ACME_SID}/Messages/MM1/Media/ME1",
                     MessageType="image")
    assert_empty_twiml(post(client, params))
    assert queued_job_ids(app, "answer") == []  # no AI job at all
    run_jobs()
    assert len(twilio.sent) == 1
    from app.channels.inbound.whatsapp import NO_TEXT_REPLY
    assert twilio.sent[0]["Body"] == NO_TEXT_REPLY
    customer = messages(app, role="customer")[0]
    assert customer.content == "[1 attachment: image/jpeg]"
    assert customer.channel_meta["media_types"] == ["image/jpeg"]
    reply = messages(app, role="assistant")[0]
    assert reply.reply_to_id == customer.id and reply.answered is False and reply.sources == []

    # A photo with a caption is a question like any other.
    post(client, inbound("How long does shipping to Europe take?", NumMedia="1", MediaContentType0="image/png"))
    run_jobs()
    assert "7 to 10 business days" in twilio.sent[-1]["Body"]


# ----------------------------------------------------------------------------- delivery failures
def retry_scheduled(app, job_id):
    """Assert the job waits for a retry, then make it due now (instead of sleeping through the backoff)."""
    from app.infra.queues import get_queue

    with app.app_context():
        queue = get_queue("outbound")
        assert job_id in queue.scheduled_job_registry.get_job_ids()
        queue.scheduled_job_registry.requeue(job_id)


def test_permanent_failure_63016_is_recorded_and_not_retried(app, client, acme, twilio, run_jobs):
    twilio.fail_next(400, 63016, "Failed to send freeform message because you are outside the allowed window.")
    post(client, inbound())
    run_jobs()
    run_jobs()
    assert len(twilio.attempts) == 1 and twilio.sent == []
    reply = messages(app, role="assistant")[0]
    assert reply.delivery_status == "failed" and "24 hours" in reply.delivery_error and reply.attempts == 1
    from app.infra.queues import get_queue
    with app.app_context():
        queue = get_queue("outbound")
        assert queue.scheduled_job_registry.get_job_ids() == [] and queue.failed_job_registry.get_job_ids() == []
        job = Job.fetch(f"deliver-{reply.id}", connection=queue.connection, serializer=JSONSerializer)
        assert job.return_value() == "failed"


@pytest.mark.parametrize("status, code", [(400, 21211), (403, 20003)])
def test_other_4xx_twilio_errors_are_permanent(app, client, acme, twilio, run_jobs, status, code):
    twilio.fail_next(status, code, "Refused")
    post(client, inbound())
    run_jobs()
    reply = messages(app, role="assistant")[0]
    assert reply.delivery_status == "failed" and str(code) in reply.delivery_error
    assert len(twilio.attempts) == 1


def test_transient_500_is_retried_then_sent(app, client, acme, twilio, run_jobs):
    twilio.fail_next(500, 20500, "Internal Server Error")
    post(client, inbound())
    run_jobs()
    reply = messages(app, role="assistant")[0]
    assert reply.delivery_status == "queued" and reply.delivery_error.startswith("Temporary failure")
    assert len(twilio.attempts) == 1 and twilio.sent == []
    retry_scheduled(app, f"deliver-{reply.id}")
    run_jobs()
    reply = messages(app, role="assistant")[0]
    assert reply.delivery_status == "sent" and reply.delivery_error is None and reply.attempts == 2
    assert len(twilio.sent) == 1 and twilio.attempts[0]["Body"] == twilio.sent[0]["Body"]


def test_missing_twilio_settings_fail_the_delivery_permanently(app, client, make_company, twilio, run_jobs):
    company_id, _, _ = make_company("Acme Corp", whatsapp_number=ACME_NUMBER)  # no credentials anywhere
    app.config["TWILIO_VALIDATE_SIGNATURES"] = False
    post(client, inbound(), token=None)
    run_jobs()
    reply = messages(app, role="assistant")[0]
    assert reply.delivery_status == "failed" and "not configured" in reply.delivery_error
    assert twilio.attempts == []


def test_a_failure_twilio_reports_later_is_recorded_on_the_message(app, client, acme, twilio, run_jobs):
    post(client, inbound())
    run_jobs()
    sent = twilio.sent[0]
    status_path = "/api/webhooks/whatsapp/status/"
    assert sent["StatusCallback"] == "https://support.example.com" + status_path
    reply = fetch(app, Message, role="assistant")[0]
    assert reply.delivery_status == "sent"

    def report(status, **extra):
        return dict({"SmsSid": sent["sid"], "SmsStatus": status, "MessageStatus": status, "MessageSid": sent["sid"],
                     "AccountSid": ACME_SID, "From": ACME_NUMBER, "To": CUSTOMER, "ApiVersion": "2010-04-01",
                     "ChannelPrefix": "whatsapp", "ChannelToAddress": CUSTOMER.split(":")[1]}, **extra)

    delivered = report("delivered")
    assert post(client, delivered, path=status_path).status_code == 403  # signed for another URL
    assert post(client, delivered, path=status_path, url=sent["StatusCallback"]).status_code == 204
    assert fetch(app, Message, id=reply.id)[0].delivery_status == "sent"
    failed = report("undelivered", ErrorCode="63016", ErrorMessage="Outside the allowed window")
    assert post(client, failed, path=status_path, url=sent["StatusCallback"]).status_code == 204
    reply = fetch(app, Message, id=reply.id)[0]
    assert reply.delivery_status == "failed" and "24 hours" in reply.delivery_error


# ----------------------------------------------------------------------------- humans
def test_a_conversation_handed_off_to_a_human_is_not_answered_by_the_ai(app, client, acme, twilio, run_jobs):
    from app.infra.extensions import db
    from app.infra.queues import enqueue_delivery
    from app.services import replies

    post(client, inbound("How long does shipping to Europe take?"))
    run_jobs()
    assert len(twilio.sent) == 1
    post(client, inbound("I want to talk to a person"))  # queued…
    with app.app_context():  # …and handed off before a worker picks it up
        conversation = db.session.scalars(select(Conversation)).one()
        conversation.status = "handed_off"
        db.session.commit()
    run_jobs()
    post(client, inbound("Hello? Anyone?"))
    run_jobs()
    assert len(twilio.sent) == 1  # no AI answer to either message
    assert len(messages(app, role="customer")) == 3 and len(messages(app, role="assistant")) == 1

    with app.app_context():  # a staff member answers: sent through the same outbound path
        conversation = db.session.scalars(select(Conversation)).one()
        staff = replies.add_staff_message(conversation, "Hi Maria, Sam here. How can I help?")
        db.session.commit()
        enqueue_delivery(staff.id)
        staff_id = staff.id
    run_jobs()
    assert len(twilio.sent) == 2
    assert twilio.sent[1]["Body"] == "Hi Maria, Sam here. How can I help?"  # no sources line
    assert twilio.sent[1]["To"] == CUSTOMER and twilio.sent[1]["From"] == ACME_NUMBER
    assert messages(app, id=staff_id)[0].delivery_status == "sent"


# ----------------------------------------------------------------------------- worker down
def test_messages_arriving_while_no_worker_runs_are_answered_when_one_starts(app, client, acme, twilio,
                                                                            run_jobs, redis_conn):
    first, second = inbound("How long does shipping to Europe take?"), inbound("What is the warranty?",
                                                                            sender="whatsapp:+447700900123")
    assert_empty_twiml(post(client, first))
    assert_empty_twiml(post(client, second))
    assert len(messages(app, role="customer")) == 2 and twilio.attempts == []

    redis_conn.flushdb()  # Redis lost the queued jobs (e.g. restarted without persistence)
    from workers.recovery import recover_messages
    with app.app_context():
        assert recover_messages() == 2
        assert recover_messages() == 0  # already queued: not queued twice
    run_jobs()
    assert sorted(s["To"] for s in twilio.sent) == sorted([CUSTOMER, "whatsapp:+447700900123"])
    with app.app_context():
        assert recover_messages() == 0  # answered and sent: nothing left to recover
    run_jobs()
    assert len(twilio.sent) == 2
