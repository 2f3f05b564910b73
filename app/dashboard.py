"""Staff pages under /dashboard/: overview, knowledge, conversations, settings.

Every page needs a logged-in staff user, and every query is filtered by that user's company:
another company's ids look exactly like missing ones (404). Routes live in dashboard_*.py.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import datetime, timezone
from functools import wraps
from typing import Optional

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from .extensions import db
from .models import Company, Conversation, Document, Message

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.before_request
@login_required
def require_login():
    return None


@bp.after_request
def security_headers(response):
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def current_company() -> Company:
    company = db.session.get(Company, current_user.company_id)
    if company is None:
        abort(404)
    return company


def owner_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user.role != "owner":
            abort(403, "Only the account owner can change settings.")
        return view(*args, **kwargs)

    return wrapped


def owned(model, object_id: str):
    """``model`` row ``object_id`` of the current user's company, else 404."""
    row = db.session.scalars(select(model).where(model.id == object_id,
                                                 model.company_id == current_user.company_id)).first()
    if row is None:
        abort(404)
    return row


# ----------------------------------------------------------------------------- template helpers
_ICONS = {
    "grid": '<rect x="3" y="3" width="7" height="7"/><rect x="14" y="3" width="7" height="7"/>'
            '<rect x="14" y="14" width="7" height="7"/><rect x="3" y="14" width="7" height="7"/>',
    "book": '<path d="M2 3h6a4 4 0 0 1 4 4v14a3 3 0 0 0-3-3H2z"/><path d="M22 3h-6a4 4 0 0 0-4 4v14a3 3 0 0 1 3-3h7z"/>',
    "chat": '<path d="M21 11.5a8.38 8.38 0 0 1-.9 3.8 8.5 8.5 0 0 1-7.6 4.7 8.38 8.38 0 0 1-3.8-.9L3 21l1.9-5.7a8.38 '
            '8.38 0 0 1-.9-3.8 8.5 8.5 0 0 1 4.7-7.6 8.38 8.38 0 0 1 3.8-.9h.5a8.48 8.48 0 0 1 8 8v.5z"/>',
    "sliders": '<line x1="4" y1="21" x2="4" y2="14"/><line x1="4" y1="10" x2="4" y2="3"/><line x1="12" y1="21" '
               'x2="12" y2="12"/><line x1="12" y1="8" x2="12" y2="3"/><line x1="20" y1="21" x2="20" y2="16"/>'
               '<line x1="20" y1="12" x2="20" y2="3"/><line x1="1" y1="14" x2="7" y2="14"/><line x1="9" y1="8" '
               'x2="15" y2="8"/><line x1="17" y1="16" x2="23" y2="16"/>',
    "logout": '<path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4"/><polyline points="16 17 21 12 16 7"/>'
              '<line x1="21" y1="12" x2="9" y2="12"/>',
    "upload": '<polyline points="16 16 12 12 8 16"/><line x1="12" y1="12" x2="12" y2="21"/>'
              '<path d="M20.39 18.39A5 5 0 0 0 18 9h-1.26A8 8 0 1 0 3 16.3"/>',
    "file": '<path d="M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z"/><polyline points="14 2 14 8 20 8"/>'
            '<line x1="16" y1="13" x2="8" y2="13"/><line x1="16" y1="17" x2="8" y2="17"/>',
    "trash": '<polyline points="3 6 5 6 21 6"/><path d="M19 6v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V6m3 0V4a2 2 0 0 1 '
             '2-2h4a2 2 0 0 1 2 2v2"/>',
    "refresh": '<polyline points="23 4 23 10 17 10"/><polyline points="1 20 1 14 7 14"/><path d="M3.51 9a9 9 0 0 1 '
               '14.85-3.36L23 10M1 14l4.64 4.36A9 9 0 0 0 20.49 15"/>',
    "check": '<path d="M22 11.08V12a10 10 0 1 1-5.93-9.14"/><polyline points="22 4 12 14.01 9 11.01"/>',
    "user": '<path d="M20 21v-2a4 4 0 0 0-4-4H8a4 4 0 0 0-4 4v2"/><circle cx="12" cy="7" r="4"/>',
    "send": '<line x1="22" y1="2" x2="11" y2="13"/><polygon points="22 2 15 22 11 13 2 9 22 2"/>',
    "headset": '<path d="M3 18v-6a9 9 0 0 1 18 0v6"/><path d="M21 19a2 2 0 0 1-2 2h-1a2 2 0 0 1-2-2v-3a2 2 0 0 1 '
               '2-2h3zM3 19a2 2 0 0 0 2 2h1a2 2 0 0 0 2-2v-3a2 2 0 0 0-2-2H3z"/>',
    "zap": '<polygon points="13 2 3 14 12 14 11 22 21 10 12 10 13 2"/>',
    "copy": '<rect x="9" y="9" width="13" height="13" rx="2" ry="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 '
            '2-2h9a2 2 0 0 1 2 2v1"/>',
    "key": '<path d="M21 2l-2 2m-7.61 7.61a5.5 5.5 0 1 1-7.78 7.78 5.5 5.5 0 0 1 7.78-7.78zm0 0L15.5 7.5m0 0l3 3L22 '
           '7l-3-3m-3.5 3.5L19 4"/>',
    "globe": '<circle cx="12" cy="12" r="10"/><line x1="2" y1="12" x2="22" y2="12"/><path d="M12 2a15.3 15.3 0 0 1 4 '
             '10 15.3 15.3 0 0 1-4 10 15.3 15.3 0 0 1-4-10 15.3 15.3 0 0 1 4-10z"/>',
    "alert": '<path d="M10.29 3.86L1.82 18a2 2 0 0 0 1.71 3h16.94a2 2 0 0 0 1.71-3L13.71 3.86a2 2 0 0 0-3.42 0z"/>'
             '<line x1="12" y1="9" x2="12" y2="13"/><line x1="12" y1="17" x2="12.01" y2="17"/>',
    "thumbs-up": '<path d="M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 '
                 '0 1-2-2v-7a2 2 0 0 1 2-2h3"/>',
    "thumbs-down": '<path d="M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 '
                   '2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17"/>',
    "search": '<circle cx="11" cy="11" r="8"/><line x1="21" y1="21" x2="16.65" y2="16.65"/>',
    "mail": '<path d="M4 4h16c1.1 0 2 .9 2 2v12c0 1.1-.9 2-2 2H4c-1.1 0-2-.9-2-2V6c0-1.1.9-2 2-2z"/>'
            '<polyline points="22,6 12,13 2,6"/>',
    "phone": '<path d="M22 16.92v3a2 2 0 0 1-2.18 2 19.79 19.79 0 0 1-8.63-3.07 19.5 19.5 0 0 1-6-6 19.79 19.79 0 0 '
             '1-3.07-8.67A2 2 0 0 1 4.11 2h3a2 2 0 0 1 2 1.72 12.84 12.84 0 0 0 .7 2.81 2 2 0 0 1-.45 2.11L8.09 '
             '9.91a16 16 0 0 0 6 6l1.27-1.27a2 2 0 0 1 2.11-.45 12.84 12.84 0 0 0 2.81.7A2 2 0 0 1 22 16.92z"/>',
    "monitor": '<rect x="2" y="3" width="20" height="14" rx="2" ry="2"/><line x1="8" y1="21" x2="16" y2="21"/>'
               '<line x1="12" y1="17" x2="12" y2="21"/>',
    "eye": '<path d="M1 12s4-8 11-8 11 8 11 8-4 8-11 8-11-8-11-8z"/><circle cx="12" cy="12" r="3"/>',
    "help": '<circle cx="12" cy="12" r="10"/><path d="M9.09 9a3 3 0 0 1 5.83 1c0 2-3 3-3 3"/>'
            '<line x1="12" y1="17" x2="12.01" y2="17"/>',
    "x": '<line x1="18" y1="6" x2="6" y2="18"/><line x1="6" y1="6" x2="18" y2="18"/>',
    "arrow-left": '<line x1="19" y1="12" x2="5" y2="12"/><polyline points="12 19 5 12 12 5"/>',
    "clipboard": '<path d="M16 4h2a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2h2"/>'
                 '<rect x="8" y="2" width="8" height="4" rx="1" ry="1"/>',
    "inbox": '<polyline points="22 12 16 12 14 15 10 15 8 12 2 12"/><path d="M5.45 5.11L2 12v6a2 2 0 0 0 2 2h16a2 2 0 '
             '0 0 2-2v-6l-3.45-6.89A2 2 0 0 0 16.76 4H7.24a2 2 0 0 0-1.79 1.11z"/>',
}

