"""Settings (owners only): AI personality, widget, channels and credentials, API keys.

Secrets (Twilio auth token, Postmark server token) are write-only: the page says "set" or
"not set" and never puts their value in the HTML. A new API key is shown once, in the response
to the request that created it (never stored in the session cookie).
"""

from __future__ import annotations

import re
from typing import Optional
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .dashboard import bp, current_company, owned, owner_required
from .extensions import db
from .models import ApiKey, Company, now

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
PHONE = re.compile(r"^\+[1-9][0-9]{6,15}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LIMITS = {"personality": 2000, "fallback_message": 1000, "widget_title": 100, "widget_greeting": 500}


def public_base_url() -> str:
    return (current_app.config.get("PUBLIC_BASE_URL") or request.url_root).rstrip("/")


def widget_snippet(company: Company) -> str:
    return (f'<script src="{public_base_url()}/widget.js" data-widget-key="{company.widget_key}" async>'
            f'</script>')


def normalize_origin(raw: str) -> Optional[str]:
    """'https://www.example.com' (scheme + host [+ port], no path), or None when it is not one."""
    raw = raw.strip().rstrip("/")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment \
            or parts.username or parts.password:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.hostname.lower()}" + (f":{port}" if port else "")


def webhook_url(kind: str) -> Optional[str]:
    """The public URL of the channel webhook whose route mentions ``kind`` (when that area is installed)."""
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint.startswith("webhooks.") and kind in rule.rule and "POST" in (rule.methods or ()):
            return public_base_url() + rule.rule
    return None


def render_settings(company: Company, errors: Optional[dict] = None, new_key: Optional[str] = None,
                    status: int = 200, form: Optional[dict] = None):
    keys = db.session.scalars(select(ApiKey).where(ApiKey.company_id == company.id)
                              .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())).all()
    return render_template("dashboard/settings.html", company=company, keys=keys, errors=errors or {},
                           new_key=new_key, snippet=widget_snippet(company), form=form or {},
                           webhooks={"whatsapp": webhook_url("whatsapp"), "email": webhook_url("email")},
                           active_page="settings"), status


@bp.get("/settings")
@owner_required
def settings():
    return render_settings(current_company())


def _text(name: str) -> str:
    return (request.form.get(name) or "").strip()


@bp.post("/settings/assistant")
@owner_required
def settings_assistant():
    company = current_company()
    values = {"personality": _text("personality"), "fallback_message": _text("fallback_message")}
    errors = [f"{name.replace('_', ' ').capitalize()} is too long (at most {LIMITS[name]} characters)."
              for name, value in values.items() if len(value) > LIMITS[name]]
    if errors:
        return render_settings(company, {"assistant": errors}, status=422, form=request.form)
    company.personality, company.fallback_message = values["personality"], values["fallback_message"]
    db.session.commit()
    flash("AI assistant settings saved.", "success")
    return redirect(url_for("dashboard.settings") + "#assistant")


@bp.post("/settings/widget")
@owner_required
def settings_widget():
    company = current_company()
    errors = []
    title, greeting, color = _text("widget_title"), _text("widget_greeting"), _text("widget_color")
    if not title:
        errors.append("The widget title is empty.")
    for name, value in (("widget_title", title), ("widget_greeting", greeting)):
        if len(value) > LIMITS[name]:
            errors.append(f"The {name.split('_')[1]} is too long (at most {LIMITS[name]} characters).")
    if not COLOR.match(color):
        errors.append("The colour must look like #4f46e5.")
    origins = []
    for line in re.split(r"[\s,]+", request.form.get("allowed_origins") or ""):
        if not line:
            continue
        origin = normalize_origin(line)
        if origin is None:
            errors.append(f"{line[:100]} is not an origin: write it like https://www.example.com (no path).")
        elif origin not in origins:
            origins.append(origin)
    if errors:
        return render_settings(company, {"widget": errors}, status=422, form=request.form)
    company.widget_title, company.widget_greeting, company.widget_color = title, greeting, color.lower()
    company.allowed_origins = origins
    db.session.commit()
    flash("Chat widget settings saved.", "success")
    return redirect(url_for("dashboard.settings") + "#widget")


@bp.post("/settings/channels")
@owner_required
def settings_channels():
    company = current_company()
    errors = []
    number = _text("whatsapp_number").removeprefix("whatsapp:").replace(" ", "")
    if number and not PHONE.match(number):
        errors.append("The WhatsApp number must be in international format, like +14155238886.")
    inbound = _text("inbound_email").lower()
    sender = _text("postmark_from_email")
    for label, value in (("inbound address", inbound), ("sender address", sender)):
        if value and not EMAIL.match(value):
            errors.append(f"The {label} is not an e-mail address.")
    sid = _text("twilio_account_sid")
    if sid and not re.fullmatch(r"AC[0-9a-zA-Z]{32}", sid):
        errors.append("The Twilio Account SID looks like AC followed by 32 letters and digits.")
    if errors:
        return render_settings(company, {"channels": errors}, status=422, form=request.form)
    company.whatsapp_number = f"whatsapp:{number}" if number else None
    company.inbound_email = inbound or None
    company.postmark_from_email = sender or None
    company.twilio_account_sid = sid or None
    # Write-only secrets: a blank field keeps the stored value; "clear" removes it.
    for field in ("twilio_auth_token", "postmark_server_token"):
        if request.form.get(f"clear_{field}"):
            setattr(company, field, None)
        elif _text(field):
            setattr(company, field, _text(field))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        company = current_company()
        return render_settings(company, {"channels": [
            "That WhatsApp number or inbound address is already used by another company."]}, status=409,
            form=request.form)
    flash("Channel settings saved.", "success")
    return redirect(url_for("dashboard.settings") + "#channels")


@bp.post("/settings/api-keys")
@owner_required
def api_key_create():
    company = current_company()
    name = _text("name")[:100] or "Dashboard"
    _, key = ApiKey.issue(company, name)
    db.session.commit()
    return render_settings(company, new_key=key)


@bp.post("/settings/api-keys/<key_id>/revoke")
@owner_required
def api_key_revoke(key_id: str):
    key = owned(ApiKey, key_id)
    if key.revoked_at is None:
        key.revoked_at = now()
        db.session.commit()
        flash(f"Revoked the key {key.prefix}…", "success")
    return redirect(url_for("dashboard.settings") + "#api-keys")


@bp.get("/widget-preview")
def widget_preview():
    """A sample page embedding the widget from this app's own origin (always allowed)."""
    company = current_company()
    return render_template("dashboard/widget_preview.html", company=company, active_page="settings")
