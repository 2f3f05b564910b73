"""Conversations page: list with filters and search, the thread with sources, take over, reply, resolve."""

from __future__ import annotations

import logging
from typing import Iterable

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import exists, func, or_, select

from ..infra import queues
from ..infra.extensions import db
from ..infra.models import Conversation, Message
from ..services import handover, replies, threads
from .blueprint import bp, current_company, owned
from .templating import display_name

log = logging.getLogger(__name__)
PER_PAGE = 25
MAX_REPLY = 4000
CHANNELS = ("web", "whatsapp", "email")
STATUS_FLASH = {"handed_off": "You took over: the AI will not answer this conversation until you hand it back.",
                "active": "Handed back to the AI assistant.",
                "resolved": "Marked as resolved."}


def last_messages(conversation_ids: Iterable[str]) -> dict:
    """conversation id -> its latest customer/assistant/staff message (for list previews)."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    ranked = (select(Message.conversation_id, Message.role, Message.content,
                     func.row_number().over(partition_by=Message.conversation_id,
                                            order_by=Message.created_at.desc()).label("rn"))
              .where(Message.conversation_id.in_(ids), Message.role != "system").subquery())
    rows = db.session.execute(select(ranked.c.conversation_id, ranked.c.role, ranked.c.content)
                              .where(ranked.c.rn == 1)).all()
    return {cid: {"role": role, "content": content} for cid, role, content in rows}


def undelivered(company_id: str):
    """Ids of the company's conversations with a reply (the AI's or staff's) that could not be delivered."""
    return select(Message.conversation_id).where(
        Message.company_id == company_id, Message.role.in_(("assistant", "staff")),
        Message.delivery_status == "failed").distinct()


def message_json(message: Message) -> dict:
    return {"id": message.id, "role": message.role, "content": message.content,
            "sources": [{"title": s.get("title"), "page": s.get("page"), **({"url": s["url"]} if s.get("url") else {})}
                        for s in (message.sources or [])],
            "answered": message.answered, "feedback": message.feedback,
            "delivery_status": message.delivery_status, "delivery_error": message.delivery_error,
            "created_at": message.created_at.isoformat()}


@bp.get("/conversations")
def conversation_list():
    company = current_company()
    channel = request.args.get("channel") if request.args.get("channel") in CHANNELS else None
    status = request.args.get("status") if request.args.get("status") in handover.STATUSES else None
    q = (request.args.get("q") or "").strip()[:200]
    undelivered_only = request.args.get("delivery") == "failed"
    page = max(1, request.args.get("page", 1, type=int) or 1)
    where = [Conversation.company_id == company.id]
    if undelivered_only:
        where.append(Conversation.id.in_(undelivered(company.id)))
    if channel:
        where.append(Conversation.channel == channel)
    if status:
        where.append(Conversation.status == status)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(or_(
            Conversation.customer_id.ilike(pattern, escape="\\"),
            Conversation.customer_name.ilike(pattern, escape="\\"),
            Conversation.subject.ilike(pattern, escape="\\"),
            exists().where(Message.conversation_id == Conversation.id, Message.company_id == company.id,
                           Message.content.ilike(pattern, escape="\\")),
        ))
    total = db.session.scalar(select(func.count()).select_from(Conversation).where(*where))
    rows = db.session.scalars(select(Conversation).where(*where).order_by(Conversation.last_message_at.desc())
                              .offset((page - 1) * PER_PAGE).limit(PER_PAGE)).all()
    counts = dict(db.session.execute(select(Conversation.status, func.count())
                                     .where(Conversation.company_id == company.id)
                                     .group_by(Conversation.status)).all())
    failed_ids = set(db.session.scalars(undelivered(company.id)))
    return render_template("dashboard/conversations.html", company=company, conversations=rows,
                           previews=last_messages(c.id for c in rows), total=total, page=page,
                           pages=max(1, -(-total // PER_PAGE)), channel=channel, status=status, q=q,
                           counts=counts, undelivered_ids=failed_ids, delivery="failed" if undelivered_only else None,
                           active_page="conversations")


@bp.get("/conversations/<conversation_id>")
def conversation_detail(conversation_id: str):
    company = current_company()
    conversation = owned(Conversation, conversation_id)
    return render_template("dashboard/conversation.html", company=company, conversation=conversation,
                           messages=threads.messages(conversation), name=display_name(conversation),
                           active_page="conversations")


@bp.get("/conversations/<conversation_id>/messages.json")
def conversation_messages_json(conversation_id: str):
    conversation = owned(Conversation, conversation_id)
    messages = threads.messages(conversation, request.args.get("after"))
    return jsonify({"status": conversation.status, "messages": [message_json(m) for m in messages]})


@bp.post("/conversations/<conversation_id>/status")
def conversation_status(conversation_id: str):
    conversation = owned(Conversation, conversation_id)
    status = request.form.get("status")
    if status not in handover.STATUSES:
        abort(400, "Unknown status.")
    if handover.set_status(conversation, status):
        db.session.commit()
        flash(STATUS_FLASH[status], "success")
    return redirect(url_for("dashboard.conversation_detail", conversation_id=conversation.id))


@bp.post("/conversations/<conversation_id>/reply")
def conversation_reply(conversation_id: str):
    """Reply as staff through the conversation's own channel; replying takes the conversation over."""
    conversation = owned(Conversation, conversation_id)
    text = (request.form.get("content") or "").strip()
    back = redirect(url_for("dashboard.conversation_detail", conversation_id=conversation.id) + "#composer")
    if not text:
        flash("Write a reply first.", "error")
        return back
    if len(text) > MAX_REPLY:
        flash(f"The reply is too long (at most {MAX_REPLY} characters).", "error")
        return back
    handover.set_status(conversation, "handed_off")
    message = replies.add_staff_message(conversation, text)
    db.session.commit()
    if conversation.channel != "web":
        try:
            queues.enqueue_delivery(message.id)
        except Exception:  # Redis down: the message stays "queued" and the worker's recovery sends it
            log.exception("could not queue delivery of staff message %s", message.id)
            flash("Your reply is saved and will be sent as soon as the queue is reachable.", "info")
    return back
