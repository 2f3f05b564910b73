"""The app's settings: one typed field per environment variable (pydantic-settings).

Each setting has its default in one place (its field) and one validation message (its type's
``Problem``); a bad value stops the start with ``NAME must be …, got '…'``. Blank variables count
as unset. The names and defaults are the ones README's configuration table lists.
"""

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Mapping, Optional

from limits import parse_many
from pydantic import AfterValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag_engine.settings import EnvironmentSource

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    pass


class Problem(str):
    """What a setting's value must look like, said once per type."""


def _rate(value: str) -> str:
    parse_many(value)  # flask-limiter's own parser: "120/minute", "10 per second; 1000/day"
    return value


Flag = Annotated[bool, Problem("must be true or false")]
Megabytes = Annotated[int, Field(gt=0), Problem("must be a whole number of megabytes above 0")]
Rate = Annotated[str, AfterValidator(_rate), Problem("must be a rate limit like 120/minute")]
Text = Annotated[Optional[str], Problem("must be text")]


class AppSettings(BaseSettings):
    """Environment variable = field name in capitals (README: Configuration)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    rag_data_dir: Annotated[Path, Problem("must be a directory path")] = Path("var")
    secret_key: Text = None
    database_url: Text = None  # unset: the embedded PostgreSQL in RAG_DATA_DIR
    redis_url: Text = None  # unset: the embedded Redis in RAG_DATA_DIR
    upload_dir: Annotated[Optional[Path], Problem("must be a directory path")] = None  # unset: RAG_DATA_DIR/uploads
    max_upload_mb: Megabytes = 25
    api_rate_limit: Rate = "120/minute"  # per API key
    widget_rate_limit: Rate = "20/minute"  # messages per visitor session
    widget_ip_rate_limit: Rate = "120/minute"  # all widget calls per client address
    widget_poll_rate_limit: Rate = "240/minute"  # staff-reply polling
    public_base_url: Text = None
    # Process-wide channel defaults (a single-company install can use these instead of per-company settings).
    twilio_account_sid: Text = None
    twilio_auth_token: Text = None
    twilio_whatsapp_number: Text = None
    twilio_api_base_url: Text = None
    twilio_validate_signatures: Flag = True
    postmark_server_token: Text = None
    postmark_from_email: Text = None
    postmark_api_base_url: Text = None
    postmark_webhook_user: Text = None
    postmark_webhook_password: Text = None
    postmark_inbound_address: Text = None  # the Postmark server's inbound address, e.g. 3f1c9a@inbound.postmarkapp.com
    session_cookie_secure: Flag = False
    remember_days: Annotated[int, Field(ge=1, le=90), Problem("must be a whole number of days from 1 to 90")] = 14
    # How many proxies in front of the app set X-Forwarded-For/-Proto/-Host (0: none, trust no such header).
    trusted_proxies: Annotated[int, Field(ge=0, le=5), Problem("must be a whole number from 0 to 5")] = 0
    log_level: Annotated[str, Problem("must be a logging level")] = "INFO"
    # How much `flask --app app worker` lowers its own CPU priority (nice), so answering a backlog on the
    # web tier's machine never holds webhook acknowledgements back; 0 keeps the priority it was started with.
    worker_nice: Annotated[int, Field(ge=0, le=19), Problem("must be a whole number from 0 to 19")] = 10

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings,)  # the environment comes through read_settings(), which may be given a mapping


def read_settings(environ: Optional[Mapping[str, str]] = None) -> AppSettings:
    source = EnvironmentSource(AppSettings, os.environ if environ is None else environ)
    try:
        return AppSettings(**source())
    except ValidationError as err:
        raise ConfigError("; ".join(_describe(problem) for problem in err.errors())) from None


def _describe(problem: dict) -> str:
    name = str(problem["loc"][0])
    field = AppSettings.model_fields[name]
    said = next((m for m in field.metadata if isinstance(m, Problem)), problem["msg"])
    return f"{name.upper()} {said}, got {problem['input']!r}"


def secret_key(settings: AppSettings) -> str:
    if settings.secret_key:
        return settings.secret_key
    # Development convenience: a random key kept in the data directory, so sessions survive restarts.
    path = settings.rag_data_dir / "secret_key"
    if not path.exists():
        settings.rag_data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
        log.info("SECRET_KEY is not set: generated one in %s (set SECRET_KEY in production)", path)
    return path.read_text().strip()


def load_config(environ: Optional[Mapping[str, str]] = None) -> dict:
    """Flask config keys from the environment. DATABASE_URL/REDIS_URL unset: embedded servers."""
    s = read_settings(environ)
    return {
        "DATA_DIR": s.rag_data_dir,
        "SECRET_KEY": secret_key(s),
        "DATABASE_URL": s.database_url,
        "REDIS_URL": s.redis_url,
        "UPLOAD_DIR": s.upload_dir or s.rag_data_dir / "uploads",
        "MAX_CONTENT_LENGTH": s.max_upload_mb * 1024 * 1024,
        "API_RATE_LIMIT": s.api_rate_limit,
        "WIDGET_RATE_LIMIT": s.widget_rate_limit,
        "WIDGET_IP_RATE_LIMIT": s.widget_ip_rate_limit,
        "WIDGET_POLL_RATE_LIMIT": s.widget_poll_rate_limit,
        "PUBLIC_BASE_URL": s.public_base_url,
        "TWILIO_ACCOUNT_SID": s.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": s.twilio_auth_token,
        "TWILIO_WHATSAPP_NUMBER": s.twilio_whatsapp_number,
        "TWILIO_API_BASE_URL": s.twilio_api_base_url,
        "TWILIO_VALIDATE_SIGNATURES": s.twilio_validate_signatures,
        "POSTMARK_SERVER_TOKEN": s.postmark_server_token,
        "POSTMARK_FROM_EMAIL": s.postmark_from_email,
        "POSTMARK_API_BASE_URL": s.postmark_api_base_url,
        "POSTMARK_WEBHOOK_USER": s.postmark_webhook_user,
        "POSTMARK_WEBHOOK_PASSWORD": s.postmark_webhook_password,
        "POSTMARK_INBOUND_ADDRESS": s.postmark_inbound_address,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": s.session_cookie_secure,
        "REMEMBER_COOKIE_SECURE": s.session_cookie_secure,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": timedelta(days=s.remember_days),
        "TRUSTED_PROXIES": s.trusted_proxies,
        "WTF_CSRF_TIME_LIMIT": None,
        # Rate limits live in Redis; with Redis down they fail open onto a per-process in-memory count.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        "LOG_LEVEL": s.log_level.upper(),
        "WORKER_NICE": s.worker_nice,
    }
