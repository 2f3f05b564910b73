"""Email through Postmark: parsing, routing, threading and filtering on the way in; replies on the way out.

Inbound (``parse`` → ``company_for`` → ``skip_reason`` → ``receive``)
---------------------------------------------------------------------
* Postmark's inbound webhook JSON (FromFull, ToFull/CcFull/BccFull, OriginalRecipient, MailboxHash,
  Subject, TextBody, HtmlBody, StrippedTextReply, Headers, Attachments, MessageID) is parsed into an
  ``InboundEmail``.
* Routing: the first receiving address (OriginalRecipient, then To, Cc, Bcc) equal to a company's
  ``inbound_email`` (case-insensitive), else the same address without its ``+hash`` part, else a
  ``MailboxHash`` equal to a company's slug (``inbound+acme@…`` with a shared inbound address).
  There is no process-wide inbound address: an unknown address is logged and not answered.
* Mail that must not be answered is not stored at all (only logged, with Postmark's MessageID and
  the reason): auto-replies (Auto-Submitted other than "no", X-Autoreply/X-Autorespond, Precedence
  auto_reply, out-of-office subjects), bounces (mailer-daemon/postmaster senders, ``Return-Path: <>``,
  X-Failed-Recipients), mailing-list and bulk mail (List-Id, List-Unsubscribe, Precedence
  bulk/list/junk), spam flagged by Postmark's SpamAssassin, and anything sent by one of our own
  addresses (any company's inbound or sending address, POSTMARK_FROM_EMAIL): no mail loops.
* Threading: a reply continues the conversation whose thread key (the thread's root Message-ID) or
  one of whose messages' ids (our replies are stored with Postmark's MessageID, which is the local
  part of their Message-ID header) appears in In-Reply-To/References, for the same sender only
  (someone else quoting a thread's ids does not get its history). Otherwise a new conversation starts.
* Only the new text is answered: StrippedTextReply, else the text (or HTML) body without quoted
  history and signature, else the subject. Dedup on Postmark's MessageID.

Outbound (``deliver``): "Re: <subject>" (never "Re: Re:"), In-Reply-To/References of the customer's
message so it threads in their mail client, text plus escaped HTML, sources as a footer. Sent with
postmarker to POSTMARK_API_BASE_URL (default Postmark's API) with the company's server token and
sender (else POSTMARK_SERVER_TOKEN / POSTMARK_FROM_EMAIL). The reply's channel_message_id is
Postmark's MessageID, so the customer's reply to it threads back. Postmark 4xx errors (ErrorCode
406 inactive recipient, 300 invalid request, 10 bad token…) are permanent; 429/5xx/network retry.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field
from email.utils import formataddr, getaddresses, parseaddr
from typing import Optional

from flask import current_app
from sqlalchemy import func, or_, select

from .. import conversations
from ..extensions import db
from ..models import Company, Conversation, Message
from . import PermanentDeliveryError
from .common import InvalidPayload, accept, customer_message_for, sources_of

log = logging.getLogger(__name__)
CHANNEL = "email"
HTTP_TIMEOUT = 20
MAX_TEXT = 10_000  # characters of a customer's email kept as the question
MAX_REFERENCES = 20
NO_TEXT_REPLY = ("Thanks for your email! It didn't contain any text we could read (we can't open attachments). "
                 "Could you reply with your question written in the email?")
PERMANENT_ERRORS = {
    10: "Postmark rejected the server token (ErrorCode 10): check the company's Postmark settings.",
    300: "Postmark refused the email as invalid (ErrorCode 300).",
    406: "The customer's address is marked inactive in Postmark (it bounced or complained) (ErrorCode 406).",
    400: "The sender address is not a confirmed Postmark sender signature (ErrorCode 400).",
    412: "Postmark account is pending approval: it can only send to its own domain (ErrorCode 412).",
}
TRANSIENT_STATUSES = {408, 409, 429}

_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|antw|vs|tr|wg|r)\s*(\[\d+\])?\s*:\s*)+", re.I)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[\s_-]*(reply|response|answer|antwort)|auto:|autoreply|out[\s_-]+of[\s_-]+(the[\s_-]+)?office|"
    r"ooo\b|abwesenheit|absence|r[ée]ponse automatique|respuesta autom[aá]tica|fuera de la oficina|"
    r"risposta automatica|automatisch antwoord|on vacation|vacation (reply|notice))", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliver(ed|able)|delivery (status notification|failure|has failed)|mail delivery (failed|failure|"
    r"subsystem)|returned mail|failure notice|message not delivered)", re.I)
_BOUNCE_SENDERS = {"mailer-daemon", "postmaster", "mail-daemon", "bounce", "bounces"}
_QUOTE_INTRO = re.compile(
    r"^(on\s.+wrote:|le\s.+a\s[ée]crit\s?:|am\s.+schrieb.*:|el\s.+escribi[óo]:|op\s.+schreef.*:|"
    r"-{2,}\s*original message\s*-{2,}|-{2,}\s*forwarded message\s*-{2,}|_{20,}|begin forwarded message:)$",
    re.I)
_OUTLOOK_FROM = re.compile(r"^(from|von|de|van)\s*:\s", re.I)
_OUTLOOK_NEXT = re.compile(r"^(sent|date|gesendet|envoy[ée]|enviado|to|an|[àa])\s*:\s", re.I)
_SENT_FROM = re.compile(r"(\n\s*)*(sent from my \S.*|get outlook for \S.*|sent from (mail|yahoo mail) for .*)$", re.I)


# ----------------------------------------------------------------------------- parsing
def message_ids(value: Optional[str]) -> list[str]:
    """RFC 5322 message ids ("<a@b>") in a header value, in order."""
    if not value:
        return []
    found = re.findall(r"<[^<>\s]+>", value)
    return found or [f"<{token.strip('<>')}>" for token in value.split() if "@" in token]


def clean_subject(subject: Optional[str]) -> str:
    """The subject without its "Re:"/"Fwd:"/"AW:" prefixes."""
    return _REPLY_PREFIX.sub("", subject or "").strip()


def reply_subject(subject: Optional[str]) -> str:
    return f"Re: {clean_subject(subject) or 'Your message'}"


def strip_quoted(text: Optional[str]) -> str:
    """The new part of an email body: before the quoted history ("On … wrote:", "> …", Outlook's
    "From: … Sent: …" block) and the signature ("-- ")."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        following = [l.strip() for l in lines[i + 1:i + 4]]
        if stripped.startswith(">") or _QUOTE_INTRO.match(stripped) or line.rstrip("\n") in ("-- ", "--"):
            break
        if stripped.lower().startswith("on ") and following and following[0].lower().endswith("wrote:"):
            break  # "On Mon, … <\nsupport@acme.example> wrote:" wrapped over two lines
        if _OUTLOOK_FROM.match(stripped) and any(_OUTLOOK_NEXT.match(l) for l in following):
            break
        kept.append(line)
    return _SENT_FROM.sub("", "\n".join(kept).strip()).strip()


