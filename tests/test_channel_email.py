"""Email through Postmark: inbound webhook JSON (Postmark's real field layout) in, threaded replies out
through a local stand-in for Postmark's API. Real PostgreSQL, Redis and RQ."""

from __future__ import annotations

import base64
import copy
import logging
import uuid

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select

from app.infra.models import Conversation, Message
from tests.conftest import FIXTURES
from tests.fakes.postmark_api import PostmarkAPI

PATH = "/api/webhooks/email/"
USER, PASSWORD = "postmark", "s3cret-inbound-password"
INBOX = "support@acme.example"
CUSTOMER = "maria.garcia@example.net"
CUSTOMER_MESSAGE_ID = "<CAFx9Zk1qXc0nB7pRm3=Lt8vQ2wYhE5sD@mail.gmail.com>"


def auth_header(user=USER, password=PASSWORD):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def postmark_inbound(text="Hi,\n\nHow long does shipping to Europe take?\n\nThanks,\nMaria",
                     subject="Shipping to Europe", sender=CUSTOMER, sender_name="Maria Garcia", to=INBOX,
                     message_id=CUSTOMER_MESSAGE_ID, in_reply_to=None, references=None, stripped="",
                     extra_headers=(), html=None):
    """The JSON Postmark posts for an inbound email (layout of Postmark's documented example)."""
    headers = [
        {"Name": "Return-Path", "Value": f"<{sender}>"},
        {"Name": "Received", "Value": "by p-pm-inboundg01a-aws-useast1a with SMTP id 2F3C1A0;"
                                      " Thu, 26 Nov 2026 01:10:48 +0000 (UTC)"},
        {"Name": "X-Spam-Checker-Version", "Value": "SpamAssassin 3.4.0 (2014-02-07) on p-pm-inboundg01a-aws-useast1a"},
        {"Name": "X-Spam-Status", "Value": "No"},
        {"Name": "X-Spam-Score", "Value": "-0.1"},
        {"Name": "X-Spam-Tests", "Value": "DKIM_SIGNED,DKIM_VALID,RCVD_IN_DNSWL_NONE,SPF_PASS"},
        {"Name": "Received-SPF", "Value": "pass (example.net: Sender is authorized to use '" + sender + "')"},
        {"Name": "DKIM-Signature", "Value": "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=20230601;"},
        {"Name": "MIME-Version", "Value": "1.0"},
        {"Name": "Message-ID", "Value": message_id},
    ]
    if in_reply_to:
        headers.append({"Name": "In-Reply-To", "Value": in_reply_to})
    if references:
        headers.append({"Name": "References", "Value": references})
    headers.extend({"Name": name, "Value": value} for name, value in extra_headers)
    local, _, domain = to.partition("@")
    return {
        "FromName": sender_name,
        "MessageStream": "inbound",
        "From": sender,
        "FromFull": {"Email": sender, "Name": sender_name, "MailboxHash": ""},
        "To": f'"Acme Support" <{to}>',
        "ToFull": [{"Email": to, "Name": "Acme Support", "MailboxHash": ""}],
        "Cc": "",
        "CcFull": [],
        "Bcc": "",
        "BccFull": [],
        "OriginalRecipient": to,
        "Subject": subject,
        "MessageID": str(uuid.uuid4()),
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": "Thu, 26 Nov 2026 02:10:47 +0100",
        "TextBody": text,
        "HtmlBody": html if html is not None else "<div dir=\"ltr\">" + text.replace("\n", "<br>") + "</div>",
        "StrippedTextReply": stripped,
        "Tag": "",
        "Headers": headers,
        "Attachments": [],
    }


@pytest.fixture
def postmark(app):
    app.config.update(POSTMARK_WEBHOOK_USER=USER, POSTMARK_WEBHOOK_PASSWORD=PASSWORD)
    with PostmarkAPI() as api:
        app.config["POSTMARK_API_BASE_URL"] = api.url
        yield api


@pytest.fixture
def acme(app, make_company):
    company_id, _, _ = make_company("Acme Corp", inbound_email=INBOX, postmark_server_token="acme-server-token",
                                    postmark_from_email=INBOX)
    ingest(app, company_id, "policies.pdf")
    return company_id


def ingest(app, company_id, name):
    with app.app_context():
        app.extensions["knowledge_base"].ingest(company_id, FIXTURES / name)


