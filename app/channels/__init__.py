"""Outbound delivery, one module per channel. ``deliver(message)`` sends an assistant or staff
message through its conversation's channel; web messages are read by the widget, not sent."""

from __future__ import annotations

from ..models import Message


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (e.g. outside WhatsApp's 24-hour window): no retry."""


def deliver(message: Message) -> None:
    if message.channel == "web":
        return
    if message.channel == "whatsapp":
        from . import whatsapp

        return whatsapp.deliver(message)
    if message.channel == "email":
        from . import email

        return email.deliver(message)
    raise PermanentDeliveryError(f"Unknown channel {message.channel!r}")
