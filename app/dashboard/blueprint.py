"""The staff pages' blueprint: every page needs a logged-in staff user, and sees only that user's company.

Another company's ids look exactly like missing ones (404). Settings are for owners only.
"""

from __future__ import annotations

from functools import wraps
from typing import TypeVar

from flask import Blueprint, abort
from flask_login import current_user, login_required

from ..infra.extensions import db
from ..infra.models import Company
from ..services import tenancy

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
Row = TypeVar("Row")


@bp.before_request
@login_required
def require_login():
    return None


@bp.after_request
def security_headers(response):
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def current_company() -> Company:
    company = db.session.get(Company, current_user.company_id)
    if company is None:
        abort(404)
    return company


def owner_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user.role != "owner":
            abort(403, "Only the account owner can change settings.")
        return view(*args, **kwargs)

    return wrapped


def owned(model: type[Row], object_id: str) -> Row:
    """``model`` row ``object_id`` of the current user's company, else NotFound (404)."""
    return tenancy.owned(model, current_user.company_id, object_id)