def post(client, payload, headers=None):
    return client.post(PATH, json=payload, headers=auth_header() if headers is None else headers)


def fetch(app, model, **filters):
    from app.infra.extensions import db

    with app.app_context():
        found = db.session.scalars(select(model).filter_by(**filters).order_by(model.created_at)).all()
        db.session.expunge_all()
        return found


def queued_job_ids(app, queue_name):
    from app.infra.queues import get_queue

    with app.app_context():
        return get_queue(queue_name).get_job_ids()


def retry_scheduled(app, job_id):
    from app.infra.queues import get_queue

    with app.app_context():
        queue = get_queue("outbound")
        assert job_id in queue.scheduled_job_registry.get_job_ids()
        queue.scheduled_job_registry.requeue(job_id)


# ----------------------------------------------------------------------------- answering and threading
def test_email_is_answered_in_its_thread_with_sources(app, client, acme, postmark, run_jobs):
    payload = postmark_inbound(subject="RE: Re: Shipping to Europe")
    response = post(client, payload)
    assert response.status_code == 200 and response.get_json() == {"status": "stored"}
    customer = fetch(app, Message, role="customer")[0]
    assert customer.channel_message_id == payload["MessageID"] and customer.company_id == acme
    assert customer.content == "Hi,\n\nHow long does shipping to Europe take?\n\nThanks,\nMaria"
    assert postmark.attempts == []  # answered by a worker, not during the webhook

    run_jobs()
    assert len(postmark.sent) == 1
    sent = postmark.sent[0]
    assert sent["token"] == "acme-server-token"
    assert sent["From"] == f"Acme Corp <{INBOX}>" and sent["To"] == CUSTOMER
    assert sent["Subject"] == "Re: Shipping to Europe"  # never "Re: Re:"
    assert postmark.header(sent, "In-Reply-To") == CUSTOMER_MESSAGE_ID
    assert postmark.header(sent, "References") == CUSTOMER_MESSAGE_ID
    assert "7 to 10 business days" in sent["TextBody"]
    assert sent["TextBody"].rstrip().endswith("Sources:\n- policies.pdf, page 2")
    assert "7 to 10 business days" in sent["HtmlBody"] and "policies.pdf, page 2" in sent["HtmlBody"]
    assert "ReplyTo" not in sent or not sent["ReplyTo"]  # replies already go to the inbound address

    reply = fetch(app, Message, role="assistant")[0]
    assert reply.delivery_status == "sent" and reply.channel_message_id == sent["MessageID"]
    conversation = fetch(app, Conversation)[0]
    assert (conversation.channel, conversation.customer_id, conversation.customer_name, conversation.subject,
            conversation.external_thread_key) == ("email", CUSTOMER, "Maria Garcia", "Shipping to Europe",
                                                  CUSTOMER_MESSAGE_ID)


def test_a_reply_to_our_reply_continues_the_conversation(app, client, acme, postmark, run_jobs):
    post(client, postmark_inbound())
    run_jobs()
    our_id = f"<{postmark.sent[0]['MessageID']}@mtasv.net>"  # the Message-ID header Postmark gives our reply
    quoted = "\n".join("> " + line for line in postmark.sent[0]["TextBody"].splitlines())
    follow_up = postmark_inbound(
        text=f"And what does it cost?\n\nOn Thu, 26 Nov 2026 at 02:11, Acme Corp <\n{INBOX}> wrote:\n{quoted}",
        stripped="And what does it cost?", subject="Re: Shipping to Europe",
        message_id="<CAFx9Zk1qXc0nB7pRm3=second@mail.gmail.com>", in_reply_to=our_id,
        references=f"{CUSTOMER_MESSAGE_ID} {our_id}")
    assert post(client, follow_up).get_json() == {"status": "stored"}
    run_jobs()

    conversations = fetch(app, Conversation)
    assert len(conversations) == 1
    roles = [m.role for m in fetch(app, Message, conversation_id=conversations[0].id)]
    assert roles == ["customer", "assistant", "customer", "assistant"]
    assert fetch(app, Message, role="customer")[1].content == "And what does it cost?"  # only the new text
    second = postmark.sent[1]
    assert "25 dollars" in second["TextBody"]  # "it" is understood from the conversation's history
    assert second["Subject"] == "Re: Shipping to Europe"
    assert postmark.header(second, "In-Reply-To") == "<CAFx9Zk1qXc0nB7pRm3=second@mail.gmail.com>"
    assert postmark.header(second, "References") == \
        f"{CUSTOMER_MESSAGE_ID} {our_id} <CAFx9Zk1qXc0nB7pRm3=second@mail.gmail.com>"


