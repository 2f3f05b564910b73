"""Tenant-owned rows looked up by id, always with the company: another company's id is NotFound."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select

from ..domain_errors import NotFound
from ..infra.extensions import db
from ..infra.models import ApiKey, Conversation, Document, Message

Row = TypeVar("Row")
MISSING = {Document: "Document not found.", Conversation: "Conversation not found.",
           Message: "Message not found.", ApiKey: "API key not found."}


def owned(model: type[Row], company_id: str, object_id: str) -> Row:
    """``model`` row ``object_id`` of ``company_id``, else NotFound."""
    row = db.session.scalars(select(model).where(model.id == object_id, model.company_id == company_id)).first()
    if row is None:
        raise NotFound(MISSING.get(model, "Not found."))
    return row
