"""The API blueprint: Bearer API keys (one company per key), rate-limited per key."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Blueprint, current_app, g, request
from sqlalchemy import select

from ..errors import ApiError
from ..infra.extensions import db, limiter
from ..infra.models import ApiKey, Company, now

bp = Blueprint("api", __name__, url_prefix="/api")
PUBLIC_ENDPOINTS = {"api.openapi_json"}
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_identity() -> str:
    """The rate-limit bucket: the presented key (hashed), else the client address."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return "key:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "ip:" + (request.remote_addr or "unknown")


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS or request.method == "OPTIONS":
        return None
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise ApiError(401, "Missing API key: send 'Authorization: Bearer <key>'.",
                       headers={"WWW-Authenticate": "Bearer"})
    key = db.session.scalars(select(ApiKey).where(ApiKey.key_hash == ApiKey.hash(header[7:].strip()),
                                                  ApiKey.revoked_at.is_(None))).first()
    if key is None:
        raise ApiError(401, "Invalid or revoked API key.", headers={"WWW-Authenticate": "Bearer"})
    g.company = db.session.get(Company, key.company_id)
    g.api_key = key
    # Recorded at most once a minute: not a database write on every request.
    if key.last_used_at is None or now() - key.last_used_at > LAST_USED_RESOLUTION:
        key.last_used_at = now()
        db.session.commit()  # its own small unit of work, before the view's


def rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


limiter.limit(rate_limit, key_func=api_key_identity, exempt_when=lambda: request.endpoint in PUBLIC_ENDPOINTS)(bp)
