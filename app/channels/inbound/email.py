"""Email coming in through Postmark's inbound webhook: authentication, parsing, routing, threading, storing.

* Authentication: HTTP basic auth with POSTMARK_WEBHOOK_USER / POSTMARK_WEBHOOK_PASSWORD (both
  set, both compared in constant time); without them every inbound email is refused.
* Parsing: Postmark's JSON (FromFull, ToFull/CcFull/BccFull, OriginalRecipient, MailboxHash,
  Subject, TextBody, HtmlBody, StrippedTextReply, Headers, Attachments, MessageID) becomes an
  ``InboundEmail``. Only the new text is answered: StrippedTextReply, else the text (or HTML) body
  without quoted history and signature (``email_text.py``), else the subject.
* Routing: the first receiving address (OriginalRecipient, then To, Cc, Bcc) equal to a company's
  proven custom ``inbound_email`` (case-insensitive), else the same address without its ``+hash``
  part, else a ``MailboxHash`` equal to a company's random ``inbound_hash`` (its platform address
  ``inbound+<hash>@…`` on the shared POSTMARK_INBOUND_ADDRESS). A custom address still waiting
  for its proof routes nothing; mail reaching a company's platform address with the code of its
  pending address proves it (``services/channel_addresses.py``). An unknown address is logged and
  not answered. Mail that must not be answered is filtered out first (``email_filters.py``).
* Threading: a reply continues the conversation whose thread key (the thread's root Message-ID) or
  one of whose messages' ids (our replies are stored with Postmark's MessageID, which is the local
  part of their Message-ID header) appears in In-Reply-To/References, for the same sender only
  (someone else quoting a thread's ids does not get its history). Otherwise a new conversation
  starts. Dedup on Postmark's MessageID.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr
from typing import List, Optional

from flask import current_app
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, or_, select

from ...domain_errors import ForeignMessageId, InvalidPayload
from ...infra.extensions import db
from ...infra.models import Company, Conversation, Message
from ...services import channel_addresses, intake
from ..email_headers import MAX_REFERENCES, clean_subject, message_ids
from .email_text import html_to_text, new_text

log = logging.getLogger(__name__)
CHANNEL = "email"
MAX_TEXT = 10_000  # characters of a customer's email kept as the question
MAX_FULL_TEXT = 200_000  # characters of each body read (the quoted history and a confirmation code are in them)
MAX_HEADERS = 200  # headers, attachments and recipients read per email
NO_TEXT_REPLY = ("Thanks for your email! It didn't contain any text we could read (we can't open attachments). "
                 "Could you reply with your question written in the email?")


# ----------------------------------------------------------------------------- authentication
def credentials_ok(username: Optional[str], password: Optional[str]) -> bool:
    """The webhook's basic-auth pair against POSTMARK_WEBHOOK_USER / POSTMARK_WEBHOOK_PASSWORD."""
    expected_user = current_app.config.get("POSTMARK_WEBHOOK_USER")
    expected_password = current_app.config.get("POSTMARK_WEBHOOK_PASSWORD")
    if not expected_user or not expected_password:
        log.error("POSTMARK_WEBHOOK_USER/POSTMARK_WEBHOOK_PASSWORD are not set: refusing inbound email webhooks")
        return False
    if username is None or password is None:
        return False
    user_ok = hmac.compare_digest(username.encode(), expected_user.encode())
    password_ok = hmac.compare_digest(password.encode(), expected_password.encode())
    return user_ok & password_ok  # both compared, always


# ----------------------------------------------------------------------------- parsing
@dataclass
class InboundEmail:
    provider_id: str  # Postmark's MessageID: the dedup key
    sender: str  # lowercased address
    sender_name: Optional[str]
    recipients: list[str]  # lowercased, OriginalRecipient first
    mailbox_hash: str
    subject: str
    text: str  # the new text only
    message_id: Optional[str]  # the Message-ID header
    in_reply_to: list[str]
    references: list[str]
    headers: dict[str, list[str]] = field(default_factory=dict)  # lowercased name -> values
    attachments: list[dict] = field(default_factory=list)
    full_text: str = ""  # subject and whole bodies, quotes included (a forwarded confirmation code is there)

    def header(self, name: str) -> Optional[str]:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def thread_root(self) -> Optional[str]:
        root = (self.references or self.in_reply_to or [self.message_id])[0]
        return root[:512] if root else None

    def meta(self, receiving_address: str) -> dict:
        return {"from": self.sender, "to": receiving_address, "subject": self.subject,
                "message_id": self.message_id, "references": self.references[-MAX_REFERENCES:],
                "in_reply_to": self.in_reply_to[:1], "attachments": self.attachments}


