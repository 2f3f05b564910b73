"""WhatsApp replies sent through Twilio's REST API.

The text (plus a compact "Source: policies.pdf p.2" line for AI answers) is split into parts of
at most 1,600 characters on sentence boundaries and sent with the Twilio client
(TWILIO_API_BASE_URL points it elsewhere, e.g. a local stand-in). The sids of parts already sent
are saved in ``Message.channel_meta`` after each part, so a retry after a failure half-way sends
only the rest. Twilio 4xx errors (e.g. 63016: outside WhatsApp's 24-hour window) are permanent;
429, 5xx and network errors are raised and retried by RQ with backoff. When PUBLIC_BASE_URL is
set, Twilio is asked to report each message's fate to the status webhook.
"""

from __future__ import annotations

import logging
import re
import textwrap
from typing import Callable

from flask import current_app

from ...domain_errors import DeliveryRefused
from ...infra.extensions import db
from ...infra.models import Company, Message
from ..twilio_account import PERMANENT_CODES, credentials, sender_number
from .sources import sources_of

log = logging.getLogger(__name__)
MAX_LENGTH = 1600  # Twilio's limit for one WhatsApp message body
HTTP_TIMEOUT = 20  # seconds; the outbound job itself times out after 120
TRANSIENT_STATUSES = {408, 409, 429}
STATUS_CALLBACK_PATH = "/api/webhooks/whatsapp/status/"  # the route in app/webhooks.py

_twilio_http_log = logging.getLogger(__name__ + ".http")
_twilio_http_log.setLevel(logging.WARNING)  # the Twilio client logs every request at INFO
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
        # One sentence longer than a message: cut between words (a longer "word", e.g. a URL, is cut).
        parts.extend(textwrap.wrap(unit.strip(), limit, break_on_hyphens=False))
    if current.strip():
        parts.append(current.strip())
    return parts


def reply_text(message: Message) -> str:
    """The text sent: the reply, plus one compact line naming its sources (AI answers only)."""
    labels = [(f"{c.title} p.{c.page}" if c.page else c.title) + (f" ({c.url})" if c.url else "")
              for c in sources_of(message)]
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


def deliver(message: Message, save_progress: Callable[[], None]) -> None:
    """Send an assistant or staff message to the customer's WhatsApp, part by part."""
    from twilio.base.exceptions import TwilioRestException, TwilioServiceException

    company = db.session.get(Company, message.company_id)
    account_sid, auth_token = credentials(company)
    from_number = sender_number(company)
    if not (account_sid and auth_token and from_number):
        raise DeliveryRefused("WhatsApp is not configured for this company (Twilio account SID, "
                              "auth token and WhatsApp number are needed).")
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
                raise DeliveryRefused(_describe(err, index, len(parts))) from None
            log.warning("Twilio answered HTTP %s (error %s) for message %s: will retry", err.status,
                        err.code, message.id)
            raise
        sent.append(result.sid)
        message.channel_meta = {**meta, "sent_parts": sent, "parts": len(parts)}
        message.channel_message_id = message.channel_message_id or result.sid
        save_progress()  # a failure of a later part keeps this one sent
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
