"""The settings forms, validated by pydantic: each field says in words what it must look like.

Field values arrive stripped; a form's problems are listed together on the page (``problems``).
"""

from __future__ import annotations

import re
from typing import Annotated, Callable, Optional
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

PHONE = re.compile(r"^\+[1-9][0-9]{6,15}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
TWILIO_SID = re.compile(r"^AC[0-9a-zA-Z]{32}$")


def _rule(test, message: str) -> AfterValidator:
    """A check that fails with ``message`` (``{value}`` is replaced by the value, cut to 100 characters)."""
    def check(value):
        if not test(value):
            raise PydanticCustomError("form", message, {"value": str(value)[:100]})
        return value

    return AfterValidator(check)


def _at_most(label: str, limit: int) -> AfterValidator:
    return _rule(lambda v: len(v) <= limit, f"{label} is too long (at most {limit} characters).")


def _optional(pattern: re.Pattern) -> Callable[[str], bool]:
    return lambda value: not value or bool(pattern.match(value))


def normalize_origin(raw: str) -> Optional[str]:
    """'https://www.example.com' (scheme + host [+ port], no path), or None when it is not one."""
    raw = raw.strip().rstrip("/")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment \
            or parts.username or parts.password:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.hostname.lower()}" + (f":{port}" if port else "")


def _origin(value: str) -> str:
    origin = normalize_origin(value)
    if origin is None:
        raise PydanticCustomError("form", "{value} is not an origin: write it like https://www.example.com "
                                          "(no path).", {"value": value[:100]})
    return origin


def _lines(value) -> list[str]:
    """One origin per line (commas and spaces separate too)."""
    return [item for item in re.split(r"[\s,]+", value or "") if item] if isinstance(value, str) else value


class Form(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")


class AssistantForm(Form):
    personality: Annotated[str, _at_most("Personality", 2000)] = ""
    fallback_message: Annotated[str, _at_most("Fallback message", 1000)] = ""


class WidgetForm(Form):
    widget_title: Annotated[str, _rule(bool, "The widget title is empty."), _at_most("The title", 100)] = ""
    widget_greeting: Annotated[str, _at_most("The greeting", 500)] = ""
    widget_color: Annotated[str, _rule(COLOR.match, "The colour must look like #4f46e5."),
                            AfterValidator(str.lower)] = ""
    allowed_origins: Annotated[list[Annotated[str, AfterValidator(_origin)]], BeforeValidator(_lines),
                               AfterValidator(lambda origins: list(dict.fromkeys(origins)))] = []


class ChannelsForm(Form):
    whatsapp_number: Annotated[str, BeforeValidator(lambda v: re.sub(r"[\s()\-.]", "", (v or "") if isinstance(v, str)
                                                                 else "").removeprefix("whatsapp:")),
                               _rule(_optional(PHONE), "The WhatsApp number must be in international format, "
                                                       "like +14155238886.")] = ""
    inbound_email: Annotated[str, AfterValidator(str.lower),
                             _rule(_optional(EMAIL), "The inbound address is not an e-mail address.")] = ""
    postmark_from_email: Annotated[str, _rule(_optional(EMAIL), "The sender address is not an e-mail address.")] = ""
    twilio_account_sid: Annotated[str, _rule(_optional(TWILIO_SID), "The Twilio Account SID looks like AC "
                                                                    "followed by 32 letters and digits.")] = ""


def problems(err: ValidationError) -> list[str]:
    return [problem["msg"] for problem in err.errors()]
