"""Staff log-in: login required, wrong password, CSRF, safe redirects, roles."""

import re

import pytest

from tests.browser_support import PASSWORD, login, make_user, staff  # noqa: F401  (fixtures)

PAGES = ["/dashboard/", "/dashboard/knowledge", "/dashboard/conversations", "/dashboard/settings",
         "/dashboard/widget-preview", "/dashboard/knowledge/documents.json"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_require_login(client, path):
    response = client.get(path)
    if path.endswith(".json"):
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    else:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


def test_root_redirects_to_login_then_dashboard(client, make_company, make_user):
    assert client.get("/").headers["Location"] == "/login"
    company_id, _, _ = make_company()
    email = make_user(company_id)
    login(client, email)
    assert client.get("/").headers["Location"] == "/dashboard/"


def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="email"' in html and 'name="password"' in html and 'name="csrf_token"' in html


def test_login_and_logout(client, make_company, make_user):
    company_id, _, _ = make_company("Acme Corp")
    email = make_user(company_id)
    response = login(client, email)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200 and "Acme Corp" in page.get_data(as_text=True)
    assert client.post("/logout").headers["Location"] == "/login"
    assert client.get("/dashboard/").status_code == 302


def test_login_email_is_case_insensitive(client, make_company, make_user):
    company_id, _, _ = make_company()
    make_user(company_id, email="ana@example.com")
    assert login(client, "  ANA@Example.com ").status_code == 302


@pytest.mark.parametrize("email, password", [("ana@example.com", "wrong password"),
                                             ("nobody@example.com", PASSWORD), ("", "")])
def test_wrong_credentials_are_refused(client, make_company, make_user, email, password):
    company_id, _, _ = make_company()
    make_user(company_id, email="ana@example.com")
    response = login(client, email, password)
    assert response.status_code == 401
    assert "do not match an account" in response.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302  # still logged out


def test_passwords_are_stored_hashed(app, make_company, make_user):
    from app.infra.extensions import db
    from app.infra.models import User

    company_id, _, _ = make_company()
    email = make_user(company_id)
    with app.app_context():
        user = db.session.query(User).filter_by(email=email).one()
        assert PASSWORD not in user.password_hash and user.password_hash.startswith(("scrypt:", "pbkdf2:"))


@pytest.mark.parametrize("target, expected", [
    ("/dashboard/conversations", "/dashboard/conversations"),
    ("https://evil.example/steal", "/dashboard/"),
    ("//evil.example/steal", "/dashboard/"),
    ("/\\evil.example", "/dashboard/"),
])
def test_login_redirects_only_within_the_site(client, make_company, make_user, target, expected):
    company_id, _, _ = make_company()
    email = make_user(company_id)
    response = client.post("/login", data={"email": email, "password": PASSWORD, "next": target})
    assert response.headers["Location"] == expected


def test_csrf_rejected_when_enabled(app, make_company, make_user):
    company_id, _, _ = make_company()
    email = make_user(company_id)
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()

    # No token: refused, and not logged in.
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    # A forged token: refused.
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/dashboard/").status_code == 302

    # The form's token: accepted.
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/"

    # Logged in, a state-changing dashboard form without the token is still refused.
    response = client.post("/dashboard/settings/assistant", data={"personality": "Rude", "fallback_message": ""})
    assert response.status_code == 400
    page = client.get("/dashboard/settings").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/dashboard/settings/assistant", data={"personality": "Warm", "fallback_message": ""},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 302
    # The widget is exempt: it uses no cookies, only its public key.
    from app.infra.extensions import db
    from app.infra.models import Company

    with app.app_context():
        key = db.session.get(Company, company_id).widget_key
    assert client.get(f"/widget/{key}/config").status_code == 200
    response = client.post(f"/widget/{key}/handoff", json={})
    assert response.status_code == 200


def test_agents_cannot_open_settings(staff):
    agent = staff(role="agent")
    assert agent.client.get("/dashboard/").status_code == 200
    assert agent.client.get("/dashboard/settings").status_code == 403
    assert agent.client.post("/dashboard/settings/api-keys", data={"name": "x"}).status_code == 403
    assert "/dashboard/settings" not in agent.client.get("/dashboard/").get_data(as_text=True)


def test_dashboard_responses_are_not_framable(staff):
    owner = staff()
    response = owner.client.get("/dashboard/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_login_attempts_are_rate_limited(client, make_company, make_user):
    company_id, _, _ = make_company()
    email = make_user(company_id)
    # Per account: 5 a minute, from anywhere (tests/test_sessions.py tries it from many addresses).
    statuses = [login(client, email, "wrong password").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    response = login(client, email)  # even the right password waits for the window to pass
    assert response.status_code == 429 and "Slow down" in response.get_data(as_text=True)
    # Per client address: 10 a minute, whichever accounts it tries.
    statuses = [login(client, f"nobody{i}@example.com", "wrong").status_code for i in range(10)]
    assert statuses[0] == 401 and statuses[-1] == 429 and set(statuses) == {401, 429}