def html_to_text(markup: Optional[str]) -> str:
    if not markup:
        return ""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style", "head", "blockquote"]):
        tag.decompose()
    for tag in soup.select(".gmail_quote, .gmail_signature, #appendonsend, #divRplyFwdMsg, .moz-cite-prefix"):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    text = soup.get_text("\n")
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


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
    recipients: list[str] = []

    def add(address: Optional[str]) -> None:
        address = (address or "").strip().lower()
        if "@" in address and address not in recipients:
            recipients.append(address)

    add(payload.get("OriginalRecipient"))
    for key in ("ToFull", "CcFull", "BccFull"):
        for entry in payload.get(key) or []:
            if isinstance(entry, dict):
                add(entry.get("Email"))
    for key in ("To", "Cc", "Bcc"):
        for _, address in getaddresses([payload.get(key) or ""]):
            add(address)
    subject = (payload.get("Subject") or "").strip()
    text = (strip_quoted(payload.get("StrippedTextReply")) or strip_quoted(payload.get("TextBody"))
            or strip_quoted(html_to_text(payload.get("HtmlBody"))))
    ids = message_ids(headers.get("message-id", [None])[0])
    attachments = [{"name": a.get("Name"), "content_type": a.get("ContentType"), "size": a.get("ContentLength")}
                   for a in payload.get("Attachments") or [] if isinstance(a, dict)]
    return InboundEmail(
        provider_id=provider_id, sender=sender,
        sender_name=(from_full.get("Name") or payload.get("FromName") or "").strip()[:200] or None,
        recipients=recipients, mailbox_hash=(payload.get("MailboxHash") or "").strip(), subject=subject,
        text=text[:MAX_TEXT], message_id=ids[0] if ids else None,
        in_reply_to=message_ids(headers.get("in-reply-to", [None])[0]),
        references=message_ids(" ".join(headers.get("references", []))), headers=headers, attachments=attachments)


