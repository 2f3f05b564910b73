"""The app's tables: companies (tenants), API keys, staff users, documents, conversations, messages,
website sources and their pages.

Every tenant-owned row carries company_id, and every query filters on it (lookups by id:
app/services/tenancy.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
import uuid
from datetime import datetime, timezone
from typing import Optional

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:60] or "company"


class Company(db.Model):
    __tablename__ = "companies"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    personality: Mapped[str] = mapped_column(Text, default="")
    fallback_message: Mapped[str] = mapped_column(Text, default="")
    # Channel routing: inbound messages are routed by these, never to "the first company".
    whatsapp_number: Mapped[Optional[str]] = mapped_column(String(40), unique=True)
    inbound_email: Mapped[Optional[str]] = mapped_column(String(254), unique=True)  # a proven custom address
    # Every company's own platform address is <local>+<inbound_hash>@<domain> of POSTMARK_INBOUND_ADDRESS:
    # random, so nobody can guess another company's. A custom address waits in inbound_email_pending
    # until mail forwarded from it arrives at that platform address carrying inbound_email_code.
    inbound_hash: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: secrets.token_hex(8))
    inbound_email_pending: Mapped[Optional[str]] = mapped_column(String(254))
    inbound_email_code: Mapped[Optional[str]] = mapped_column(String(64))
    twilio_account_sid: Mapped[Optional[str]] = mapped_column(String(64))
    twilio_auth_token: Mapped[Optional[str]] = mapped_column(String(128))
    postmark_server_token: Mapped[Optional[str]] = mapped_column(String(128))
    postmark_from_email: Mapped[Optional[str]] = mapped_column(String(254))
    # Widget: a public key (not a secret) plus the origins allowed to use it.
    widget_key: Mapped[str] = mapped_column(String(40), unique=True, default=lambda: "wk_" + secrets.token_urlsafe(18))
    widget_color: Mapped[str] = mapped_column(String(16), default="#4f46e5")
    widget_greeting: Mapped[str] = mapped_column(Text, default="Hi! How can we help you today?")
    widget_title: Mapped[str] = mapped_column(String(100), default="Support")
    allowed_origins: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)

    @property
    def tenant_id(self) -> str:
        """The rag_engine tenant id of this company (its id: a lowercase UUID, server-generated)."""
        return self.id

    def __repr__(self) -> str:  # credentials never appear in logs
        return f"<Company {self.slug}>"


class ApiKey(db.Model):
    """Secret API keys: shown once, stored as a SHA-256 hash with a short prefix to recognise them."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="default")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    company: Mapped[Company] = relationship()

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, company: Company, name: str = "default") -> tuple["ApiKey", str]:
        """A new key for ``company``: returns (row, the plaintext key to show once)."""
        key = "sk_" + secrets.token_urlsafe(32)
        row = cls(company_id=company.id, name=name, prefix=key[:10], key_hash=cls.hash(key))
        db.session.add(row)
        return row, key


class User(UserMixin, db.Model):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="agent")  # owner | agent
    # Part of every session and remember-me cookie (get_id): raising it ends all of them at once.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    company: Mapped[Company] = relationship()

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version or 0}"

    def end_sessions(self) -> None:
        """Every session and remember-me cookie of this user stops working (copies included)."""
        self.session_version = (self.session_version or 0) + 1

    def set_password(self, password: str) -> None:
        if self.password_hash:  # a new password ends the sessions opened with the old one
            self.end_sessions()
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class Document(db.Model):
    """An upload and its ingestion: what only the app knows (whose, which stored file, status, error).

    ``id`` is also the document's id in the engine (the worker ingests under it), whose registry
    holds the content facts — title indexed, type, content hash, chunk count (app/services/library.py
    shows both). ``title`` is the name the uploader gave, which the worker hands to the engine.
    """

    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    storage_path: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|processing|completed|failed
    error_message: Mapped[Optional[str]] = mapped_column(Text)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[Optional[str]] = mapped_column(String(128))  # host:pid of the process ingesting it
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)
    processed_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))

    @property
    def progress(self) -> int:
        if self.status == "completed":
            return 100
        return int(100 * self.chunks_done / self.chunks_total) if self.chunks_total else 0


