"""What can go wrong in the app's own terms, said in words a user can read.

Services and channel adapters raise these; they never know about HTTP. The edges translate them:
``app/errors.py`` into JSON for API and widget clients and into HTML for staff pages, the jobs
into a message's or document's failure reason.
"""

from __future__ import annotations

from typing import Optional


class DomainError(Exception):
    """Base: ``message`` is safe to show; ``code`` is a stable machine-readable name."""

    code = "error"

    def __init__(self, message: str, code: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code


class NotFound(DomainError):
    """Missing, or another company's (the two look exactly alike)."""

    code = "not_found"


class UploadRejected(DomainError):
    """An upload that can never be ingested: empty, unsupported type, damaged."""

    code = "invalid_upload"

    @property
    def unsupported_type(self) -> bool:
        return self.code == "unsupported_type"


class AssistantUnavailable(DomainError):
    """The language model provider failed; the customer's message is kept."""

    code = "assistant_unavailable"

    def __init__(self, message: str = "The assistant is temporarily unavailable. Your message was saved; "
                                      "please try again shortly."):
        super().__init__(message)


class InvalidPayload(DomainError):
    """A provider's webhook lacks what every real delivery carries (e.g. a message id)."""

    code = "bad_request"


class ForeignMessageId(DomainError):
    """A provider message id already stored for another company: never touched, never answered."""

    code = "foreign_message_id"


class DeliveryRefused(DomainError):
    """The provider refused a message for good (e.g. outside WhatsApp's 24-hour window): no retry."""

    code = "delivery_refused"


class ChannelTaken(DomainError):
    """A WhatsApp number or email address another company (or the platform itself) already uses."""

    code = "channel_taken"
