"""Sessions and the edge: logging out really ends a session (copied cookies included), a new password and
"log out everywhere" end the others; remember-me is short and SameSite; behind a trusted proxy each client
keeps its own rate limits and each account has one too; security headers on every response and a CSP on
staff pages; the widget's origin check never trusts the Host header."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest

from tests.browser_support import PASSWORD, login, make_user, staff  # noqa: F401  (fixtures)

COOKIES = ("session", "remember_token")


def copy_cookies(source, target, names=COOKIES):
    for name in names:
        cookie = source.get_cookie(name)
        if cookie is not None:
            target.set_cookie(name, cookie.value)


def logged_in(client) -> bool:
    return client.get("/dashboard/").status_code == 200


@pytest.fixture
def user(app, make_company, make_user):
    company_id, _, _ = make_company()
    return make_user(company_id)


def remember_login(client, email, password=PASSWORD):
    return client.post("/login", data={"email": email, "password": password, "remember": "1"})


def test_logging_out_ends_the_session_for_copied_cookies_too(app, user):
    browser, thief, remembered = app.test_client(), app.test_client(), app.test_client()
    assert remember_login(browser, user).status_code == 302
    copy_cookies(browser, thief)  # the session cookie and the remember-me cookie
    copy_cookies(browser, remembered, names=("remember_token",))  # a new browser session, remembered
    assert logged_in(thief) and logged_in(remembered)

    browser.post("/logout")
    assert not logged_in(browser)
    assert not logged_in(thief) and not logged_in(remembered)


def test_a_new_password_and_log_out_everywhere_end_the_other_sessions(app, user):
    laptop, phone = app.test_client(), app.test_client()
    assert login(laptop, user).status_code == 302 and remember_login(phone, user).status_code == 302

    response = laptop.post("/dashboard/account/password", data={
        "current_password": PASSWORD, "new_password": "a-brand-new-password",
        "confirm_password": "a-brand-new-password"})
    assert response.status_code == 302
    assert logged_in(laptop) and not logged_in(phone)  # this browser stays, the others are out
    assert login(phone, user).status_code == 401  # the old password is gone
    assert login(phone, user, "a-brand-new-password").status_code == 302

    wrong = laptop.post("/dashboard/account/password", data={
        "current_password": "not it", "new_password": "another-password", "confirm_password": "another-password"})
    assert wrong.status_code == 422 and "current password is not correct" in wrong.get_data(as_text=True)

    copy = app.test_client()
    copy_cookies(laptop, copy)
    assert laptop.post("/dashboard/account/logout-everywhere").status_code == 302
    assert not logged_in(laptop) and not logged_in(phone) and not logged_in(copy)


def test_the_remember_me_cookie_is_short_lived_http_only_and_same_site(app, user):
    client = app.test_client()
    response = remember_login(client, user)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip().partition("=")[2] for part in cookie.split(";")}
    assert attributes["samesite"] == "Lax" and "httponly" in attributes
    expires = parsedate_to_datetime(attributes["expires"])
    assert expires - datetime.now(timezone.utc) < timedelta(days=15)


@pytest.fixture
def proxied_app(app):
    """The test's app deployed behind one reverse proxy (TRUSTED_PROXIES=1)."""
    from app import create_app

    keys = ("SQLALCHEMY_DATABASE_URI", "DATA_DIR", "UPLOAD_DIR", "KNOWLEDGE_BASE", "REDIS_CONNECTION", "SECRET_KEY",
            "PUBLIC_BASE_URL")
    return create_app(dict({key: app.config[key] for key in keys}, TESTING=True, TRUSTED_PROXIES=1,
                           WTF_CSRF_ENABLED=False, RATELIMIT_STORAGE_URI="memory://"))


def test_behind_a_trusted_proxy_each_client_has_its_own_login_limit(proxied_app, make_company, make_user):
    client = proxied_app.test_client()

    def attempt(address, email):
        return client.post("/login", data={"email": email, "password": "wrong"},
                           headers={"X-Forwarded-For": address}).status_code

    statuses = [attempt("203.0.113.7", f"guess{i}@example.com") for i in range(11)]
    assert statuses == [401] * 10 + [429]
    assert attempt("198.51.100.20", "someone@example.com") == 401  # another client is not limited by it

    # One account, guessed from many addresses: limited per account.
    company_id, _, _ = make_company("Target")
    email = make_user(company_id)
    statuses = [attempt(f"192.0.2.{i}", email) for i in range(6)]
    assert statuses == [401] * 5 + [429]


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(app):
    client = app.test_client()
    response = client.get("/login", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": "evil.example",
                                             "X-Forwarded-Proto": "https"})
    assert response.status_code == 200 and "evil.example" not in response.get_data(as_text=True)
    with app.test_request_context("/", headers={"X-Forwarded-For": "203.0.113.7"},
                                  environ_base={"REMOTE_ADDR": "10.0.0.1"}):
        from flask import request

        assert request.remote_addr == "10.0.0.1"


def test_security_headers_on_every_response_and_a_csp_on_staff_pages(app, client, staff):
    owner = staff()
    responses = {
        "openapi": client.get("/api/openapi.json"), "swagger": client.get("/api/docs/swagger/"),
        "api 401": client.get("/api/knowledge/documents/"), "404": client.get("/no/such/page"),
        "api 404": client.get("/api/no-such-endpoint/"), "widget.js": client.get("/widget.js"),
        "widget 401": client.get("/widget/wk_nonexistent000/config"), "login": client.get("/login"),
        "dashboard": owner.client.get("/dashboard/"), "settings": owner.client.get("/dashboard/settings"),
        "account": owner.client.get("/dashboard/account"),
    }
    for name, response in responses.items():
        assert response.headers.get("X-Frame-Options") == "DENY", name
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
    for name in ("login", "dashboard", "settings", "account"):
        csp = responses[name].headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, name
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], name


def test_the_widget_origin_check_does_not_trust_the_host_header(app, client, make_company):
    _, _, _ = make_company("Acme Corp")  # no allowed origins
    from app.infra.extensions import db
    from app.infra.models import Company

    with app.app_context():
        key = db.session.query(Company.widget_key).scalar()
    # A DNS-rebinding page: the browser sends its own name as both Host and Origin.
    rebound = client.get(f"/widget/{key}/config", headers={"Host": "evil.example", "Origin": "http://evil.example"})
    assert rebound.status_code == 403
    # The app's own origin (PUBLIC_BASE_URL) and local development (a loopback host) are fine.
    assert client.get(f"/widget/{key}/config", headers={"Origin": "https://support.example.com"}).status_code == 200
    assert client.get(f"/widget/{key}/config", headers={"Host": "127.0.0.1:5000",
                                                         "Origin": "http://127.0.0.1:5000"}).status_code == 200
