"""Property tests (Hypothesis) for the unauthenticated edges: whatever a provider or a browser sends to the
webhooks or the widget, the answer is never a 500 (and a streamed answer never breaks off with an error).

Payloads mix well-formed values (a signed message to a real number, a valid session id) with every JSON
type, NUL characters, SQL wildcards and very long strings, so both the validation and the code behind
it are exercised. Derandomized so CI is repeatable; explore more with FUZZ_RANDOM=1 FUZZ_EXAMPLES=1000.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from tests.test_channel_email import auth_header, postmark_inbound
from tests.test_channel_whatsapp import ACME_NUMBER, ACME_SID, ACME_TOKEN

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")), deadline=None, database=None,
                derandomize=not os.environ.get("FUZZ_RANDOM"), suppress_health_check=list(HealthCheck))
SPECIAL = ["", "%", "_", "\x00", "%00", "' OR 1=1 --", "whatsapp:+14155550100", "SM" + "a" * 32, "x" * 20_000,
           "support@acme.example", "<a@b>", "null", "🙂" * 50, " ", "\n"]
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200) | st.sampled_from(SPECIAL)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12)
WIDGET_SESSION = "fuzz-session-0000000001"


def assert_no_server_error(response, where: str) -> None:
    body = response.get_data()  # a streamed response runs to its end here
    assert response.status_code < 500, (where, response.status_code, body[:300])
    assert b"event: error" not in body or b"assistant_unavailable" in body, (where, body[:300])


@pytest.fixture
def acme(app, make_company):
    app.config.update(POSTMARK_WEBHOOK_USER="postmark", POSTMARK_WEBHOOK_PASSWORD="s3cret-inbound-password",
                      WIDGET_RATE_LIMIT="100000/minute", WIDGET_IP_RATE_LIMIT="100000/minute",
                      WIDGET_POLL_RATE_LIMIT="100000/minute")
    company_id, _, _ = make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID,
                                    twilio_auth_token=ACME_TOKEN, inbound_email="support@acme.example",
                                    allowed_origins=["https://shop.example"])
    from app.infra.extensions import db
    from app.infra.models import Company

    with app.app_context():
        return db.session.get(Company, company_id).widget_key


# ----------------------------------------------------------------------------- WhatsApp (Twilio)
TWILIO_FIELDS = ["MessageSid", "SmsMessageSid", "From", "To", "Body", "NumMedia", "ProfileName", "WaId",
                 "MediaContentType0", "Latitude", "Longitude", "MessageStatus", "ErrorCode", "AccountSid"]
twilio_changes = st.dictionaries(st.sampled_from(TWILIO_FIELDS), st.sampled_from(SPECIAL) | text, max_size=3) | \
    st.dictionaries(text, text, max_size=2)


def twilio_form(number: int, changes: dict) -> dict:
    """A real inbound message (or delivery report) to Acme's number with up to three fields changed."""
    form = {"MessageSid": f"SM{number:032x}", "From": "whatsapp:+34600111222", "To": ACME_NUMBER,
            "Body": "Hello", "NumMedia": "0", "AccountSid": ACME_SID, "MessageStatus": "delivered"}
    form.update(changes)
    return form


@pytest.mark.parametrize("path", ["/api/webhooks/whatsapp/", "/api/webhooks/whatsapp/status/"])
def test_twilio_webhooks_never_answer_500(client, acme, path):
    url = "https://support.example.com" + path

    @settings(FUZZ, max_examples=2 * FUZZ.max_examples)
    @given(number=st.integers(0, 2**128 - 1), changes=twilio_changes, signed=st.sampled_from([True, True, False]))
    def check(number, changes, signed):
        form = twilio_form(number, changes)
        headers = {"X-Twilio-Signature": RequestValidator(ACME_TOKEN).compute_signature(url, form)} if signed else {}
        assert_no_server_error(client.post(path, data=form, headers=headers), path)

    check()


# ----------------------------------------------------------------------------- email (Postmark)
POSTMARK_STRINGS = ["MessageID", "From", "FromName", "To", "Cc", "Bcc", "OriginalRecipient", "MailboxHash",
                    "Subject", "TextBody", "HtmlBody", "StrippedTextReply", "ReplyTo", "Date"]
POSTMARK_OTHER = ["FromFull", "ToFull", "CcFull", "BccFull", "Headers", "Attachments"]
postmark_changes = st.fixed_dictionaries({}, optional={
    **{name: text | json_values for name in POSTMARK_STRINGS},
    **{name: json_values for name in POSTMARK_OTHER},
    "Headers": st.lists(st.fixed_dictionaries({"Name": text | json_values, "Value": text | json_values}),
                        max_size=4) | json_values,
})


def test_postmark_webhook_never_answers_500(client, acme):
    @FUZZ
    @given(changes=postmark_changes, whole=st.none() | json_values)
    def check(changes, whole):
        payload = postmark_inbound(to="support@acme.example")
        payload.update(changes)
        body = payload if whole is None else whole
        response = client.post("/api/webhooks/email/", json=body,
                               headers=auth_header("postmark", "s3cret-inbound-password"))
        assert_no_server_error(response, "email")

    check()


def test_postmark_webhook_never_answers_500_for_raw_bytes(client, acme):
    @FUZZ
    @given(body=st.binary(max_size=500), content_type=st.sampled_from(["application/json", "text/plain", ""]))
    def check(body, content_type):
        response = client.post("/api/webhooks/email/", data=body, content_type=content_type,
                               headers=auth_header("postmark", "s3cret-inbound-password"))
        assert_no_server_error(response, "email bytes")

    check()


# ----------------------------------------------------------------------------- the widget
hostile = st.sampled_from(SPECIAL) | text | json_values
widget_bodies = st.fixed_dictionaries({"session_id": st.just(WIDGET_SESSION) | hostile}, optional={
    "message": st.just("How long does shipping take?") | hostile, "name": hostile,
    "message_id": hostile, "value": st.sampled_from(["up", "down"]) | hostile,
}) | json_values
origins = st.none() | st.just("https://shop.example") | text
keys = st.just(None) | text  # None: the company's real key


def test_widget_endpoints_never_answer_500(client, acme):
    @FUZZ
    @given(endpoint=st.sampled_from(["messages", "feedback", "handoff"]), body=widget_bodies, origin=origins,
           key=keys)
    def post_check(endpoint, body, origin, key):
        path = f"/widget/{quote(acme if key is None else key, safe='')}/{endpoint}"
        headers = {"Origin": origin} if origin and "\x00" not in origin and "\n" not in origin else {}
        assert_no_server_error(client.post(path, json=body, headers=headers), path)

    @FUZZ
    @given(endpoint=st.sampled_from(["config", "messages"]), query=st.fixed_dictionaries(
        {"session_id": st.just(WIDGET_SESSION) | text}, optional={"after": st.sampled_from(SPECIAL) | text,
                                                                  "x": text}), key=keys)
    def get_check(endpoint, query, key):
        path = f"/widget/{quote(acme if key is None else key, safe='')}/{endpoint}"
        assert_no_server_error(client.get(path, query_string=query), path)

    client.post(f"/widget/{acme}/messages", json={"session_id": WIDGET_SESSION, "message": "Hello"}).get_data()
    post_check()
    get_check()
