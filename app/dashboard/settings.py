"""Settings (owners only): AI personality, widget, channels and credentials, API keys.

Secrets (Twilio auth token, Postmark server token) are write-only: the page says "set" or
"not set" and never puts their value in the HTML. A new API key is shown once, in the response
to the request that created it (never stored in the session cookie).
"""

from __future__ import annotations

from typing import Optional

from flask import current_app, flash, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rag_engine import Settings

from ..domain_errors import ChannelTaken
from ..infra.extensions import db
from ..infra.models import ApiKey, Company, now
from ..services import channel_addresses, refused_origins
from .blueprint import bp, current_company, owned, owner_required
from .forms import AssistantForm, ChannelsForm, WidgetForm, normalize_origin, problems


def public_base_url() -> str:
    return (current_app.config.get("PUBLIC_BASE_URL") or request.url_root).rstrip("/")


def widget_snippet(company: Company) -> str:
    return (f'<script src="{public_base_url()}/widget.js" data-widget-key="{company.widget_key}" async>'
            f'</script>')


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
                           postmark_webhook=postmark_webhook(), refused=refused_origins.recent(company),
                           platform_address=channel_addresses.platform_address(company),
                           default_fallback=default_fallback(), active_page="settings"), status


def postmark_webhook() -> dict:
    """Whether the inbound email webhook can accept anything, and the URL to paste into Postmark (with its
    user; the password is the operator's POSTMARK_WEBHOOK_PASSWORD and is never shown)."""
    user = current_app.config.get("POSTMARK_WEBHOOK_USER")
    configured = bool(user and current_app.config.get("POSTMARK_WEBHOOK_PASSWORD"))
    url = webhook_url("email") or ""
    scheme, _, rest = url.partition("://")
    return {"configured": configured,
            "url": f"{scheme}://{user}:<POSTMARK_WEBHOOK_PASSWORD>@{rest}" if configured else url}


def default_fallback() -> str:
    """The text the assistant falls back to when the company sets none (the engine's setting)."""
    kb = current_app.extensions.get("knowledge_base")
    return kb.settings.fallback_message if kb is not None else Settings.from_env().fallback_message


@bp.get("/settings")
@owner_required
def settings():
    return render_settings(current_company())


def _form_text(name: str) -> str:
    return (request.form.get(name) or "").strip()


@bp.post("/settings/assistant")
@owner_required
def settings_assistant():
    company = current_company()
    try:
        form = AssistantForm.model_validate(request.form.to_dict())
    except ValidationError as err:
        return render_settings(company, {"assistant": problems(err)}, status=422, form=request.form)
    company.personality, company.fallback_message = form.personality, form.fallback_message
    db.session.commit()
    flash("AI assistant settings saved.", "success")
    return redirect(url_for("dashboard.settings") + "#assistant")


@bp.post("/settings/widget")
@owner_required
def settings_widget():
    company = current_company()
    try:
        form = WidgetForm.model_validate(request.form.to_dict())
    except ValidationError as err:
        return render_settings(company, {"widget": problems(err)}, status=422, form=request.form)
    company.widget_title, company.widget_greeting, company.widget_color = (
        form.widget_title, form.widget_greeting, form.widget_color)
    company.allowed_origins = form.allowed_origins
    db.session.commit()
    flash("Chat widget settings saved.", "success")
    return redirect(url_for("dashboard.settings") + "#widget")


@bp.post("/settings/widget/allow-origin")
@owner_required
def settings_widget_allow_origin():
    """One click from "recently refused": the origin joins the allow-list."""
    company = current_company()
    origin = normalize_origin(_form_text("origin"))
    if origin is None:
        flash("That is not a website origin.", "error")
        return redirect(url_for("dashboard.settings") + "#widget")
    if origin not in (company.allowed_origins or []):
        company.allowed_origins = [*(company.allowed_origins or []), origin]
        db.session.commit()
    refused_origins.forget(company, origin)
    flash(f"The chat widget now works on {origin}.", "success")
    return redirect(url_for("dashboard.settings") + "#widget")


@bp.post("/settings/channels")
@owner_required
def settings_channels():
    company = current_company()
    try:
        form = ChannelsForm.model_validate(request.form.to_dict())
    except ValidationError as err:
        return render_settings(company, {"channels": problems(err)}, status=422, form=request.form)
    try:
        channel_addresses.set_whatsapp_number(company, form.whatsapp_number or None)
        inbound = channel_addresses.claim_inbound_address(company, form.inbound_email or None)
    except ChannelTaken as err:
        db.session.rollback()
        return render_settings(current_company(), {"channels": [err.message]}, status=409, form=request.form)
    company.postmark_from_email = form.postmark_from_email or None
    company.twilio_account_sid = form.twilio_account_sid or None
    # Write-only secrets: a blank field keeps the stored value; "clear" removes it.
    for field in ("twilio_auth_token", "postmark_server_token"):
        if request.form.get(f"clear_{field}"):
            setattr(company, field, None)
        elif _form_text(field):
            setattr(company, field, _form_text(field))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        company = current_company()
        return render_settings(company, {"channels": [
            "That WhatsApp number or inbound address is already used by another company."]}, status=409,
            form=request.form)
    flash("Channel settings saved.", "success")
    if inbound == "pending":
        flash(f"We mailed a confirmation code to {company.inbound_email_pending}. Forward that address's mail to "
              f"your platform address: it is confirmed as soon as the code arrives there.", "info")
    return redirect(url_for("dashboard.settings") + "#channels")


@bp.post("/settings/api-keys")
@owner_required
def api_key_create():
    company = current_company()
    name = _form_text("name")[:100] or "Dashboard"
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
