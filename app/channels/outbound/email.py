"""Email replies sent through Postmark, in the customer's thread.

"Re: <subject>" (never "Re: Re:"), In-Reply-To/References of the customer's message so it threads
in their mail client, text plus escaped HTML, sources as a footer. Sent with postmarker to
POSTMARK_API_BASE_URL (default Postmark's API) with the company's server token and sender (else
POSTMARK_SERVER_TOKEN / POSTMARK_FROM_EMAIL). The reply's channel_message_id is Postmark's
MessageID, so the customer's reply to it threads back. Postmark 4xx errors (ErrorCode 406 inactive
recipient, 300 invalid request, 10 bad token…) are permanent; 429/5xx/network errors are retried.
"""

from __future__ import annotations

import html
import logging
import re
from email.utils import formataddr, parseaddr
from typing import Optional

from flask import current_app
from sqlalchemy import select

from ...domain_errors import DeliveryRefused
from ...infra.extensions import db
from ...infra.models import Company, Message
from ..email_headers import MAX_REFERENCES, reply_subject
from .sources import sources_of

log = logging.getLogger(__name__)
HTTP_TIMEOUT = 20
PERMANENT_ERRORS = {
    10: "Postmark rejected the server token (ErrorCode 10): check the company's Postmark settings.",
    300: "Postmark refused the email as invalid (ErrorCode 300).",
    406: "The customer's address is marked inactive in Postmark (it bounced or complained) (ErrorCode 406).",
    400: "The sender address is not a confirmed Postmark sender signature (ErrorCode 400).",
    412: "Postmark account is pending approval: it can only send to its own domain (ErrorCode 412).",
}
TRANSIENT_STATUSES = {408, 409, 429}


def compose(message: Message) -> tuple[str, str]:
    """(text, html) of a reply; the HTML is the escaped text, with the sources as a footer."""
    cited = sources_of(message)
    labels = [f"{c.title}, page {c.page}" if c.page else c.title for c in cited]
    text = message.content.strip()
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    body = "".join(f"<p>{html.escape(p.strip()).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    if labels:
        text += "\n\nSources:\n" + "\n".join(f"- {label}" + (f": {c.url}" if c.url else "")
                                               for label, c in zip(labels, cited))
        links = [f'<a href="{html.escape(c.url)}">{html.escape(label)}</a>' if c.url else html.escape(label)
                 for label, c in zip(labels, cited)]
        body += '<p style="color:#6b7280;font-size:13px">Sources:<br>' + "<br>".join(links) + "</p>"
    return text, f'<html><body style="font-family:sans-serif;font-size:14px;line-height:1.5">{body}</body></html>'


def threading_headers(customer_meta: dict) -> dict:
    message_id = customer_meta.get("message_id")
    if not message_id:
        return {}
    references = [r for r in customer_meta.get("references") or [] if r != message_id]
    chain = (references[:1] + references[1:][-(MAX_REFERENCES - 2):] if references else []) + [message_id]
    return {"In-Reply-To": message_id, "References": " ".join(chain)}


def customer_message_for(message: Message) -> Optional[Message]:
    """The customer message a reply answers: its reply_to, else (staff) the latest one before it."""
    if message.reply_to_id:
        return db.session.get(Message, message.reply_to_id)
    return db.session.scalars(
        select(Message).where(Message.conversation_id == message.conversation_id, Message.role == "customer",
                              Message.created_at <= message.created_at)
        .order_by(Message.created_at.desc())).first()


def postmark_client(server_token: str):
    from postmarker.core import PostmarkClient

    base = (current_app.config.get("POSTMARK_API_BASE_URL") or "https://api.postmarkapp.com").rstrip("/")
    return PostmarkClient(server_token=server_token, root_api_url=base + "/", timeout=HTTP_TIMEOUT)


def deliver(message: Message) -> None:
    """Send an assistant or staff message by email, in the customer's thread."""
    from postmarker.exceptions import ClientError

    company = db.session.get(Company, message.company_id)
    token = company.postmark_server_token or current_app.config.get("POSTMARK_SERVER_TOKEN")
    sender = (company.postmark_from_email or current_app.config.get("POSTMARK_FROM_EMAIL")
              or company.inbound_email)
    if not token or not sender:
        raise DeliveryRefused("Email replies are not configured for this company (a Postmark server "
                              "token and a sender address are needed).")
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
            raise DeliveryRefused(PERMANENT_ERRORS.get(err.error_code) or
                                  f"Postmark refused the email (HTTP {status}, ErrorCode {err.error_code}).") \
                from None
        log.warning("Postmark answered HTTP %s (ErrorCode %s) for message %s: will retry", status, err.error_code,
                    message.id)
        raise
    message.channel_message_id = response.get("MessageID") or None
    message.channel_meta = {"to": recipient, "subject": fields["Subject"], **fields["Headers"]}
    log.info("email reply %s sent (Postmark MessageID %s)", message.id, message.channel_message_id)


def send_address_verification(company: Company) -> Optional[str]:
    """Mail the pending custom inbound address its one-time code (see services/channel_addresses.py).

    Sent with the platform's Postmark settings (else the company's). Returns the address it was sent
    to (None: nothing pending). Raises DeliveryRefused when email cannot be sent at all.
    """
    from postmarker.exceptions import ClientError

    address, code = company.inbound_email_pending, company.inbound_email_code
    if not address or not code:
        return None
    token = current_app.config.get("POSTMARK_SERVER_TOKEN") or company.postmark_server_token
    sender = current_app.config.get("POSTMARK_FROM_EMAIL") or company.postmark_from_email
    if not token or not sender:
        raise DeliveryRefused("Outgoing email is not configured (a Postmark server token and a sender address), "
                              "so the inbound address cannot be verified; ask the operator to set it.")
    text = (f"{company.name} asked to receive the email sent to {address} in its support inbox.\n\n"
            f"If that is you, forward this email (or all mail to {address}) to your platform address; it is "
            f"confirmed as soon as this message arrives there. If it is not you, ignore this email.\n\n"
            f"Confirmation code: {code}\n")
    try:
        postmark_client(token).emails.send(From=sender, To=address, TextBody=text,
                                           Subject=f"Confirm {address} for {company.name} ({code})")
    except ClientError as err:
        status = _http_status(err)
        if 400 <= status < 500 and status not in TRANSIENT_STATUSES:
            raise DeliveryRefused(f"Postmark refused the verification email (HTTP {status}).") from None
        raise
    log.info("inbound address verification for %s sent", company.slug)
    return address


def _http_status(err) -> int:
    response = getattr(err.__cause__, "response", None)
    return int(getattr(response, "status_code", 0) or 0)
