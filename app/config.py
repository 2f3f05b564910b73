"""The app's settings, read once from the environment (and .env) with typed, loud parsing."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Mapping, Optional

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    pass


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _str(env: Mapping[str, str], name: str, default: Optional[str] = None) -> Optional[str]:
    raw = (env.get(name) or "").strip()
    return raw or default


def _secret_key(env: Mapping[str, str], data_dir: Path) -> str:
    key = _str(env, "SECRET_KEY")
    if key:
        return key
    # Development convenience: a random key kept in the data directory, so sessions survive restarts.
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
        log.warning("SECRET_KEY is not set: generated one in %s (set SECRET_KEY in production)", path)
    return path.read_text().strip()


def load_config(env: Optional[Mapping[str, str]] = None) -> dict:
    """Flask config keys from the environment. DATABASE_URL/REDIS_URL unset: embedded servers."""
    env = os.environ if env is None else env
    data_dir = Path(_str(env, "RAG_DATA_DIR", "var"))
    return {
        "DATA_DIR": data_dir,
        "SECRET_KEY": _secret_key(env, data_dir),
        "DATABASE_URL": _str(env, "DATABASE_URL"),
        "REDIS_URL": _str(env, "REDIS_URL"),
        "UPLOAD_DIR": Path(_str(env, "UPLOAD_DIR", str(data_dir / "uploads"))),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_UPLOAD_MB", 25) * 1024 * 1024,
        "API_RATE_LIMIT": _str(env, "API_RATE_LIMIT", "120/minute"),
        "WIDGET_RATE_LIMIT": _str(env, "WIDGET_RATE_LIMIT", "20/minute"),  # messages per visitor session
        "WIDGET_IP_RATE_LIMIT": _str(env, "WIDGET_IP_RATE_LIMIT", "120/minute"),  # all widget calls per IP
        "WIDGET_POLL_RATE_LIMIT": _str(env, "WIDGET_POLL_RATE_LIMIT", "240/minute"),  # staff-reply polling
        "PUBLIC_BASE_URL": _str(env, "PUBLIC_BASE_URL"),
        # Process-wide channel defaults (a single-company install can use these instead of per-company settings).
        "TWILIO_ACCOUNT_SID": _str(env, "TWILIO_ACCOUNT_SID"),
        "TWILIO_AUTH_TOKEN": _str(env, "TWILIO_AUTH_TOKEN"),
        "TWILIO_WHATSAPP_NUMBER": _str(env, "TWILIO_WHATSAPP_NUMBER"),
        "TWILIO_API_BASE_URL": _str(env, "TWILIO_API_BASE_URL"),
        "TWILIO_VALIDATE_SIGNATURES": _bool(env, "TWILIO_VALIDATE_SIGNATURES", True),
        "POSTMARK_SERVER_TOKEN": _str(env, "POSTMARK_SERVER_TOKEN"),
        "POSTMARK_FROM_EMAIL": _str(env, "POSTMARK_FROM_EMAIL"),
        "POSTMARK_API_BASE_URL": _str(env, "POSTMARK_API_BASE_URL"),
        "POSTMARK_WEBHOOK_USER": _str(env, "POSTMARK_WEBHOOK_USER"),
        "POSTMARK_WEBHOOK_PASSWORD": _str(env, "POSTMARK_WEBHOOK_PASSWORD"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", False),
        "WTF_CSRF_TIME_LIMIT": None,
    }