def test_a_reply_naming_only_our_reply_threads_by_postmarks_message_id(app, client, acme, postmark, run_jobs):
    """Some clients send only In-Reply-To: the id of our reply (Postmark's MessageID @mtasv.net)."""
    post(client, postmark_inbound())
    run_jobs()
    our_id = f"<{postmark.sent[0]['MessageID']}@mtasv.net>"
    post(client, postmark_inbound("Thanks! And the warranty?", message_id="<third@mail.gmail.com>",
                                  in_reply_to=our_id, subject="Re: Shipping to Europe"))
    run_jobs()
    assert len(fetch(app, Conversation)) == 1 and len(fetch(app, Message)) == 4
    assert postmark.header(postmark.sent[1], "In-Reply-To") == "<third@mail.gmail.com>"


def test_a_new_thread_from_the_same_customer_is_a_new_conversation(app, client, acme, postmark, run_jobs):
    post(client, postmark_inbound())
    post(client, postmark_inbound("What is the warranty on your products?", subject="Warranty",
                                  message_id="<another-thread@mail.gmail.com>"))
    run_jobs()
    conversations = fetch(app, Conversation)
    assert sorted(c.subject for c in conversations) == ["Shipping to Europe", "Warranty"]
    assert len(postmark.sent) == 2


def test_someone_else_quoting_a_thread_does_not_join_its_conversation(app, client, acme, postmark, run_jobs):
    post(client, postmark_inbound())
    run_jobs()
    our_id = f"<{postmark.sent[0]['MessageID']}@mtasv.net>"
    post(client, postmark_inbound("What did you tell Maria?", sender="mallory@example.org",
                                  message_id="<m1@example.org>", in_reply_to=our_id,
                                  references=f"{CUSTOMER_MESSAGE_ID} {our_id}", subject="Re: Shipping to Europe"))
    run_jobs()
    conversations = fetch(app, Conversation)
    assert sorted(c.customer_id for c in conversations) == sorted([CUSTOMER, "mallory@example.org"])
    mallory = next(c for c in conversations if c.customer_id == "mallory@example.org")
    assert len(fetch(app, Message, conversation_id=mallory.id)) == 2
    assert postmark.sent[1]["To"] == "mallory@example.org"


def test_quoted_history_is_stripped_when_postmark_has_no_stripped_reply(app, client, acme, postmark, run_jobs):
    outlook = ("Is the warranty two years?\n\nBest regards\nMaria\n\n"
               "From: Acme Corp <support@acme.example>\nSent: Thursday, November 26, 2026 2:11 AM\n"
               "To: Maria Garcia <maria.garcia@example.net>\nSubject: RE: Shipping to Europe\n\n"
               "Shipping to Europe takes 7 to 10 business days.")
    post(client, postmark_inbound(outlook, subject="RE: Shipping"))
    html_only = postmark_inbound("", html='<div>How long do I have to return an item?</div><div class="gmail_quote">'
                                          "On Thu wrote:<blockquote>old text</blockquote></div>",
                                 message_id="<h@mail.gmail.com>", subject="Returns")
    post(client, html_only)
    contents = [m.content for m in fetch(app, Message, role="customer")]
    assert contents == ["Is the warranty two years?\n\nBest regards\nMaria", "How long do I have to return an item?"]
    run_jobs()
    assert "30 days" in postmark.sent[-1]["TextBody"] or "30 days" in postmark.sent[0]["TextBody"]


