"""Request and response bodies of the API (pydantic; the OpenAPI document is generated from them)."""

from __future__ import annotations

from datetime import datetime
from typing import List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class TextDocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=255)
    content: str = Field(min_length=1, max_length=5_000_000)


class DocumentOut(BaseModel):
    id: str
    title: str
    source_type: str
    filename: str
    size_bytes: int
    status: Literal["pending", "processing", "completed", "failed"]
    progress: int
    chunk_count: int
    error_message: Optional[str] = None
    created_at: datetime
    updated_at: datetime
    processed_at: Optional[datetime] = None


class DocumentList(BaseModel):
    documents: List[DocumentOut]
    total: int


class SourceOut(BaseModel):
    document_id: str
    title: str
    page: Optional[int] = None
    chunk_id: str
    score: float
    snippet: str = ""


SESSION_ID = r"^[A-Za-z0-9_-]{8,64}$"


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=4000)
    session_id: Optional[str] = Field(default=None, pattern=SESSION_ID)
    customer_name: Optional[str] = Field(default=None, max_length=200)

    @field_validator("message")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.replace("\x00", "").strip():
            raise ValueError("must contain text")
        return value


class ChatOut(BaseModel):
    conversation_id: str
    session_id: str
    message_id: str
    reply_id: Optional[str] = None
    response: Optional[str] = None  # None while a human has taken over the conversation
    sources: List[SourceOut] = []
    answered: Optional[bool] = None
    handed_off: bool = False


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(min_length=1, max_length=64)
    value: Literal["up", "down"]


class FeedbackOut(BaseModel):
    message_id: str
    feedback: Literal["up", "down"]


class ConversationQuery(BaseModel):
    channel: Optional[Literal["web", "whatsapp", "email"]] = None
    status: Optional[Literal["active", "resolved", "handed_off"]] = None
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


class ConversationOut(BaseModel):
    id: str
    channel: str
    customer_id: str
    customer_name: Optional[str] = None
    status: str
    subject: Optional[str] = None
    created_at: datetime
    last_message_at: datetime


class ConversationList(BaseModel):
    conversations: List[ConversationOut]
    page: int
    per_page: int
    total: int


class MessageOut(BaseModel):
    id: str
    role: str
    content: str
    sources: List[SourceOut] = []
    answered: Optional[bool] = None
    feedback: Optional[str] = None
    delivery_status: Optional[str] = None
    created_at: datetime


class MessageList(BaseModel):
    conversation_id: str
    messages: List[MessageOut]


def document_out(doc) -> DocumentOut:
    return DocumentOut(id=doc.id, title=doc.title, source_type=doc.source_type, filename=doc.filename,
                       size_bytes=doc.size_bytes, status=doc.status, progress=doc.progress,
                       chunk_count=doc.chunk_count, error_message=doc.error_message, created_at=doc.created_at,
                       updated_at=doc.updated_at, processed_at=doc.processed_at)


def message_out(m) -> MessageOut:
    return MessageOut(id=m.id, role=m.role, content=m.content, sources=m.sources or [], answered=m.answered,
                      feedback=m.feedback, delivery_status=m.delivery_status, created_at=m.created_at)


def conversation_out(c) -> ConversationOut:
    return ConversationOut(id=c.id, channel=c.channel, customer_id=c.customer_id, customer_name=c.customer_name,
                           status=c.status, subject=c.subject, created_at=c.created_at,
                           last_message_at=c.last_message_at)
