"""WhatsApp messages coming in through Twilio: routing, signature checks, storing, delivery reports.

Routing (which company a message belongs to)
--------------------------------------------
* A message is routed by its ``To`` number to the company whose ``whatsapp_number`` is that number
  (a number stored without the ``whatsapp:`` prefix matches too), and its signature is checked
  with that company's own auth token only (app/services/channel_addresses.py: who owns a number).
* The platform's default number is never a company's own: settings refuse it, and a company row
  that names it anyway is not used for it.
* The process-wide defaults from .env (TWILIO_WHATSAPP_NUMBER, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
  serve a single company: a message to TWILIO_WHATSAPP_NUMBER that no company claims by its own
  ``whatsapp_number`` goes to the one company whose ``whatsapp_number`` is empty — only when exactly
  one company has it empty. With none or several such companies it is not routed (logged as an
  error), never guessed. Give each company its own number with
  ``flask --app app companies set <slug> --whatsapp-number ...`` in a multi-company install.

Storing (``receive``): the message is stored (dedup on ``MessageSid``) and an answer job queued
when the webhook commits; Twilio gets empty TwiML at once. A new message costs one SQL
statement and one commit (services/intake.py ``store_chat_message``; tests/test_webhook_budget.py
holds that budget), a redelivery a few more. A message without text (a photo, a
voice note, a location) gets a short canned reply instead of an AI answer. One conversation per
(company, customer number).

Who owns a number is cached per process for COMPANY_CACHE_SECONDS (a burst of webhooks reads it
once): a number given to another company, or a company deleted, takes effect within that time in
every process; a changed auth token at once (a signature that fails against a cached token is
checked again against the stored one). Numbers nobody owns, and the platform's default number,
are never cached.

Delivery reports (``record_status``): a message Twilio accepted but could not deliver later
("failed"/"undelivered", e.g. 63016 reported asynchronously) is recorded as failed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Optional, Union

from flask import current_app
from sqlalchemy import Text, cast, or_, select
from sqlalchemy.exc import IntegrityError

from ...domain_errors import InvalidPayload
from ...infra.extensions import db
from ...infra.models import Company, Message
from ...infra.text import MAX_QUESTION_CHARS
from ...services import channel_addresses, intake
from ..twilio_account import PERMANENT_CODES, credentials, normalize_number

log = logging.getLogger(__name__)
CHANNEL = "whatsapp"
SID = re.compile(r"[A-Za-z0-9]{2,64}")  # Twilio's ids: SM + 32 hex digits
MAX_ADDRESS = 64  # "whatsapp:+" and at most 15 digits, with room to spare (the column holds 254)
COMPANY_CACHE_SECONDS = 5.0
NO_TEXT_REPLY = ("Thanks for your message! I can only read text, so I couldn't look at what you sent. "
                 "Could you describe your question in a few words?")


@dataclass(frozen=True)
class NumberOwner:
    """What a webhook needs of the company owning a number, safe to share between requests and threads
    (an ORM object belongs to one session). Has the fields ``credentials`` reads."""
    id: str
    slug: str
    whatsapp_number: Optional[str]
    twilio_account_sid: Optional[str]
    twilio_auth_token: Optional[str]
    cached: bool = False  # read from this process' cache, not the database

    @classmethod
    def of(cls, company: Company) -> "NumberOwner":
        return cls(company.id, company.slug, company.whatsapp_number, company.twilio_account_sid,
                   company.twilio_auth_token)


class _OwnerCache:
    """number → (expires at, owner), per app (each app has its own database) and process."""

    def __init__(self):
        self.entries: dict[str, tuple[float, NumberOwner]] = {}
        self.lock = threading.Lock()


def _owners() -> _OwnerCache:
    return current_app.extensions.setdefault("whatsapp_number_owners", _OwnerCache())


def company_for_number(to: Optional[str], *, fresh: bool = False) -> Optional[NumberOwner]:
    """The company that owns the number a message was sent to (see the module docstring); ``fresh``:
    read from the database, not the cache."""
    number = normalize_number(to)
    if number is None or len(number) > 40:
        return None
    if number == channel_addresses.platform_number():
        return _platform_number_owner()  # not cached: its owner depends on every company's settings
    cache = _owners()
    if not fresh:
        with cache.lock:
            expires, owner = cache.entries.get(number, (0.0, None))
        if owner is not None and time.monotonic() < expires:
            return owner
    company = channel_addresses.number_owner(number)
    owner = NumberOwner.of(company) if company is not None else None
    with cache.lock:
        if owner is None:
            cache.entries.pop(number, None)
        else:
            cache.entries[number] = (time.monotonic() + COMPANY_CACHE_SECONDS, replace(owner, cached=True))
    return owner


def forget_number(to: Optional[str]) -> None:
    cache = _owners()
    with cache.lock:
        cache.entries.pop(normalize_number(to) or "", None)


def _platform_number_owner() -> Optional[NumberOwner]:
    candidates = db.session.scalars(select(Company).where(
        or_(Company.whatsapp_number.is_(None), Company.whatsapp_number == "")).limit(2)).all()
    if len(candidates) == 1:
        return NumberOwner.of(candidates[0])
    log.error("WhatsApp message to the default number TWILIO_WHATSAPP_NUMBER: %d companies have no "
              "whatsapp_number, so it can't be routed; set --whatsapp-number on the company it belongs to",
              len(candidates))
    return None


def signature_valid(company: Union[Company, NumberOwner], url: str, params, signature: Optional[str],
                    settings_header: Optional[str] = None) -> bool:
    """Twilio's ``X-Twilio-Signature`` for ``url`` (the public URL Twilio posted to) and the form."""
    from twilio.request_validator import RequestValidator, get_signature_algorithm

    _, token = credentials(company)
    if not token:
        log.error("company %s has no Twilio auth token for its number (the platform's TWILIO_AUTH_TOKEN only "
                  "serves companies without a number): can't verify a webhook", company.slug)
        return False
    if not signature:
        return False
    return RequestValidator(token).validate(url, params, signature,
                                            algorithm=get_signature_algorithm(settings_header))


