"""Who owns a WhatsApp number or an email address: exactly one company, and only when it can prove it.

The rule (README: "Channels: who owns a number or an address"):

* A number or an address routes to exactly one company. Saving one that another company already
  uses, or the platform's own (TWILIO_WHATSAPP_NUMBER, the shared inbound domain), is refused
  with ``ChannelTaken`` — whoever saves it (staff in settings or the operator's CLI).
* WhatsApp: a company with a number of its own is verified (webhook signatures) and sends with its
  own Twilio credentials only; only a company without a number is served by the platform default.
  Twilio signs a number's webhooks with the token of the account that owns the number, so only
  the real owner's token verifies them.
* Email: every company has a platform address ``<local>+<inbound_hash>@<domain>`` of
  POSTMARK_INBOUND_ADDRESS, with a random hash nobody can guess. A custom address set in
  settings is only *pending*: we mail a one-time code to it, and it becomes the company's once
  that mail comes back forwarded to the company's platform address (so the company really
  receives that address' mail). The operator's CLI may set a custom address directly.
"""

from __future__ import annotations

import re
import secrets
from typing import Optional

from flask import current_app
from sqlalchemy import func, select

from ..domain_errors import ChannelTaken
from ..infra import queues
from ..infra.extensions import db
from ..infra.models import Company

POSTMARK_SHARED_DOMAIN = "inbound.postmarkapp.com"  # Postmark's inbound addresses: the platform's, never custom


# ----------------------------------------------------------------------------- WhatsApp numbers
def normalize_number(number: Optional[str]) -> Optional[str]:
    """``whatsapp:+14155238886`` for any of "whatsapp:+1 415 523 8886", "+14155238886"."""
    if not number:
        return None
    number = re.sub(r"[\s()\-.]", "", number.strip())
    if number.lower().startswith("whatsapp:"):
        number = number[len("whatsapp:"):]
    return f"whatsapp:{number}" if number else None


def platform_number() -> Optional[str]:
    return normalize_number(current_app.config.get("TWILIO_WHATSAPP_NUMBER"))


def number_owner(number: Optional[str]) -> Optional[Company]:
    """The company whose own number this is (stored with or without the ``whatsapp:`` prefix)."""
    number = normalize_number(number)
    if number is None:
        return None
    bare = number[len("whatsapp:"):]
    return db.session.scalars(select(Company).where(Company.whatsapp_number.in_((number, bare)))).first()


def set_whatsapp_number(company: Company, number: Optional[str]) -> None:
    """Give ``company`` this number (None: none, i.e. the platform default). Raises ChannelTaken."""
    number = normalize_number(number)
    if number is not None and number == platform_number():
        raise ChannelTaken("That is the platform's default WhatsApp number, which serves companies without a "
                           "number of their own: leave the number empty to use it.")
    owner = number_owner(number)
    if owner is not None and owner.id != company.id:
        raise ChannelTaken("That WhatsApp number is already used by another company.")
    company.whatsapp_number = number


# ----------------------------------------------------------------------------- email addresses
def base_address(address: str) -> str:
    """The address without its ``+tag``: ``support+x@acme.example`` → ``support@acme.example``."""
    return re.sub(r"\+[^@]*@", "@", address.strip().lower())


def platform_inbound() -> Optional[tuple[str, str]]:
    """(local part, domain) of POSTMARK_INBOUND_ADDRESS, the platform's shared inbound address."""
    address = (current_app.config.get("POSTMARK_INBOUND_ADDRESS") or "").strip().lower()
    local, at, domain = base_address(address).partition("@") if address else ("", "", "")
    return (local, domain) if at and local and domain else None


def platform_address(company: Company) -> Optional[str]:
    """The company's own address on the platform (None until POSTMARK_INBOUND_ADDRESS is set)."""
    shared = platform_inbound()
    return f"{shared[0]}+{company.inbound_hash}@{shared[1]}" if shared else None


def company_for_hash(mailbox_hash: Optional[str]) -> Optional[Company]:
    if not mailbox_hash or not re.fullmatch(r"[0-9a-f]{8,32}", mailbox_hash.strip().lower()):
        return None
    return db.session.scalars(select(Company).where(Company.inbound_hash == mailbox_hash.strip().lower())).first()


def _check_address_free(company: Company, address: str) -> None:
    domain = address.rpartition("@")[2]
    shared = platform_inbound()
    if domain == POSTMARK_SHARED_DOMAIN or (shared and domain == shared[1]):
        raise ChannelTaken("That is an address of the platform itself; your own platform address is shown "
                           "under Channels.")
    taken = db.session.scalars(select(Company.inbound_email).where(
        Company.id != company.id, func.lower(Company.inbound_email).endswith("@" + domain, autoescape=True))).all()
    if any(base_address(other) == base_address(address) for other in taken):
        raise ChannelTaken("That inbound address is already used by another company.")


def claim_inbound_address(company: Company, address: Optional[str]) -> str:
    """Staff ask for a custom inbound address: "unchanged", "cleared" or "pending" (a code is mailed to it
    and it becomes theirs when that mail arrives forwarded to their platform address). Raises ChannelTaken."""
    address = (address or "").strip().lower() or None
    if address is None:
        changed = bool(company.inbound_email or company.inbound_email_pending)
        company.inbound_email = company.inbound_email_pending = company.inbound_email_code = None
        return "cleared" if changed else "unchanged"
    if address == (company.inbound_email or "").lower():
        company.inbound_email_pending = company.inbound_email_code = None
        return "unchanged"
    if address == (company.inbound_email_pending or "").lower():
        return "pending"
    _check_address_free(company, address)
    company.inbound_email_pending = address
    company.inbound_email_code = "verify-" + secrets.token_hex(8)
    queues.on_commit(queues.enqueue_address_verification, company.id)
    return "pending"


def set_inbound_address(company: Company, address: Optional[str]) -> None:
    """The operator sets a custom inbound address directly (the CLI). Raises ChannelTaken."""
    address = (address or "").strip().lower() or None
    if address is not None:
        _check_address_free(company, address)
    company.inbound_email = address
    company.inbound_email_pending = company.inbound_email_code = None


def confirm_inbound_address(company: Company, text: str) -> bool:
    """Mail that reached the company's platform address: when it carries the pending address' code,
    that address becomes the company's (unless another company proved it first)."""
    code = company.inbound_email_code
    if not company.inbound_email_pending or not code or code not in (text or "").lower():
        return False
    address = company.inbound_email_pending
    try:
        _check_address_free(company, address)
    except ChannelTaken:
        return False
    company.inbound_email = address
    company.inbound_email_pending = company.inbound_email_code = None
    return True
