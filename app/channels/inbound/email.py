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
from typing import Optional

from flask import current_app
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
MAX_FULL_TEXT = 200_000  # characters of each body searched for an address confirmation code
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


def parse(payload) -> InboundEmail:
    """An InboundEmail from Postmark's inbound webhook JSON."""
    if not isinstance(payload, dict):
        raise InvalidPayload("Expected Postmark's inbound JSON object.")
    provider_id = str(payload.get("MessageID") or "").strip()
    from_full = payload.get("FromFull") if isinstance(payload.get("FromFull"), dict) else {}
    sender = (from_full.get("Email") or parseaddr(payload.get("From") or "")[1] or "").strip().lower()
    if not provider_id or "@" not in sender or len(sender) > 254 or len(provider_id) > 200:
        raise InvalidPayload("MessageID and a sender address are required.")
    headers: dict[str, list[str]] = {}
    for item in payload.get("Headers") or []:
        if isinstance(item, dict) and item.get("Name"):
            headers.setdefault(str(item["Name"]).lower(), []).append(str(item.get("Value") or ""))
    text = (new_text(payload.get("StrippedTextReply")) or new_text(payload.get("TextBody"))
            or new_text(html_to_text(payload.get("HtmlBody"))))
    ids = message_ids(headers.get("message-id", [None])[0])
    attachments = [{"name": a.get("Name"), "content_type": a.get("ContentType"), "size": a.get("ContentLength")}
                   for a in payload.get("Attachments") or [] if isinstance(a, dict)]
    return InboundEmail(
        provider_id=provider_id, sender=sender,
        sender_name=(from_full.get("Name") or payload.get("FromName") or "").strip()[:200] or None,
        recipients=_recipients(payload), mailbox_hash=(payload.get("MailboxHash") or "").strip(),
        subject=(payload.get("Subject") or "").strip(), text=text[:MAX_TEXT], message_id=ids[0] if ids else None,
        in_reply_to=message_ids(headers.get("in-reply-to", [None])[0]),
        references=message_ids(" ".join(headers.get("references", []))), headers=headers, attachments=attachments,
        full_text="\n".join(str(payload.get(key) or "")[:MAX_FULL_TEXT]
                             for key in ("Subject", "TextBody", "HtmlBody")).lower())


def _recipients(payload: dict) -> list[str]:
    """Receiving addresses, lowercased, without repeats: OriginalRecipient, then To, Cc, Bcc."""
    found = [payload.get("OriginalRecipient")]
    for key in ("ToFull", "CcFull", "BccFull"):
        found += [entry.get("Email") for entry in payload.get(key) or [] if isinstance(entry, dict)]
    for key in ("To", "Cc", "Bcc"):
        found += [address for _, address in getaddresses([payload.get(key) or ""])]
    addresses = [(address or "").strip().lower() for address in found]
    return list(dict.fromkeys(address for address in addresses if "@" in address))


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
