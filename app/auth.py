"""Staff log-in and log-out (Flask-Login), and the site root.

Passwords are stored as salted hashes (``User.set_password``). Every form carries a CSRF token
(Flask-WTF's CSRFProtect is enabled app-wide). Session and remember-me cookies are HttpOnly and
SameSite=Lax, remember-me lasts REMEMBER_DAYS (14); set ``SESSION_COOKIE_SECURE=true`` in
production (HTTPS) so both are only ever sent over TLS (see app/infra/config.py). ``SECRET_KEY``
signs the session: keep it secret. Sessions are versioned per user: logging out, a new password and
"log out everywhere" end every session of that user, copied cookies included. Log-in attempts are
limited per client address and per account.
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit

from flask import Blueprint, flash, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from .infra.extensions import db, limiter, login_manager
from .infra.models import User

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"

# Checked against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


@login_manager.user_loader
def load_user(session_id: str) -> Optional[User]:
    """The user of a session or remember-me cookie, unless that user's sessions were ended since
    (logging out, a new password, "log out everywhere": ``User.end_sessions``)."""
    user_id, _, version = (session_id or "").partition(":")
    user = db.session.get(User, user_id) if user_id and "\x00" not in user_id else None
    if user is None or version != str(user.session_version or 0):
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized():
    if request.path.endswith(".json") or request.accept_mimetypes.best == "application/json":
        response = jsonify({"error": {"code": "unauthorized", "message": "Your session has expired. Log in again."}})
        response.status_code = 401
        return response
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def safe_next(target: Optional[str]) -> str:
    """Only same-site paths: never redirect to another host after log-in."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("dashboard.overview")


@bp.get("/")
def index():
    return redirect(url_for("dashboard.overview") if current_user.is_authenticated else url_for("auth.login"))


def login_account() -> str:
    return "login-account:" + (request.form.get("email") or "").strip().lower()[:254]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], key_func=lambda: "login:" + (request.remote_addr or "?"))
@limiter.limit("5/minute;20/hour", methods=["POST"], key_func=login_account)  # guessing one account's password
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    email = ""
    error = None
    if request.method == "POST":
        email = (request.form.get("email") or "").strip().lower()
        password = request.form.get("password") or ""
        user = db.session.scalars(select(User).where(func.lower(User.email) == email)).first() if email else None
        if user is not None and user.check_password(password):
            session.clear()  # a fresh session on log-in (no fixation of a pre-login session)
            login_user(user, remember=bool(request.form.get("remember")))
            return redirect(safe_next(request.form.get("next") or request.args.get("next")))
        if user is None:
            check_password_hash(_DUMMY_HASH, password)
        error = "That e-mail and password do not match an account."
    status = 401 if error else 200
    return render_template("auth/login.html", email=email, error=error,
                           next=request.values.get("next", "")), status


@bp.post("/logout")
@login_required
def logout():
    """Log out: this user's session cookies (and copies of them) and remember-me cookies stop working."""
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))
