"""The staff member's own account: a new password, and logging out everywhere.

A new password and "log out everywhere" end every session of the user (``User.end_sessions``:
other browsers, copied cookies, remember-me cookies); a new password keeps this browser logged in.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..infra.extensions import db, limiter
from .blueprint import bp, current_company

MIN_PASSWORD = 8
MAX_PASSWORD = 200


@bp.get("/account")
def account():
    return render_template("dashboard/account.html", company=current_company(), errors=[], active_page="account")


@bp.post("/account/password")
@limiter.limit("10/hour", key_func=lambda: "password:" + str(current_user.get_id()))
def account_password():
    current, new = request.form.get("current_password") or "", request.form.get("new_password") or ""
    errors = []
    if not current_user.check_password(current):
        errors.append("Your current password is not correct.")
    if not MIN_PASSWORD <= len(new) <= MAX_PASSWORD:
        errors.append(f"The new password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters.")
    elif new != (request.form.get("confirm_password") or ""):
        errors.append("The two new passwords are not the same.")
    if errors:
        return render_template("dashboard/account.html", company=current_company(), errors=errors,
                               active_page="account"), 422
    user = current_user._get_current_object()
    user.set_password(new)  # ends every other session
    db.session.commit()
    login_user(user)  # this browser stays logged in, with the new session version
    flash("Password changed. Every other session was logged out.", "success")
    return redirect(url_for("dashboard.account"))


@bp.post("/account/logout-everywhere")
def account_logout_everywhere():
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have been logged out everywhere.", "info")
    return redirect(url_for("auth.login"))