CHANNEL_ICONS = {"web": "monitor", "whatsapp": "phone", "email": "mail"}
CHANNEL_LABELS = {"web": "Web chat", "whatsapp": "WhatsApp", "email": "Email"}
STATUS_LABELS = {"active": "AI answering", "handed_off": "Human", "resolved": "Resolved",
                 "pending": "Queued", "processing": "Processing", "completed": "Ready", "failed": "Failed"}


def icon(name: str, size: int = 18, cls: str = "") -> Markup:
    return Markup(f'<svg class="icon {escape(cls)}" width="{size}" height="{size}" viewBox="0 0 24 24" fill="none" '
                  f'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" '
                  f'aria-hidden="true">{_ICONS[name]}</svg>')


def ago(value: Optional[datetime]) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    seconds = int((datetime.now(timezone.utc) - value).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds // size
            if unit == "day":
                return "yesterday" if n == 1 else (f"{n} days ago" if n < 30 else value.strftime("%d %b %Y"))
            return f"{n} {unit} ago"
    return "just now"


def filesize(n: Optional[int]) -> str:
    n = n or 0
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def display_name(conversation: Conversation) -> str:
    if conversation.customer_name:
        return conversation.customer_name
    if conversation.channel == "web":
        return "Visitor #" + (re.sub(r"[^A-Za-z0-9]", "", conversation.customer_id)[:5].upper() or "?")
    return conversation.customer_id.removeprefix("whatsapp:")


def waiting_count() -> int:
    """Conversations waiting for a person (the sidebar badge)."""
    return db.session.scalar(select(func.count()).select_from(Conversation).where(
        Conversation.company_id == current_user.company_id, Conversation.status == "handed_off"))


@bp.app_context_processor
def template_helpers():
    return {"icon": icon, "CHANNEL_ICONS": CHANNEL_ICONS, "CHANNEL_LABELS": CHANNEL_LABELS,
            "STATUS_LABELS": STATUS_LABELS, "display_name": display_name, "waiting_count": waiting_count}


bp.add_app_template_filter(ago, "ago")
bp.add_app_template_filter(filesize, "filesize")


# ----------------------------------------------------------------------------- overview
def unanswered_questions(company_id: str, limit: int = 8, scan: int = 1000) -> list[dict]:
    """The customer questions the AI could not answer (its reply was the fallback), most asked first."""
    reply = aliased(Message)
    rows = db.session.execute(
        select(Message.content, Message.conversation_id, Message.created_at)
        .join(reply, reply.reply_to_id == Message.id)
        .where(Message.company_id == company_id, Message.role == "customer", reply.company_id == company_id,
               reply.role == "assistant", reply.answered.is_(False))
        .order_by(Message.created_at.desc()).limit(scan)
    ).all()
    groups: "OrderedDict[str, dict]" = OrderedDict()
    for content, conversation_id, created_at in rows:
        key = " ".join(content.lower().split()).rstrip("?!. ")
        group = groups.setdefault(key, {"question": content.strip(), "count": 0, "last_asked": created_at,
                                        "conversation_id": conversation_id})
        group["count"] += 1
    return sorted(groups.values(), key=lambda g: (-g["count"], -g["last_asked"].timestamp()))[:limit]


def overview_stats(company_id: str) -> dict:
    day_start = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    documents = dict(db.session.execute(
        select(Document.status, func.count()).where(Document.company_id == company_id).group_by(Document.status)
    ).all())
    answers = dict(db.session.execute(
        select(Message.answered, func.count())
        .where(Message.company_id == company_id, Message.role == "assistant").group_by(Message.answered)
    ).all())
    feedback = dict(db.session.execute(
        select(Message.feedback, func.count())
        .where(Message.company_id == company_id, Message.role == "assistant", Message.feedback.is_not(None))
        .group_by(Message.feedback)
    ).all())
    conversations_today = db.session.scalar(select(func.count()).select_from(Conversation).where(
        Conversation.company_id == company_id, Conversation.last_message_at >= day_start))
    new_today = db.session.scalar(select(func.count()).select_from(Conversation).where(
        Conversation.company_id == company_id, Conversation.created_at >= day_start))
    waiting = db.session.scalar(select(func.count()).select_from(Conversation).where(
        Conversation.company_id == company_id, Conversation.status == "handed_off"))
    answered, fallback = answers.get(True, 0), answers.get(False, 0)
    total_answers = answered + fallback
    return {
        "documents_total": sum(documents.values()),
        "documents": {status: documents.get(status, 0) for status in ("completed", "processing", "pending", "failed")},
        "conversations_today": conversations_today,
        "new_today": new_today,
        "waiting_for_human": waiting,
        "answered": answered,
        "fallback": fallback,
        "answered_pct": round(100 * answered / total_answers) if total_answers else None,
        "feedback_up": feedback.get("up", 0),
        "feedback_down": feedback.get("down", 0),
    }


@bp.get("/")
def overview():
    company = current_company()
    stats = overview_stats(company.id)
    recent = db.session.scalars(select(Conversation).where(Conversation.company_id == company.id)
                                .order_by(Conversation.last_message_at.desc()).limit(6)).all()
    from .dashboard_conversations import last_messages

    return render_template("dashboard/overview.html", company=company, stats=stats, recent=recent,
                           previews=last_messages([c.id for c in recent]),
                           gaps=unanswered_questions(company.id), active_page="overview")


from . import dashboard_conversations, dashboard_knowledge, dashboard_settings  # noqa: E402,F401