# ----------------------------------------------------------------------------- routing and filtering
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
    if email.mailbox_hash:
        company = db.session.scalars(select(Company).where(
            func.lower(Company.slug) == email.mailbox_hash.lower())).first()
        if company is not None:
            return company, email.recipients[0] if email.recipients else company.inbound_email
    return None, None


def own_addresses() -> set[str]:
    """Every address this installation sends from or receives at."""
    rows = db.session.execute(select(Company.inbound_email, Company.postmark_from_email)).all()
    addresses = {a.lower() for row in rows for a in row if a}
    if current_app.config.get("POSTMARK_FROM_EMAIL"):
        addresses.add(parseaddr(current_app.config["POSTMARK_FROM_EMAIL"])[1].lower())
    return addresses


def skip_reason(email: InboundEmail) -> Optional[str]:
    """Why this email must not be answered (None: answer it)."""
    if email.sender in own_addresses():
        return "sent by one of our own addresses (loop)"
    local_part = email.sender.split("@", 1)[0]
    return_path = (email.header("Return-Path") or "").strip()
    if (local_part in _BOUNCE_SENDERS or return_path == "<>" or email.header("X-Failed-Recipients")
            or _BOUNCE_SUBJECT.match(email.subject)):
        return "bounce"
    auto_submitted = (email.header("Auto-Submitted") or "").strip().lower()
    precedence = (email.header("Precedence") or "").strip().lower()
    if ((auto_submitted and auto_submitted != "no") or email.header("X-Autoreply") is not None
            or email.header("X-Autorespond") is not None or precedence == "auto_reply"
            or _AUTO_SUBJECT.match(email.subject)):
        return "auto-reply"
    if (email.header("List-Id") is not None or email.header("List-Unsubscribe") is not None
            or precedence in ("bulk", "list", "junk")):
        return "mailing list or bulk mail"
    if (email.header("X-Spam-Status") or "").strip().lower().startswith("yes"):
        return "flagged as spam"
    return None


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


def receive(company: Company, email: InboundEmail, receiving_address: str) -> str:
    """Store the email in its conversation and queue the answer. Returns what happened."""
    existing = conversations.find_received(CHANNEL, email.provider_id)
    if existing is not None and existing.company_id != company.id:
        log.warning("email %s is already stored for another company: ignored", email.provider_id)
        return "duplicate"
    if existing is None:
        conversation = find_thread(company, email) or conversations.start_conversation(
            company, CHANNEL, email.sender, customer_name=email.sender_name, thread_key=email.thread_root,
            subject=clean_subject(email.subject)[:500] or None)
    else:
        conversation = existing.conversation
    content = email.text or clean_subject(email.subject)
    _, created = accept(conversation, content or "[email without text]", email.provider_id,
                        email.meta(receiving_address), canned_reply=None if content else NO_TEXT_REPLY)
    if not created:
        log.info("email %s redelivered: acknowledged, not answered again", email.provider_id)
        return "duplicate"
    return "stored"


