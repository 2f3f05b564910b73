"""WhatsApp through Twilio: routing, signature checks and storing on the way in; sending on the way out.

Routing and credentials (which company a message belongs to, and which Twilio account answers)
----------------------------------------------------------------------------------------------
* An inbound message is routed by its ``To`` number to the company whose ``whatsapp_number`` is that
  number (``whatsapp:+14155238886``; a number stored without the ``whatsapp:`` prefix matches too).
* The process-wide defaults from .env (TWILIO_WHATSAPP_NUMBER, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
  serve a single company: a message to TWILIO_WHATSAPP_NUMBER that no company claims by its own
  ``whatsapp_number`` goes to the one company whose ``whatsapp_number`` is empty — only when exactly
  one company has it empty. With none or several such companies it is not routed (logged as an
  error), never guessed. Give each company its own number with
  ``flask --app app companies set <slug> --whatsapp-number ...`` in a multi-company install.
* A company's Twilio credentials are its own pair (``twilio_account_sid`` + ``twilio_auth_token``)
  when it has an auth token, else the process-wide pair. The sender of replies is the company's
  number, else TWILIO_WHATSAPP_NUMBER.

Inbound (``receive``): the message is stored (dedup on ``MessageSid``) and an answer job queued; the
webhook answers Twilio with empty TwiML at once. A message without text (a photo, a voice note, a
location) gets a short canned reply instead of an AI answer. One conversation per (company,
customer number).

Outbound (``deliver``): the text (plus a compact "Source: policies.pdf p.2" line for AI answers) is
split into parts of at most 1,600 characters on sentence boundaries and sent with the Twilio REST
client (TWILIO_API_BASE_URL points it elsewhere, e.g. a local stand-in). The sids of parts already
sent are kept in ``Message.channel_meta`` so a retry after a failure half-way sends only the rest.
Twilio 4xx errors (e.g. 63016: outside WhatsApp's 24-hour window) are permanent; 429, 5xx and
network errors are raised and retried by RQ with backoff. When PUBLIC_BASE_URL is set, Twilio is
asked to report each message's fate to the status webhook: a message Twilio accepted but could not
deliver later ("failed"/"undelivered", e.g. 63016 reported asynchronously) is recorded as failed.
"""

from __future__ import annotations

import logging
import re
from typing import Optional

from flask import current_app
from sqlalchemy import Text, cast, or_, select

from .. import conversations
from ..extensions import db
from ..models import Company, Message
from . import PermanentDeliveryError
from .common import InvalidPayload, accept, sources_of

log = logging.getLogger(__name__)
CHANNEL = "whatsapp"
MAX_LENGTH = 1600  # Twilio's limit for one WhatsApp message body
HTTP_TIMEOUT = 20  # seconds; the outbound job itself times out after 120
NO_TEXT_REPLY = ("Thanks for your message! I can only read text, so I couldn't look at what you sent. "
                 "Could you describe your question in a few words?")
# Twilio error codes that never succeed on retry, whatever the HTTP status says.
PERMANENT_CODES = {
    63016: "WhatsApp only allows free-form replies within 24 hours of the customer's last message "
           "(Twilio error 63016); reply with an approved template instead.",
    21211: "The customer's number is not a valid phone number (Twilio error 21211).",
    21610: "The customer has opted out of messages from this number (Twilio error 21610).",
    63003: "The customer's number is not on WhatsApp (Twilio error 63003).",
}
TRANSIENT_STATUSES = {408, 409, 429}
STATUS_CALLBACK_PATH = "/api/webhooks/whatsapp/status/"  # the route in app/webhooks.py

_twilio_http_log = logging.getLogger(__name__ + ".http")
_twilio_http_log.setLevel(logging.WARNING)  # the Twilio client logs every request at INFO


# ----------------------------------------------------------------------------- routing and credentials
def normalize_number(number: Optional[str]) -> Optional[str]:
    """``whatsapp:+14155238886`` for any of "whatsapp:+1 415 523 8886", "+14155238886"."""
    if not number:
        return None
    number = re.sub(r"[\s()\-.]", "", number.strip())
    if number.lower().startswith("whatsapp:"):
        number = number[len("whatsapp:"):]
    return f"whatsapp:{number}" if number else None