@pytest.mark.parametrize("body, new", [
    ("Hi,\n\nWhen do you open?\n\nThanks,\nMaria", "Hi,\n\nWhen do you open?\n\nThanks,\nMaria"),  # a closing stays
    ("When do you open?\n\n-- \nMaria Garcia\nAcme fan club", "When do you open?"),  # a delimited signature goes
    ("When do you open?\n\nSent from my iPhone", "When do you open?"),
    ("Wann öffnen Sie?\n\nAm 26.11.2026 um 02:11 schrieb Acme <support@acme.example>:\n> Alt", "Wann öffnen Sie?"),
    ("Quand ouvrez-vous ?\n\nLe 26 nov. 2026 à 02:11, Acme <support@acme.example> a écrit :\n> Vieux",
     "Quand ouvrez-vous ?"),
    ("When do you open?\n> an earlier line, quoted without a header", "When do you open?"),
    ("On Thu, Acme wrote:\n> only the quoted history", ""),
])
def test_only_the_new_text_of_a_plain_body_is_kept(body, new):
    from app.channels.inbound.email_text import new_text

    assert new_text(body) == new


def test_same_payload_delivered_three_times_is_answered_once(app, client, acme, postmark, run_jobs):
    payload = postmark_inbound()
    assert post(client, payload).get_json() == {"status": "stored"}
    run_jobs()
    assert post(client, payload).get_json() == {"status": "duplicate"}
    assert post(client, copy.deepcopy(payload)).get_json() == {"status": "duplicate"}
    run_jobs()
    assert len(postmark.attempts) == 1
    assert len(fetch(app, Message, role="customer")) == 1 and len(fetch(app, Conversation)) == 1


# ----------------------------------------------------------------------------- routing
def test_routing_by_receiving_address_is_case_insensitive_and_per_company(app, client, make_company, postmark,
                                                                         run_jobs):
    acme_id, _, _ = make_company("Acme Corp", inbound_email=INBOX, postmark_server_token="acme-server-token",
                                 postmark_from_email=INBOX)
    globex_id, _, _ = make_company("Globex", inbound_email="help@globex.example",
                                   postmark_server_token="globex-server-token",
                                   postmark_from_email="no-reply@globex.example")
    ingest(app, acme_id, "policies.pdf")
    ingest(app, globex_id, "care-guide.md")
    post(client, postmark_inbound(to="Support@ACME.example"))
    post(client, postmark_inbound(to="help+billing@globex.example", message_id="<g1@mail.gmail.com>"))
    run_jobs()
    by_token = {s["token"]: s for s in postmark.sent}
    assert set(by_token) == {"acme-server-token", "globex-server-token"}
    assert "7 to 10 business days" in by_token["acme-server-token"]["TextBody"]
    assert "policies.pdf" not in by_token["globex-server-token"]["TextBody"]
    globex = by_token["globex-server-token"]
    assert globex["From"] == "Globex <no-reply@globex.example>"
    assert globex["ReplyTo"] == "help@globex.example"  # the customer's answer comes back to the inbox
    assert sorted(c.company_id for c in fetch(app, Conversation)) == sorted([acme_id, globex_id])


def test_routing_by_mailbox_hash_on_a_shared_inbound_address(app, client, make_company, postmark, run_jobs):
    from app.infra.extensions import db
    from app.infra.models import Company

    company_id, _, _ = make_company("Acme Corp", postmark_server_token="acme-server-token",
                                    postmark_from_email=INBOX)
    with app.app_context():
        inbound_hash = db.session.get(Company, company_id).inbound_hash  # random, unique per company
    payload = postmark_inbound(to=f"3f1c9a+{inbound_hash}@inbound.postmarkapp.com")  # a shared inbound address
    payload["MailboxHash"] = payload["ToFull"][0]["MailboxHash"] = inbound_hash
    assert post(client, payload).get_json() == {"status": "stored"}
    assert fetch(app, Message)[0].company_id == company_id

    # The slug is public (it is in URLs and CLI output): it routes nothing.
    by_slug = postmark_inbound(to="3f1c9a+acme-corp@inbound.postmarkapp.com", message_id="<s1@mail.gmail.com>")
    by_slug["MailboxHash"] = "acme-corp"
    assert post(client, by_slug).get_json() == {"status": "unrouted"}


def test_unknown_receiving_address_is_acknowledged_and_not_answered(app, client, acme, postmark, run_jobs,
                                                                    caplog):
    with caplog.at_level(logging.WARNING, logger="app.webhooks"):
        response = post(client, postmark_inbound(to="sales@unknown.example"))
    assert response.status_code == 200 and response.get_json() == {"status": "unrouted"}
    assert "no company owns" in caplog.text
    run_jobs()
    assert fetch(app, Message) == [] and postmark.attempts == []


