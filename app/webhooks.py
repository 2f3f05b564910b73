"""Provider webhooks: WhatsApp (Twilio) and email (Postmark).

Thin views: authenticate the provider → parse → route to a company → store and queue → commit →
answer the provider at once. What each step means per provider lives in app/channels/inbound/;
the answer is produced by a worker (workers/jobs.py), never during the request. A redelivery
stores nothing: its unit of work is rolled back.

What the providers are told:
* Twilio: empty TwiML (200) for everything accepted, redeliveries and unknown numbers included (so
  it doesn't retry); 403 for a missing or wrong X-Twilio-Signature (nothing is stored). Delivery
  reports (the status webhook): 204.
* Postmark: 200 for everything accepted, redeliveries, unknown addresses and mail we ignore; 401
  for missing or wrong basic-auth credentials (nothing is stored; Postmark retries, so fixing the
  credentials within its retry window loses nothing).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request

from .channels.inbound import email, email_filters, whatsapp
from .errors import ApiError
from .infra.extensions import db

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")

UNVERIFIED_WARNING = ("TWILIO_VALIDATE_SIGNATURES=false: WhatsApp webhook signatures are NOT verified, anyone "
                      "can post fake messages. Use this for local development only.")
POSTMARK_MAX_BYTES = 40 * 1024 * 1024  # Postmark's inbound limit is 35 MB (attachments, base64)


@bp.record_once
def _warn_when_signatures_are_off(state) -> None:
    if not state.app.config.get("TWILIO_VALIDATE_SIGNATURES", True):
        log.warning(UNVERIFIED_WARNING)


def public_url() -> str:
    """The URL the provider posted to: PUBLIC_BASE_URL (when behind a proxy) plus this path and query."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        return request.url
    query = request.query_string.decode()
    return base.rstrip("/") + request.path + (f"?{query}" if query else "")


def twiml() -> Response:
    from twilio.twiml.messaging_response import MessagingResponse

    return Response(str(MessagingResponse()), status=200, mimetype="text/xml")


def finish(outcome: str) -> str:
    """Commit what was stored (its jobs are queued then); a redelivery leaves nothing behind."""
    if outcome == "stored":
        db.session.commit()
    else:
        db.session.rollback()
    return outcome


def _twilio_company(number_field: str):
    """The company owning the request's ``number_field`` number, after checking Twilio's signature.
    None: no company owns the number. Raises 403 when the signature is missing or wrong."""
    number = request.form.get(number_field)
    company = whatsapp.company_for_number(number)
    if company is None:
        log.warning("WhatsApp webhook for %s, a number no company owns: ignored", number)
        return None
    if not current_app.config.get("TWILIO_VALIDATE_SIGNATURES", True):
        log.warning(UNVERIFIED_WARNING)
        return company
    valid = _signed_for(company)
    if not valid and company.cached:  # its token may have changed since: check against the stored one
        company = whatsapp.company_for_number(number, fresh=True)
        if company is None:
            log.warning("WhatsApp webhook for %s, a number no company owns: ignored", number)
            return None
        valid = _signed_for(company)
    if not valid:
        log.warning("WhatsApp webhook with a missing or invalid signature for %s (checked against %s): refused",
                    company.slug, public_url())
        raise ApiError(403, "Invalid or missing Twilio signature.", "invalid_signature")
    return company


def _signed_for(company) -> bool:
    return whatsapp.signature_valid(company, public_url(), request.form, request.headers.get("X-Twilio-Signature"),
                                    request.headers.get("X-Twilio-Webhooks-Signature-Settings"))


@bp.post("/whatsapp/")
def whatsapp_inbound():
    company = _twilio_company("To")  # our number is the recipient
    if company is not None:
        finish(whatsapp.receive(company, request.form))
    return twiml()


@bp.post("/whatsapp/status/")
def whatsapp_status():
    """Twilio's delivery reports for the messages we sent (asked for when PUBLIC_BASE_URL is set)."""
    company = _twilio_company("From")  # our number is the sender
    if company is not None:
        whatsapp.record_status(company, request.form)
        db.session.commit()
    return Response(status=204)


@bp.before_request
def allow_large_inbound_email():
    if request.endpoint == "webhooks.email_inbound":
        request.max_content_length = POSTMARK_MAX_BYTES  # above MAX_UPLOAD_MB on purpose


@bp.post("/email/")
def email_inbound():
    auth = request.authorization
    basic = auth is not None and auth.type == "basic"
    if not email.credentials_ok(auth.username if basic else None, auth.password if basic else None):
        raise ApiError(401, "Missing or invalid webhook credentials.",
                       headers={"WWW-Authenticate": 'Basic realm="inbound email"'})
    inbound = email.parse(request.get_json(silent=True))
    company, address = email.company_for(inbound)
    if company is None:
        log.warning("email %s to %s, an address no company owns: not answered", inbound.provider_id,
                    ", ".join(inbound.recipients) or "no recipient")
        return jsonify({"status": "unrouted"})
    if email.confirms_address(company, inbound):
        db.session.commit()
        log.info("email %s confirmed %s's custom inbound address", inbound.provider_id, company.slug)
        return jsonify({"status": "address_confirmed"})
    reason = email_filters.skip_reason(inbound)
    if reason:
        log.info("email %s for %s not answered: %s", inbound.provider_id, company.slug, reason)
        return jsonify({"status": "ignored", "reason": reason})
    return jsonify({"status": finish(email.receive(company, inbound, address))})