def company_for_number(to: Optional[str]) -> Optional[Company]:
    """The company that owns the number a message was sent to (see the module docstring)."""
    number = normalize_number(to)
    if number is None:
        return None
    bare = number[len("whatsapp:"):]
    company = db.session.scalars(select(Company).where(Company.whatsapp_number.in_((number, bare)))).first()
    if company is not None:
        return company
    if number != normalize_number(current_app.config.get("TWILIO_WHATSAPP_NUMBER")):
        return None
    candidates = db.session.scalars(select(Company).where(
        or_(Company.whatsapp_number.is_(None), Company.whatsapp_number == "")).limit(2)).all()
    if len(candidates) == 1:
        return candidates[0]
    log.error("WhatsApp message to the default number TWILIO_WHATSAPP_NUMBER: %d companies have no "
              "whatsapp_number, so it can't be routed; set --whatsapp-number on the company it belongs to",
              len(candidates))
    return None


def credentials(company: Company) -> tuple[Optional[str], Optional[str]]:
    """(account sid, auth token): the company's own pair, else the process-wide defaults."""
    if company.twilio_auth_token:
        return company.twilio_account_sid, company.twilio_auth_token
    return current_app.config.get("TWILIO_ACCOUNT_SID"), current_app.config.get("TWILIO_AUTH_TOKEN")


def sender_number(company: Company) -> Optional[str]:
    return normalize_number(company.whatsapp_number or current_app.config.get("TWILIO_WHATSAPP_NUMBER"))


def signature_valid(company: Company, url: str, params, signature: Optional[str],
                    settings_header: Optional[str] = None) -> bool:
    """Twilio's ``X-Twilio-Signature`` for ``url`` (the public URL Twilio posted to) and the form."""
    from twilio.request_validator import RequestValidator, get_signature_algorithm

    _, token = credentials(company)
    if not token:
        log.error("company %s has no Twilio auth token (nor TWILIO_AUTH_TOKEN): can't verify a webhook",
                  company.slug)
        return False
    if not signature:
        return False
    return RequestValidator(token).validate(url, params, signature,
                                            algorithm=get_signature_algorithm(settings_header))


# ----------------------------------------------------------------------------- inbound
def receive(company: Company, form) -> str:
    """Store a Twilio WhatsApp webhook's message and queue its answer. Returns what happened."""
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    sender = normalize_number(form.get("From"))
    if not sid or not sender:
        raise InvalidPayload("MessageSid and From are required.")
    body = (form.get("Body") or "").strip()
    try:
        num_media = max(0, int(form.get("NumMedia") or 0))
    except ValueError:
        num_media = 0
    media_types = [form.get(f"MediaContentType{i}") or "unknown" for i in range(min(num_media, 10))]
    meta = {"num_media": num_media, "media_types": media_types, "wa_id": form.get("WaId") or None}
    content = body or _describe_without_text(form, media_types)
    conversation = conversations.get_or_create_conversation(
        company, CHANNEL, sender, customer_name=(form.get("ProfileName") or "").strip()[:200] or None)
    message, created = accept(conversation, content, sid, meta, canned_reply=None if body else NO_TEXT_REPLY)
    if not created:
        log.info("WhatsApp message %s redelivered: acknowledged, not answered again", sid)
        return "duplicate"
    return "stored"


def _describe_without_text(form, media_types: list[str]) -> str:
    """What staff see in place of the text of a message that has none."""
    if media_types:
        return f"[{len(media_types)} attachment{'s' if len(media_types) > 1 else ''}: {', '.join(media_types)}]"
    if form.get("Latitude") and form.get("Longitude"):
        return "[location]"
    return "[message without text]"


def record_status(company: Company, form) -> str:
    """Twilio's delivery report for a message we sent: a failure is recorded on the message."""
    sid = (form.get("MessageSid") or "").strip()
    status = (form.get("MessageStatus") or "").strip().lower()
    if not sid or not status:
        raise InvalidPayload("MessageSid and MessageStatus are required.")
    message = db.session.scalars(select(Message).where(
        Message.company_id == company.id, Message.channel == CHANNEL, Message.role.in_(("assistant", "staff")),
        or_(Message.channel_message_id == sid, cast(Message.channel_meta, Text).contains(sid)))).first()
    if message is None:
        return "unknown"
    if status in ("failed", "undelivered"):
        try:
            code = int(form.get("ErrorCode") or 0) or None
        except ValueError:
            code = None
        message.delivery_status = "failed"
        message.delivery_error = PERMANENT_CODES.get(code) or f"Twilio reported the message {status} (error {code})."
        db.session.commit()
        log.info("WhatsApp message %s was %s (Twilio error %s)", message.id, status, code)
    return status