# ----------------------------------------------------------------------------- what is never answered
IGNORED = {
    "auto-submitted": dict(extra_headers=[("Auto-Submitted", "auto-replied")]),
    "x-autoreply": dict(extra_headers=[("X-Autoreply", "yes")]),
    "out-of-office subject": dict(subject="Out of Office: Shipping to Europe"),
    "automatic reply subject": dict(subject="Automatic reply: Shipping to Europe"),
    "mailer-daemon": dict(sender="MAILER-DAEMON@mx.example.net", subject="Undelivered Mail Returned to Sender"),
    "postmaster": dict(sender="postmaster@example.net"),
    "null return-path": dict(extra_headers=[("Return-Path", "<>")]),
    "list-id": dict(extra_headers=[("List-Id", "<announce.lists.example.net>")]),
    "list-unsubscribe": dict(extra_headers=[("List-Unsubscribe", "<mailto:unsubscribe@example.net>")]),
    "precedence bulk": dict(extra_headers=[("Precedence", "bulk")]),
    "our own address": dict(sender=INBOX),
    "another company's address": dict(sender="help@globex.example"),
    "spam": dict(extra_headers=[("X-Spam-Status", "Yes, score=9.1")]),
}


@pytest.mark.parametrize("case", list(IGNORED))
def test_mail_that_must_not_be_answered_is_ignored(app, client, acme, make_company, postmark, run_jobs, case):
    make_company("Globex", inbound_email="help@globex.example")
    kwargs = dict(IGNORED[case])
    payload = postmark_inbound(**kwargs)
    if "extra_headers" in kwargs:  # a header given twice: the test's value replaces the default one
        names = {name.lower() for name, _ in kwargs["extra_headers"]}
        defaults = [h for h in payload["Headers"][:-len(kwargs["extra_headers"])] if h["Name"].lower() not in names]
        payload["Headers"] = defaults + payload["Headers"][-len(kwargs["extra_headers"]):]
    response = post(client, payload)
    assert response.status_code == 200 and response.get_json()["status"] == "ignored"
    run_jobs()
    assert fetch(app, Message) == [] and fetch(app, Conversation) == [] and postmark.attempts == []


def test_auto_submitted_no_is_a_normal_email(app, client, acme, postmark, run_jobs):
    response = post(client, postmark_inbound(extra_headers=[("Auto-Submitted", "no")]))
    assert response.get_json() == {"status": "stored"}


