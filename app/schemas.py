"""Request and response bodies of the HTTP edges (pydantic), in one place for all of them.

The API's OpenAPI document is generated from them; the widget and the staff pages validate their
input with the same models (the widget's are the API's, with its own session ids).
"""

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

    @property
    def filename(self) -> str:
        """Pasted text is stored as a .txt (or .md) file named after its title."""
        title = self.title.strip()
        return title if title.lower().endswith((".txt", ".md")) else f"{title}.txt"


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
    url: Optional[str] = None  # the web page, for knowledge imported from a website


class WebSourceIn(BaseModel):
    """A website source: one page, a sitemap (or the site's, found through robots.txt), or a crawl."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2048)
    mode: Literal["page", "sitemap", "crawl"] = "page"
    max_pages: int = Field(default=200, ge=1, le=10_000)
    max_depth: int = Field(default=3, ge=0, le=10)
    sync_interval_hours: Optional[int] = Field(default=None, ge=0, le=8760,
                                               description="0: only when asked; default 24")


class WebSourceOut(BaseModel):
    id: str
    url: str
    mode: Literal["page", "sitemap", "crawl"]
    status: Literal["queued", "syncing", "idle", "failed", "removing"]
    max_pages: int
    max_depth: int
    sync_interval_hours: int
    pages_found: int  # this sync (or the last one)
    pages_done: int
    pages_changed: int
    pages_unchanged: int
    pages_failed: int
    pages_removed: int
    page_count: int  # pages in the knowledge base
    last_error: Optional[str] = None
    last_synced_at: Optional[datetime] = None
    next_sync_at: Optional[datetime] = None
    created_at: datetime


class WebSourceList(BaseModel):
    sources: List[WebSourceOut]
    total: int


class WebPageOut(BaseModel):
    url: str
    title: str
    kind: str
    status: Literal["created", "replaced", "unchanged", "missing", "skipped", "failed"]
    reason: str
    http_status: Optional[int] = None
    document_id: Optional[str] = None
    chunk_count: int
    updated_at: datetime


class WebPageQuery(BaseModel):
    status: Optional[Literal["created", "replaced", "unchanged", "missing", "skipped", "failed"]] = None
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=100, ge=1, le=500)


class WebPageList(BaseModel):
    source_id: str
    pages: List[WebPageOut]
    page: int
    per_page: int
    total: int


def web_source_out(s) -> WebSourceOut:
    return WebSourceOut(
        id=s.id, url=s.url, mode=s.mode, status=s.status, max_pages=s.max_pages, max_depth=s.max_depth,
        sync_interval_hours=s.sync_interval_hours, pages_found=s.pages_found, pages_done=s.pages_done,
        pages_changed=s.pages_changed, pages_unchanged=s.pages_unchanged, pages_failed=s.pages_failed,
        pages_removed=s.pages_removed, page_count=s.page_count, last_error=s.last_error,
        last_synced_at=s.last_synced_at, next_sync_at=s.next_sync_at, created_at=s.created_at)


def web_page_out(p) -> WebPageOut:
    return WebPageOut(url=p.url, title=p.title, kind=p.kind, status=p.status, reason=p.reason,
                      http_status=p.http_status, document_id=p.document_id, chunk_count=p.chunk_count,
                      updated_at=p.updated_at)


SESSION_ID = r"^[A-Za-z0-9_-]{8,64}$"
MESSAGE_ID = r"^[A-Za-z0-9_-]{1,64}$"  # our ids are UUIDs


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
    message_id: str = Field(min_length=1, max_length=64, pattern=MESSAGE_ID)
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
    """``doc``: a services.library.DocumentView (the app's row with the engine's facts)."""
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


# ----------------------------------------------------------------------------- the chat widget's input
WIDGET_SESSION_ID = r"^[A-Za-z0-9_-]{16,64}$"  # a random token kept in the visitor's localStorage


def _blank_is_none(value):
    return None if value == "" else value


class WidgetSessionIn(BaseModel):
    """Any widget call naming the visitor's session (optional: a new one is opened)."""

    model_config = ConfigDict(extra="ignore")
    session_id: Optional[str] = Field(default=None, pattern=WIDGET_SESSION_ID)

    _blank_session = field_validator("session_id", mode="before")(_blank_is_none)


class WidgetMessageIn(WidgetSessionIn, ChatIn):
    """The API's ChatIn, with the widget's session ids and the visitor's ``name`` (cut, never refused)."""

    model_config = ConfigDict(extra="ignore")
    name: Optional[str] = None

    @field_validator("name", mode="before")
    @classmethod
    def short_name(cls, value) -> Optional[str]:
        return (value.strip()[:200] or None) if isinstance(value, str) else None


class WidgetFeedbackIn(FeedbackIn):
    """The API's FeedbackIn, from the visitor whose session holds the conversation."""

    model_config = ConfigDict(extra="ignore")
    session_id: str = Field(pattern=WIDGET_SESSION_ID)


class WidgetMessagesQuery(WidgetSessionIn):
    """``?session_id=…&after=<message id>``: the visitor's conversation, or what came after one message."""

    after: Optional[str] = Field(default=None, pattern=MESSAGE_ID)

    _blank_after = field_validator("after", mode="before")(_blank_is_none)
