"""Mail that must never be answered: auto-replies, bounces, mailing lists, spam, our own mail.

Such mail is not stored at all (only logged with Postmark's MessageID and the reason):
auto-replies (Auto-Submitted other than "no", X-Autoreply/X-Autorespond, Precedence auto_reply,
out-of-office subjects), bounces (mailer-daemon/postmaster senders, ``Return-Path: <>``,
X-Failed-Recipients), mailing-list and bulk mail (List-Id, List-Unsubscribe, Precedence
bulk/list/junk), spam flagged by Postmark's SpamAssassin, and anything sent by one of our own
addresses (any company's inbound or sending address, POSTMARK_FROM_EMAIL): no mail loops.
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Optional

from flask import current_app
from sqlalchemy import select

from ...infra.extensions import db
from ...infra.models import Company
from .email import InboundEmail

_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[\s_-]*(reply|response|answer|antwort)|auto:|autoreply|out[\s_-]+of[\s_-]+(the[\s_-]+)?office|"
    r"ooo\b|abwesenheit|absence|r[ée]ponse automatique|respuesta autom[aá]tica|fuera de la oficina|"
    r"risposta automatica|automatisch antwoord|on vacation|vacation (reply|notice))", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliver(ed|able)|delivery (status notification|failure|has failed)|mail delivery (failed|failure|"
    r"subsystem)|returned mail|failure notice|message not delivered)", re.I)
_BOUNCE_SENDERS = {"mailer-daemon", "postmaster", "mail-daemon", "bounce", "bounces"}


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