class Conversation(db.Model):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_lookup", "company_id", "channel", "customer_id"),
        # One conversation per (company, channel, customer) on the channels that are one ongoing chat (web
        # session, WhatsApp number), enforced by the database: concurrent first messages insert-or-fetch it
        # (services/intake.py). Email is one conversation per thread.
        Index("uq_conversations_one_per_customer", "company_id", "channel", "customer_id", unique=True,
              postgresql_where=text("channel <> 'email'")),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # web | whatsapp | email
    customer_id: Mapped[str] = mapped_column(String(254))  # web session id, phone number, email address
    customer_name: Mapped[Optional[str]] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | resolved | handed_off
    external_thread_key: Mapped[Optional[str]] = mapped_column(String(512), index=True)
    subject: Mapped[Optional[str]] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)
    last_message_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    messages: Mapped[list["Message"]] = relationship(back_populates="conversation", order_by="Message.created_at",
                                                     cascade="all, delete-orphan")


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        # The dedup key: a provider's message id is stored once per channel.
        UniqueConstraint("channel", "channel_message_id", name="uq_messages_channel_message_id"),
        # At most one AI answer per customer message, whatever retries happen.
        UniqueConstraint("reply_to_id", name="uq_messages_reply_to"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))  # customer | assistant | staff | system
    content: Mapped[str] = mapped_column(Text)
    sources: Mapped[list] = mapped_column(JSON, default=list)
    answered: Mapped[Optional[bool]] = mapped_column(Boolean)
    feedback: Mapped[Optional[str]] = mapped_column(String(8))  # up | down
    channel_message_id: Mapped[Optional[str]] = mapped_column(String(512))
    reply_to_id: Mapped[Optional[str]] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    delivery_status: Mapped[Optional[str]] = mapped_column(String(16))  # received|queued|sent|failed|skipped
    delivery_error: Mapped[Optional[str]] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Channel details a reply needs (email: sender, RFC Message-ID, References, Subject; WhatsApp: media,
    # ids of the parts already sent). Never credentials.
    channel_meta: Mapped[Optional[dict]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)
    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class KnowledgeSource(db.Model):
    """A website source of knowledge: a page, a sitemap or a crawl, synced on a schedule by the crawl worker.

    Its pages are documents of rag_engine (ids ``page_document_id(tenant, source id, url)``);
    ``source_pages`` records what the last syncs did to each page, for the staff pages and the API.
    """

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("company_id", "mode", "url", name="uq_sources_company_mode_url"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))  # page | sitemap | crawl
    max_pages: Mapped[int] = mapped_column(Integer, default=200)
    max_depth: Mapped[int] = mapped_column(Integer, default=3)
    sync_interval_hours: Mapped[int] = mapped_column(Integer, default=24)  # 0: only when asked
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|syncing|idle|failed|removing
    pages_found: Mapped[int] = mapped_column(Integer, default=0)  # this (or the last) sync
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    pages_changed: Mapped[int] = mapped_column(Integer, default=0)  # created or replaced
    pages_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    pages_failed: Mapped[int] = mapped_column(Integer, default=0)
    pages_removed: Mapped[int] = mapped_column(Integer, default=0)
    page_count: Mapped[int] = mapped_column(Integer, default=0)  # pages in the knowledge base
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # interrupted or failed syncs in a row
    worker_id: Mapped[Optional[str]] = mapped_column(String(128))
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    sync_started_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    last_synced_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    next_sync_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)


class SourcePage(db.Model):
    """One page of a website source as its syncs left it: imported, unchanged, missing, skipped, failed."""

    __tablename__ = "source_pages"
    __table_args__ = (UniqueConstraint("source_id", "url", name="uq_source_pages_source_url"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="")  # html | pdf | docx | markdown | text
    status: Mapped[str] = mapped_column(String(16))  # created|replaced|unchanged|missing|skipped|failed
    reason: Mapped[str] = mapped_column(Text, default="")
    http_status: Mapped[Optional[int]] = mapped_column(Integer)
    document_id: Mapped[Optional[str]] = mapped_column(String(128))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)