# ----------------------------------------------------------------------------- authentication
@pytest.mark.parametrize("headers", [
    {}, auth_header(password="wrong"), auth_header(user="someone"), auth_header(password=""),
    {"Authorization": "Bearer " + PASSWORD},
], ids=["missing", "wrong password", "wrong user", "empty password", "not basic"])
def test_bad_basic_auth_is_401_and_nothing_is_stored(app, client, acme, postmark, run_jobs, headers):
    response = post(client, postmark_inbound(), headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.get_json()["error"]["code"] == "unauthorized"
    run_jobs()
    assert fetch(app, Message) == [] and fetch(app, Conversation) == [] and postmark.attempts == []


def test_webhook_refuses_everything_when_no_credentials_are_configured(app, client, acme, postmark):
    app.config.update(POSTMARK_WEBHOOK_USER=None, POSTMARK_WEBHOOK_PASSWORD=None)
    assert post(client, postmark_inbound(), headers=auth_header("", "")).status_code == 401
    assert post(client, postmark_inbound()).status_code == 401
    assert fetch(app, Message) == []


# ----------------------------------------------------------------------------- delivery
def test_permanent_postmark_error_is_recorded_and_not_retried(app, client, acme, postmark, run_jobs):
    postmark.fail_next(422, 406, "You tried to send to recipient(s) that have been marked as inactive.")
    post(client, postmark_inbound())
    run_jobs()
    run_jobs()
    assert len(postmark.attempts) == 1 and postmark.sent == []
    reply = fetch(app, Message, role="assistant")[0]
    assert reply.delivery_status == "failed" and "inactive" in reply.delivery_error and "406" in reply.delivery_error
    from app.infra.queues import get_queue
    with app.app_context():
        queue = get_queue("outbound")
        assert queue.scheduled_job_registry.get_job_ids() == []
        job = Job.fetch(f"deliver-{reply.id}", connection=queue.connection, serializer=JSONSerializer)
        assert job.return_value() == "failed"


def test_invalid_email_error_300_is_permanent(app, client, acme, postmark, run_jobs):
    postmark.fail_next(422, 300, "Invalid 'To' address: 'maria.garcia@example.net'.")
    post(client, postmark_inbound())
    run_jobs()
    reply = fetch(app, Message, role="assistant")[0]
    assert reply.delivery_status == "failed" and "300" in reply.delivery_error


@pytest.mark.parametrize("status, error_code", [(500, 0), (503, None)])
def test_transient_postmark_failure_is_retried_then_sent(app, client, acme, postmark, run_jobs, status,
                                                         error_code):
    postmark.fail_next(status, error_code, "Internal Server Error")
    post(client, postmark_inbound())
    run_jobs()
    reply = fetch(app, Message, role="assistant")[0]
    assert reply.delivery_status == "queued" and reply.delivery_error.startswith("Temporary failure")
    retry_scheduled(app, f"deliver-{reply.id}")
    run_jobs()
    reply = fetch(app, Message, role="assistant")[0]
    assert reply.delivery_status == "sent" and reply.attempts == 2 and reply.channel_message_id
    assert len(postmark.attempts) == 2 and len(postmark.sent) == 1


def test_staff_reply_is_sent_in_the_thread_without_sources(app, client, acme, postmark, run_jobs):
    from app.infra.extensions import db
    from app.infra.queues import enqueue_delivery
    from app.services import replies

    post(client, postmark_inbound())
    run_jobs()
    with app.app_context():
        conversation = db.session.scalars(select(Conversation)).one()
        conversation.status = "handed_off"
        staff = replies.add_staff_message(conversation, "Hi Maria,\n\nSam here <3 — I'll check your order.")
        db.session.commit()
        enqueue_delivery(staff.id)
    post(client, postmark_inbound("Any news?", message_id="<n@mail.gmail.com>",
                                  in_reply_to=CUSTOMER_MESSAGE_ID, references=CUSTOMER_MESSAGE_ID,
                                  subject="Re: Shipping to Europe"))
    run_jobs()
    assert len(postmark.sent) == 2  # the staff reply; no AI answer to "Any news?" (handed off)
    staff_mail = postmark.sent[1]
    assert staff_mail["TextBody"] == "Hi Maria,\n\nSam here <3 — I'll check your order."
    assert "Sam here &lt;3" in staff_mail["HtmlBody"] and "Sources" not in staff_mail["HtmlBody"]
    assert staff_mail["Subject"] == "Re: Shipping to Europe"
    assert postmark.header(staff_mail, "In-Reply-To") == CUSTOMER_MESSAGE_ID
    assert len(fetch(app, Conversation)) == 1


def test_email_without_text_gets_a_polite_reply_without_the_ai(app, client, acme, postmark, run_jobs):
    payload = postmark_inbound("", subject="", html="")
    payload["Attachments"] = [{"Name": "invoice.pdf", "Content": base64.b64encode(b"%PDF-1.4").decode(),
                               "ContentType": "application/pdf", "ContentLength": 8}]
    post(client, payload)
    assert queued_job_ids(app, "answer") == []
    run_jobs()
    from app.channels.inbound.email import NO_TEXT_REPLY
    assert postmark.sent[0]["TextBody"] == NO_TEXT_REPLY and postmark.sent[0]["Subject"] == "Re: Your message"
    customer = fetch(app, Message, role="customer")[0]
    assert customer.channel_meta["attachments"][0]["name"] == "invoice.pdf"


# ----------------------------------------------------------------------------- worker down
def test_emails_arriving_while_no_worker_runs_are_answered_when_one_starts(app, client, acme, postmark,
                                                                          run_jobs, redis_conn):
    post(client, postmark_inbound())
    post(client, postmark_inbound("What is the warranty?", subject="Warranty", message_id="<w@mail.gmail.com>"))
    assert len(fetch(app, Message, role="customer")) == 2 and postmark.attempts == []
    redis_conn.flushdb()  # the queued jobs are lost
    from workers.recovery import recover_messages
    with app.app_context():
        assert recover_messages() == 2
    run_jobs()
    assert sorted(s["Subject"] for s in postmark.sent) == ["Re: Shipping to Europe", "Re: Warranty"]
    with app.app_context():
        assert recover_messages() == 0
