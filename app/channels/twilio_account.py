"""A company's Twilio account for WhatsApp: its number, its credentials, and Twilio's error codes.

* A number is written ``whatsapp:+14155238886`` ("whatsapp:+1 415 523 8886" and "+14155238886"
  are the same number).
* A company's credentials are its own pair (``twilio_account_sid`` + ``twilio_auth_token``) when it
  has an auth token, else the process-wide TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN. Its sender is
  its ``whatsapp_number``, else TWILIO_WHATSAPP_NUMBER.
"""

from __future__ import annotations

import re
from typing import Optional

from flask import current_app

from ..infra.models import Company

# Twilio error codes that never succeed on retry, whatever the HTTP status says.
PERMANENT_CODES = {
    63016: "WhatsApp only allows free-form replies within 24 hours of the customer's last message "
           "(Twilio error 63016); reply with an approved template instead.",
    21211: "The customer's number is not a valid phone number (Twilio error 21211).",
    21610: "The customer has opted out of messages from this number (Twilio error 21610).",
    63003: "The customer's number is not on WhatsApp (Twilio error 63003).",
}


def normalize_number(number: Optional[str]) -> Optional[str]:
    """``whatsapp:+14155238886`` for any of "whatsapp:+1 415 523 8886", "+14155238886"."""
    if not number:
        return None
    number = re.sub(r"[\s()\-.]", "", number.strip())
    if number.lower().startswith("whatsapp:"):
        number = number[len("whatsapp:"):]
    return f"whatsapp:{number}" if number else None


def credentials(company: Company) -> tuple[Optional[str], Optional[str]]:
    """(account sid, auth token): the company's own pair, else the process-wide defaults."""
    if company.twilio_auth_token:
        return company.twilio_account_sid, company.twilio_auth_token
    return current_app.config.get("TWILIO_ACCOUNT_SID"), current_app.config.get("TWILIO_AUTH_TOKEN")


def sender_number(company: Company) -> Optional[str]:
    return normalize_number(company.whatsapp_number or current_app.config.get("TWILIO_WHATSAPP_NUMBER"))
