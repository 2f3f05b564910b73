"""Outbound: an assistant or staff message sent through its conversation's channel (the outbound job).

Web messages are not sent: the widget reads them. A provider that refuses a message for good
raises ``DeliveryRefused``; anything else raised is temporary and retried by RQ.
"""

from __future__ import annotations

from typing import Callable

from ...domain_errors import DeliveryRefused
from ...infra.models import Message


def deliver(message: Message, save_progress: Callable[[], None]) -> None:
    """Send ``message``; ``save_progress`` commits what was sent so far (a multi-part WhatsApp reply)."""
    if message.channel == "web":
        return
    if message.channel == "whatsapp":
        from . import whatsapp

        return whatsapp.deliver(message, save_progress)
    if message.channel == "email":
        from . import email

        return email.deliver(message)
    raise DeliveryRefused(f"Unknown channel {message.channel!r}")
