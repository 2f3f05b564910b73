"""Overview page: today's numbers, recent conversations, and the questions the AI could not answer."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timezone

from flask import render_template
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from ..infra.extensions import db
from ..infra.models import Conversation, Document, Message
from .blueprint import bp, current_company
from .conversations import last_messages


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
    undelivered = db.session.scalar(select(func.count()).select_from(Message).where(
        Message.company_id == company_id, Message.role.in_(("assistant", "staff")),
        Message.delivery_status == "failed"))
    answered, fallback = answers.get(True, 0), answers.get(False, 0)
    total_answers = answered + fallback
    return {
        "documents_total": sum(documents.values()),
        "documents": {status: documents.get(status, 0) for status in ("completed", "processing", "pending", "failed")},
        "conversations_today": conversations_today,
        "new_today": new_today,
        "waiting_for_human": waiting,
        "undelivered": undelivered,
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
    return render_template("dashboard/overview.html", company=company, stats=stats, recent=recent,
                           previews=last_messages([c.id for c in recent]),
                           gaps=unanswered_questions(company.id), active_page="overview")