# ----------------------------------------------------------------------------- outbound
def compose(message: Message) -> tuple[str, str]:
    """(text, html) of a reply; the HTML is the escaped text, with the sources as a footer."""
    labels = [f"{title}, page {page}" if page else title for title, page in sources_of(message)]
    text = message.content.strip()
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    body = "".join(f"<p>{html.escape(p.strip()).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    if labels:
        text += "\n\nSources:\n" + "\n".join(f"- {label}" for label in labels)
        body += ('<p style="color:#6b7280;font-size:13px">Sources:<br>'
                 + "<br>".join(html.escape(label) for label in labels) + "</p>")
    return text, f'<html><body style="font-family:sans-serif;font-size:14px;line-height:1.5">{body}</body></html>'


def threading_headers(customer_meta: dict) -> dict:
    message_id = customer_meta.get("message_id")
    if not message_id:
        return {}
    references = [r for r in customer_meta.get("references") or [] if r != message_id]
    chain = (references[:1] + references[1:][-(MAX_REFERENCES - 2):] if references else []) + [message_id]
    return {"In-Reply-To": message_id, "References": " ".join(chain)}


def postmark_client(server_token: str):
    from postmarker.core import PostmarkClient

    base = (current_app.config.get("POSTMARK_API_BASE_URL") or "https://api.postmarkapp.com").rstrip("/")
    return PostmarkClient(server_token=server_token, root_api_url=base + "/", timeout=HTTP_TIMEOUT)


def deliver(message: Message) -> None:
    """Send an assistant or staff message by email, in the customer's thread (called by the outbound job)."""
    from postmarker.exceptions import ClientError

    company = db.session.get(Company, message.company_id)
    token = company.postmark_server_token or current_app.config.get("POSTMARK_SERVER_TOKEN")
    sender = (company.postmark_from_email or current_app.config.get("POSTMARK_FROM_EMAIL")
              or company.inbound_email)
    if not token or not sender:
        raise PermanentDeliveryError("Email replies are not configured for this company (a Postmark server "
                                     "token and a sender address are needed).")
    db.session.commit()  # the job's attempt count is kept even if the provider call fails
    conversation = message.conversation
    customer_message = customer_message_for(message)
    meta = (customer_message.channel_meta if customer_message is not None else None) or {}
    recipient = meta.get("from") or conversation.customer_id
    text, html_body = compose(message)
    sender_address = parseaddr(sender)[1] or sender
    fields = {
        "From": sender if "<" in sender else formataddr((company.name, sender_address)),
        "To": recipient,
        "Subject": reply_subject(meta.get("subject") or conversation.subject),
        "TextBody": text,
        "HtmlBody": html_body,
        "Headers": threading_headers(meta),
    }
    inbound = company.inbound_email or meta.get("to")
    if inbound and inbound.lower() != sender_address.lower():
        fields["ReplyTo"] = inbound  # the customer's answer must reach the inbound webhook
    try:
        response = postmark_client(token).emails.send(**fields)
    except ClientError as err:
        status = _http_status(err)
        if err.error_code in PERMANENT_ERRORS or (400 <= status < 500 and status not in TRANSIENT_STATUSES):
            raise PermanentDeliveryError(PERMANENT_ERRORS.get(err.error_code) or
                                         f"Postmark refused the email (HTTP {status}, ErrorCode {err.error_code}).") \
                from None
        log.warning("Postmark answered HTTP %s (ErrorCode %s) for message %s: will retry", status, err.error_code,
                    message.id)
        raise
    message.channel_message_id = response.get("MessageID") or None
    message.channel_meta = {"to": recipient, "subject": fields["Subject"], **fields["Headers"]}
    log.info("email reply %s sent (Postmark MessageID %s)", message.id, message.channel_message_id)


def _http_status(err) -> int:
    response = getattr(err.__cause__, "response", None)
    return int(getattr(response, "status_code", 0) or 0)