class _Address(BaseModel):
    model_config = ConfigDict(extra="ignore")
    Email: Optional[str] = None
    Name: Optional[str] = None
    MailboxHash: Optional[str] = None


class _Header(BaseModel):
    model_config = ConfigDict(extra="ignore")
    Name: Optional[str] = None
    Value: Optional[str] = None


class _Attachment(BaseModel):
    model_config = ConfigDict(extra="ignore")
    Name: Optional[str] = None
    ContentType: Optional[str] = None
    ContentLength: Optional[int] = None


class PostmarkInbound(BaseModel):
    """Postmark's inbound webhook JSON: the fields we read, each of the type Postmark sends (else 400)."""

    model_config = ConfigDict(extra="ignore")
    MessageID: str = Field(min_length=1, max_length=200)
    From: Optional[str] = None
    FromName: Optional[str] = None
    FromFull: Optional[_Address] = None
    To: Optional[str] = None
    Cc: Optional[str] = None
    Bcc: Optional[str] = None
    ToFull: Optional[List[_Address]] = None
    CcFull: Optional[List[_Address]] = None
    BccFull: Optional[List[_Address]] = None
    OriginalRecipient: Optional[str] = None
    MailboxHash: Optional[str] = None
    Subject: Optional[str] = None
    TextBody: Optional[str] = None
    HtmlBody: Optional[str] = None
    StrippedTextReply: Optional[str] = None
    Headers: Optional[List[_Header]] = None
    Attachments: Optional[List[_Attachment]] = None


def parse(payload) -> InboundEmail:
    """An InboundEmail from Postmark's inbound webhook JSON (InvalidPayload when it is not that)."""
    if not isinstance(payload, dict):
        raise InvalidPayload("Expected Postmark's inbound JSON object.")
    try:
        mail = PostmarkInbound.model_validate(_without_nul(payload))
    except ValidationError as err:
        where = ", ".join(sorted({str(problem["loc"][0]) for problem in err.errors() if problem.get("loc")}))
        raise InvalidPayload(f"Not Postmark's inbound JSON: {where or 'body'} has the wrong type or size.") from None
    provider_id = mail.MessageID.strip()
    from_full = mail.FromFull or _Address()
    sender = (from_full.Email or parseaddr(mail.From or "")[1] or "").strip().lower()
    if not provider_id or "@" not in sender or len(sender) > 254:
        raise InvalidPayload("MessageID and a sender address are required.")
    headers: dict[str, list[str]] = {}
    for item in (mail.Headers or [])[:MAX_HEADERS]:
        if item.Name:
            headers.setdefault(item.Name.lower(), []).append(item.Value or "")
    text = (new_text(_cut(mail.StrippedTextReply)) or new_text(_cut(mail.TextBody))
            or new_text(html_to_text(_cut(mail.HtmlBody))))
    ids = message_ids(headers.get("message-id", [None])[0])
    attachments = [{"name": a.Name, "content_type": a.ContentType, "size": a.ContentLength}
                   for a in (mail.Attachments or [])[:MAX_HEADERS]]
    return InboundEmail(
        provider_id=provider_id, sender=sender,
        sender_name=(from_full.Name or mail.FromName or "").strip()[:200] or None,
        recipients=_recipients(mail), mailbox_hash=(mail.MailboxHash or "").strip()[:100],
        subject=(mail.Subject or "").strip()[:1000], text=text[:MAX_TEXT], message_id=ids[0] if ids else None,
        in_reply_to=message_ids(headers.get("in-reply-to", [None])[0]),
        references=message_ids(" ".join(headers.get("references", []))), headers=headers, attachments=attachments,
        full_text="\n".join(_cut(value) for value in (mail.Subject, mail.TextBody, mail.HtmlBody)).lower())


