"""A company's Twilio account for WhatsApp: its number, its credentials, and Twilio's error codes.

* A number is written ``whatsapp:+14155238886`` ("whatsapp:+1 415 523 8886" and "+14155238886"
  are the same number).
* A company with a number of its own uses its own pair (``twilio_account_sid`` +
  ``twilio_auth_token``) and nothing else: the platform's token never verifies or sends for a
  company's own number. A company without a number is served by the platform: TWILIO_WHATSAPP_NUMBER
  with TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN (app/services/channel_addresses.py has the rule).
"""

from __future__ import annotations

from typing import Optional

from flask import current_app

from ..infra.models import Company
from ..services.channel_addresses import normalize_number

__all__ = ["PERMANENT_CODES", "credentials", "normalize_number", "sender_number"]

# Twilio error codes that never succeed on retry, whatever the HTTP status says.
PERMANENT_CODES = {
    63016: "WhatsApp only allows free-form replies within 24 hours of the customer's last message "
           "(Twilio error 63016); reply with an approved template instead.",
    21211: "The customer's number is not a valid phone number (Twilio error 21211).",
    21610: "The customer has opted out of messages from this number (Twilio error 21610).",
    63003: "The customer's number is not on WhatsApp (Twilio error 63003).",
}


def credentials(company: Company) -> tuple[Optional[str], Optional[str]]:
    """(account sid, auth token): a company with its own number has only its own pair; one without a
    number is served by the platform's (the process-wide defaults)."""
    if company.whatsapp_number:
        return company.twilio_account_sid, company.twilio_auth_token
    return current_app.config.get("TWILIO_ACCOUNT_SID"), current_app.config.get("TWILIO_AUTH_TOKEN")


def sender_number(company: Company) -> Optional[str]:
    return normalize_number(company.whatsapp_number or current_app.config.get("TWILIO_WHATSAPP_NUMBER"))