def receive(company: Union[Company, NumberOwner], form) -> str:
    """Store a Twilio WhatsApp webhook's message and queue its answer: "stored", "duplicate" or "unrouted"."""
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    sender = normalize_number(form.get("From"))
    if not sid or not sender:
        raise InvalidPayload("MessageSid and From are required.")
    if not SID.fullmatch(sid) or len(sender) > MAX_ADDRESS or "\x00" in sender:
        raise InvalidPayload("MessageSid or From is not a Twilio id or address.")
    body = (form.get("Body") or "").strip()
    if len(body) > MAX_QUESTION_CHARS:
        raise InvalidPayload(f"The message is longer than {MAX_QUESTION_CHARS:,} characters.")
    try:
        num_media = max(0, int(form.get("NumMedia") or 0))
    except ValueError:
        num_media = 0
    media_types = [(form.get(f"MediaContentType{i}") or "unknown")[:100] for i in range(min(num_media, 10))]
    meta = {"num_media": num_media, "media_types": media_types, "wa_id": (form.get("WaId") or "")[:64] or None}
    content = body or _describe_without_text(form, media_types)
    try:
        stored = intake.store_chat_message(company.id, CHANNEL, sender, content, sid, meta,
                                           customer_name=(form.get("ProfileName") or "").strip()[:200] or None)
    except IntegrityError:  # the company was deleted since its number was cached
        db.session.rollback()
        forget_number(form.get("To"))
        log.warning("WhatsApp message %s for a company that no longer exists: ignored", sid)
        return "unrouted"
    if stored is None:
        if intake.redelivered(CHANNEL, sid, company.id):
            log.info("WhatsApp message %s redelivered: acknowledged, not answered again", sid)
        else:
            log.warning("WhatsApp message id %s is already stored for another company: ignored", sid)
        return "duplicate"
    intake.queue_answer(stored, canned_reply=None if body else NO_TEXT_REPLY)
    return "stored"


def _describe_without_text(form, media_types: list[str]) -> str:
    """What staff see in place of the text of a message that has none."""
    if media_types:
        return f"[{len(media_types)} attachment{'s' if len(media_types) > 1 else ''}: {', '.join(media_types)}]"
    if form.get("Latitude") and form.get("Longitude"):
        return "[location]"
    return "[message without text]"


def record_status(company: Union[Company, NumberOwner], form) -> str:
    """Twilio's delivery report for a message we sent: a failure is recorded on the message."""
    sid = (form.get("MessageSid") or "").strip()
    status = (form.get("MessageStatus") or "").strip().lower()
    if not sid or not status:
        raise InvalidPayload("MessageSid and MessageStatus are required.")
    if not SID.fullmatch(sid):  # never a pattern: "%" would match any message
        raise InvalidPayload("MessageSid is not a Twilio id.")
    message = db.session.scalars(select(Message).where(
        Message.company_id == company.id, Message.channel == CHANNEL, Message.role.in_(("assistant", "staff")),
        or_(Message.channel_message_id == sid,
            cast(Message.channel_meta, Text).contains(f'"{sid}"', autoescape=True)))).first()
    if message is None:
        return "unknown"
    if status in ("failed", "undelivered"):
        try:
            code = int(form.get("ErrorCode") or 0) or None
        except ValueError:
            code = None
        message.delivery_status = "failed"
        message.delivery_error = PERMANENT_CODES.get(code) or f"Twilio reported the message {status} (error {code})."
        log.info("WhatsApp message %s was %s (Twilio error %s)", message.id, status, code)
    return status
