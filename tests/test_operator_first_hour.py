"""The operator's first hour, tried as a new user would: the CLI on a fresh install, a fast and quiet
``--help``, what ``make run`` prints, and what the settings, thread, list and overview pages tell them
(webhook credentials, delivery failures, refused widget sites, the real fallback text)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag_engine import DEFAULT_FALLBACK
from tests.browser_support import make_user, staff  # noqa: F401  (fixtures)
from tests.test_pages_dashboard import conversation, html

ROOT = Path(__file__).resolve().parent.parent


def flask(*args, data_dir: Path, **env) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items()
               if key not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    environ.update(RAG_DATA_DIR=str(data_dir), **env)
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=300)


# ----------------------------------------------------------------------------- the CLI on a fresh install
def test_help_is_fast_and_quiet_and_starts_no_server(tmp_path):
    started = time.monotonic()
    result = flask("--help", data_dir=tmp_path / "var")
    assert result.returncode == 0 and "companies" in result.stdout
    assert time.monotonic() - started < 30  # it took 12 s on an idle machine (PostgreSQL started); now imports only
    assert result.stderr.strip() == "", result.stderr[-2000:]  # no log lines
    assert not (tmp_path / "var" / "pgdata").exists() and not (tmp_path / "var" / "redis.pid").exists()


def test_companies_create_works_on_a_fresh_install(tmp_path):
    result = flask("companies", "create", "Acme Corp", data_dir=tmp_path / "var")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "slug: acme-corp" in result.stdout and result.stdout.strip().splitlines()[-1].startswith("sk_")
    assert "relation" not in result.stderr and "Traceback" not in result.stderr
    listed = flask("companies", "list", data_dir=tmp_path / "var")
    assert listed.returncode == 0 and listed.stdout.startswith("acme-corp\t")


def test_with_a_configured_database_the_cli_says_what_to_run(app, postgres_url, tmp_path):
    from tests.conftest import _admin_execute, database_url_for

    name = f"fresh_{os.getpid()}_{int(time.time())}"
    _admin_execute(postgres_url, f"CREATE DATABASE {name}")
    try:
        result = flask("companies", "create", "Acme Corp", data_dir=tmp_path / "var",
                       DATABASE_URL=database_url_for(postgres_url, name), REDIS_URL="redis://127.0.0.1:1/0")
        assert result.returncode != 0
        assert "flask --app app init-db" in result.stderr and "Traceback" not in result.stderr
    finally:
        _admin_execute(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_make_run_prints_the_company_slug(app):
    from app.devserver import demo_company

    with app.app_context():
        text = demo_company(app, "http://127.0.0.1:5000")
    assert "slug acme-outdoor" in text


# ----------------------------------------------------------------------------- settings
def test_settings_show_the_postmark_webhook_state_and_the_url_to_paste(app, staff):
    owner = staff()
    page = html(owner.client.get("/dashboard/settings"))
    assert "credentials not set" in page and "every inbound email is refused" in page
    assert "https://USER:PASSWORD@support.example.com/api/webhooks/email/" in page

    app.config.update(POSTMARK_WEBHOOK_USER="postmark", POSTMARK_WEBHOOK_PASSWORD="s3cret-inbound-password")
    page = html(owner.client.get("/dashboard/settings"))
    assert "credentials set" in page and "s3cret-inbound-password" not in page
    assert "https://postmark:&lt;POSTMARK_WEBHOOK_PASSWORD&gt;@support.example.com/api/webhooks/email/" in page


def test_the_fallback_placeholder_is_the_real_default_text(app, staff):
    page = html(staff().client.get("/dashboard/settings"))
    assert f'placeholder="{DEFAULT_FALLBACK}"' in page.replace("&#39;", "'")


def test_refused_widget_origins_are_shown_with_one_click_allow(app, client, staff):
    owner = staff()
    refused = client.get(f"/widget/{owner.widget_key}/config", headers={"Origin": "https://shop.acme.example"})
    assert refused.status_code == 403
    page = html(owner.client.get("/dashboard/settings"))
    assert "Recently refused websites" in page and "https://shop.acme.example" in page

    response = owner.client.post("/dashboard/settings/widget/allow-origin",
                                 data={"origin": "https://shop.acme.example"})
    assert response.status_code == 302
    allowed = client.get(f"/widget/{owner.widget_key}/config", headers={"Origin": "https://shop.acme.example"})
    assert allowed.status_code == 200
    assert "Recently refused websites" not in html(owner.client.get("/dashboard/settings"))
    bad = owner.client.post("/dashboard/settings/widget/allow-origin", data={"origin": "javascript:alert(1)"})
    assert bad.status_code == 302
    from app.infra.extensions import db
    from app.infra.models import Company

    with app.app_context():
        assert db.session.get(Company, owner.company_id).allowed_origins == ["https://shop.acme.example"]


# ----------------------------------------------------------------------------- delivery failures
def test_delivery_failures_show_on_the_thread_the_list_and_the_overview(app, staff):
    from app.infra.extensions import db
    from app.infra.models import Message

    owner = staff()
    failed_id = conversation(app, owner.company_id, channel="whatsapp", customer_id="whatsapp:+34600111222",
                             messages=[("customer", "Where is my order?"), ("assistant", "It ships tomorrow.", True)])
    fine_id = conversation(app, owner.company_id, channel="whatsapp", customer_id="whatsapp:+34600999999",
                           messages=[("customer", "Hello"), ("assistant", "Hi!", True)])
    with app.app_context():
        reply = db.session.query(Message).filter_by(conversation_id=failed_id, role="assistant").one()
        reply.delivery_status = "failed"
        reply.delivery_error = "The customer's number is not on WhatsApp (Twilio error 63003)."
        db.session.commit()

    thread = html(owner.client.get(f"/dashboard/conversations/{failed_id}"))
    assert "Not delivered" in thread and "not on WhatsApp (Twilio error 63003)" in thread
    listed = html(owner.client.get("/dashboard/conversations?delivery=failed"))
    assert failed_id in listed and fine_id not in listed
    assert 'id="filter-undelivered"' in listed
    overview = html(owner.client.get("/dashboard/"))
    assert "1 reply could not be delivered" in overview and "delivery=failed" in overview


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/conversations"])
def test_pages_without_failures_show_no_alarm(staff, path):
    page = html(staff().client.get(path))
    assert "could not be delivered" not in page