def _without_nul(value, depth: int = 0):
    """The payload with NUL characters removed from its text (PostgreSQL cannot store them)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if depth > 4:
        return value
    if isinstance(value, dict):
        return {key: _without_nul(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item, depth + 1) for item in value]
    return value


def _cut(text: Optional[str]) -> str:
    return (text or "")[:MAX_FULL_TEXT]


def _recipients(mail: PostmarkInbound) -> list[str]:
    """Receiving addresses, lowercased, without repeats: OriginalRecipient, then To, Cc, Bcc."""
    found = [mail.OriginalRecipient]
    for entries in (mail.ToFull, mail.CcFull, mail.BccFull):
        found += [entry.Email for entry in (entries or [])[:MAX_HEADERS]]
    for value in (mail.To, mail.Cc, mail.Bcc):
        found += [address for _, address in getaddresses([_cut(value)])]
    addresses = [(address or "").strip().lower() for address in found]
    return list(dict.fromkeys(a for a in addresses if "@" in a and len(a) <= 254))[:MAX_HEADERS]


# ----------------------------------------------------------------------------- routing and threading
def company_for(email: InboundEmail) -> tuple[Optional[Company], Optional[str]]:
    """(company, the receiving address it was routed by) — see the module docstring."""
    without_hash = [re.sub(r"\+[^@]*@", "@", address) for address in email.recipients]
    candidates = list(dict.fromkeys(email.recipients + without_hash))
    if candidates:
        companies = {c.inbound_email.lower(): c for c in db.session.scalars(
            select(Company).where(func.lower(Company.inbound_email).in_(candidates)))}
        for address in candidates:
            if address in companies:
                return companies[address], address
    company = channel_addresses.company_for_hash(email.mailbox_hash)
    if company is not None:
        address = channel_addresses.platform_address(company) or (email.recipients[0] if email.recipients else None)
        return company, company.inbound_email or address
    return None, None


def confirms_address(company: Company, email: InboundEmail) -> bool:
    """Mail at the company's platform address carrying its pending address' code: that address is now
    the company's (the caller commits). Such mail is not a customer's question."""
    if (email.mailbox_hash or "").strip().lower() != company.inbound_hash:
        return False
    return channel_addresses.confirm_inbound_address(company, email.full_text)


def find_thread(company: Company, email: InboundEmail) -> Optional[Conversation]:
    """The conversation this email continues (same company, same sender), by its In-Reply-To/References."""
    ids = email.in_reply_to + email.references + ([email.message_id] if email.message_id else [])
    keys: set[str] = set()
    for value in ids:
        bare = value.strip("<>")
        keys.update({value, bare, bare.split("@", 1)[0]})
    if not keys:
        return None
    by_message = select(Message.conversation_id).where(
        Message.company_id == company.id, Message.channel == CHANNEL, Message.channel_message_id.in_(keys))
    return db.session.scalars(
        select(Conversation).where(
            Conversation.company_id == company.id, Conversation.channel == CHANNEL,
            Conversation.customer_id == email.sender,
            or_(Conversation.external_thread_key.in_(keys), Conversation.id.in_(by_message)))
        .order_by(Conversation.last_message_at.desc())).first()


# ----------------------------------------------------------------------------- storing
def receive(company: Company, email: InboundEmail, receiving_address: str) -> str:
    """Store the email in its conversation and queue the answer: "stored" or "duplicate"."""
    existing = intake.find_received(CHANNEL, email.provider_id)
    if existing is not None and existing.company_id != company.id:
        log.warning("email %s is already stored for another company: ignored", email.provider_id)
        return "duplicate"
    if existing is None:
        conversation = find_thread(company, email) or intake.start_conversation(
            company, CHANNEL, email.sender, customer_name=email.sender_name, thread_key=email.thread_root,
            subject=clean_subject(email.subject)[:500] or None)
    else:
        conversation = existing.conversation
    content = email.text or clean_subject(email.subject)
    try:
        _, created = intake.accept(conversation, content or "[email without text]", email.provider_id,
                                   email.meta(receiving_address), canned_reply=None if content else NO_TEXT_REPLY)
    except ForeignMessageId:  # stored for another company a moment ago
        log.warning("email %s is already stored for another company: ignored", email.provider_id)
        return "duplicate"
    if not created:
        log.info("email %s redelivered: acknowledged, not answered again", email.provider_id)
        return "duplicate"
    return "stored"