# ----------------------------------------------------------------------------- outbound
_BOUNDARY = re.compile(r"((?<=[.!?\u2026])[\"'\u201d)\]]*\s+|\n\s*\n)")


def split_message(text: str, limit: int = MAX_LENGTH) -> list[str]:
    """Parts of at most ``limit`` characters, cut after sentences (then words) when text is too long."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces = _BOUNDARY.split(text)
    units = ["".join(pieces[i:i + 2]) for i in range(0, len(pieces), 2)]  # sentence + its separator
    parts: list[str] = []
    current = ""
    for unit in units:
        if len((current + unit).strip()) <= limit:
            current += unit
            continue
        if current.strip():
            parts.append(current.strip())
        current = ""
        if len(unit.strip()) <= limit:
            current = unit
            continue
        for word_part in _split_words(unit.strip(), limit):  # one sentence longer than a message
            parts.append(word_part)
    if current.strip():
        parts.append(current.strip())
    return parts


def _split_words(text: str, limit: int) -> list[str]:
    parts, current = [], ""
    for word in text.split():
        while len(word) > limit:  # a single "word" longer than a message (a URL…): hard cut
            if current:
                parts.append(current)
                current = ""
            parts.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = word
    if current:
        parts.append(current)
    return parts


def reply_text(message: Message) -> str:
    """The text sent: the reply, plus one compact line naming its sources (AI answers only)."""
    labels = [f"{title} p.{page}" if page else title for title, page in sources_of(message)]
    text = message.content.strip()
    if labels:
        text += f"\n\n{'Source' if len(labels) == 1 else 'Sources'}: {'; '.join(labels)}"
    return text


def twilio_client(account_sid: str, auth_token: str):
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(account_sid, auth_token,
                    http_client=TwilioHttpClient(timeout=HTTP_TIMEOUT, logger=_twilio_http_log))
    base_url = current_app.config.get("TWILIO_API_BASE_URL")
    if base_url:
        client.api.base_url = base_url.rstrip("/")
    return client


def deliver(message: Message) -> None:
    """Send an assistant or staff message to the customer's WhatsApp (called by the outbound job)."""
    from twilio.base.exceptions import TwilioRestException, TwilioServiceException

    company = db.session.get(Company, message.company_id)
    account_sid, auth_token = credentials(company)
    from_number = sender_number(company)
    if not (account_sid and auth_token and from_number):
        raise PermanentDeliveryError("WhatsApp is not configured for this company (Twilio account SID, "
                                     "auth token and WhatsApp number are needed).")
    db.session.commit()  # the job's attempt count is kept even if the provider call fails
    parts = split_message(reply_text(message))
    meta = dict(message.channel_meta or {})
    sent = list(meta.get("sent_parts") or [])
    client = twilio_client(account_sid, auth_token)
    base_url = current_app.config.get("PUBLIC_BASE_URL")
    report_to = {"status_callback": base_url.rstrip("/") + STATUS_CALLBACK_PATH} if base_url else {}
    for index, part in enumerate(parts):
        if index < len(sent):
            continue  # sent before a failure on a later part; don't send it twice
        try:
            result = client.messages.create(from_=from_number, to=message.conversation.customer_id, body=part,
                                            **report_to)
        except (TwilioRestException, TwilioServiceException) as err:
            if _permanent(err):
                raise PermanentDeliveryError(_describe(err, index, len(parts))) from None
            log.warning("Twilio answered HTTP %s (error %s) for message %s: will retry", err.status,
                        err.code, message.id)
            raise
        sent.append(result.sid)
        message.channel_meta = {**meta, "sent_parts": sent, "parts": len(parts)}
        message.channel_message_id = message.channel_message_id or result.sid
        db.session.commit()  # progress survives a failure of a later part
    log.info("WhatsApp message %s sent in %d part(s)", message.id, len(parts))


def _permanent(err) -> bool:
    if err.code in PERMANENT_CODES:
        return True
    status = int(err.status or 0)
    return 400 <= status < 500 and status not in TRANSIENT_STATUSES


def _describe(err, index: int, total: int) -> str:
    reason = PERMANENT_CODES.get(err.code) or f"Twilio refused the message (HTTP {err.status}, error {err.code})."
    if total > 1:
        reason += f" Part {index + 1} of {total}; {index} part(s) were sent."
    return reason
