"""Fixtures for the staff-page, widget and browser tests.

Import the fixtures a test module needs, e.g.::

    from tests.browser_support import make_user, staff  # noqa: F401  (pytest fixtures)

The browser tests run the real app (werkzeug server in a thread), a real RQ worker
(``flask --app app worker`` in a subprocess, against the same PostgreSQL and Redis), and
Debian's headless Chromium driven by Playwright. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery"


# ----------------------------------------------------------------------------- users and logged-in clients
@pytest.fixture
def make_user(app):
    """make_user(company_id, email=None, role="owner", password=PASSWORD) -> email."""
    counter = {"n": 0}

    def factory(company_id: str, email: Optional[str] = None, role: str = "owner", password: str = PASSWORD) -> str:
        from app.infra.extensions import db
        from app.infra.models import User

        counter["n"] += 1
        email = email or f"staff{counter['n']}-{company_id[:8]}@example.com"
        with app.app_context():
            user = User(company_id=company_id, email=email, role=role)
            user.set_password(password)
            db.session.add(user)
            db.session.commit()
        return email

    return factory


def login(client, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


@dataclass
class Staff:
    client: object
    company_id: str
    email: str
    api_headers: dict
    widget_key: str = ""


@pytest.fixture
def staff(app, make_company, make_user):
    """staff(name="Acme", role="owner", **company_fields) -> Staff with a logged-in test client."""

    def factory(name: str = "Acme Corp", role: str = "owner", **fields) -> Staff:
        from app.infra.extensions import db
        from app.infra.models import Company

        company_id, _, headers = make_company(name, **fields)
        email = make_user(company_id, role=role)
        client = app.test_client()
        response = login(client, email)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        with app.app_context():
            widget_key = db.session.get(Company, company_id).widget_key
        return Staff(client, company_id, email, headers, widget_key)

    return factory


# ----------------------------------------------------------------------------- servers
def _serve(wsgi_app) -> tuple[str, Callable[[], None]]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    return f"http://127.0.0.1:{server.server_port}", stop


@pytest.fixture
def live_server(app):
    """The app, served for real on 127.0.0.1:<free port> (threaded). Yields its base URL."""
    url, stop = _serve(app)
    yield url
    stop()


class HostPage:
    """A customer's website on its own origin (another port), embedding the widget by its script tag."""

    def __init__(self, html: str):
        self.html = html.encode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.split("?")[0] not in ("/", "/index.html"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(outer.html)))
                self.end_headers()
                self.wfile.write(outer.html)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="host-page", daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Northwind Outfitters</title><link rel="icon" href="data:,">
<style>
  /* Hostile host styles: the widget must not inherit or be broken by them. */
  * { font-family: "Courier New", monospace !important; color: #7a1f1f; }
  button { background: yellow !important; border: 4px solid red !important; }
  body { margin: 0; background: #faf7f2; }
  header { padding: 48px 32px; background: #1f3b2d; } header h1 { color: #fff; margin: 0; font-size: 36px; }
  main { padding: 32px; max-width: 720px; line-height: 1.7; }
</style></head>
<body><header><h1>Northwind Outfitters</h1></header>
<main><h2>Gear for every trail</h2><p>Free returns within 30 days. Questions? Use the chat in the corner.</p>
<button type="button">A host page button</button></main>
<script src="__SCRIPT__" data-widget-key="__KEY__" async></script>
</body></html>"""


@pytest.fixture
def host_page():
    """host_page(script_src, widget_key) -> HostPage serving HOST_PAGE on another origin."""
    pages: List[HostPage] = []

    def factory(script_src: str, widget_key: str, html: str = HOST_PAGE) -> HostPage:
        page = HostPage(html.replace("__SCRIPT__", script_src).replace("__KEY__", widget_key))
        pages.append(page)
        return page

    yield factory
    for page in pages:
        page.close()


# ----------------------------------------------------------------------------- the RQ worker
def _redis_url(conn) -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        from tests.conftest import redis_url_of_this_worker

        return redis_url_of_this_worker(url)
    kwargs = conn.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


@pytest.fixture
def rq_worker(app, redis_conn, tmp_path):
    """A real worker process (``flask --app app worker``) on the test's database and Redis."""
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": _redis_url(redis_conn),
        "RAG_DATA_DIR": str(tmp_path / "worker-data"),
        "UPLOAD_DIR": str(app.config["UPLOAD_DIR"]),
        "SECRET_KEY": "test",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    log_path = tmp_path / "worker.log"
    log = open(log_path, "wb")
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", "--name",
                                f"test-worker-{os.getpid()}-{int(time.time() * 1000)}"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # warm shutdown of the worker (and its scheduler)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    log.close()
    if process.returncode not in (0, -signal.SIGTERM, None):
        print(log_path.read_text(errors="replace")[-4000:])


# ----------------------------------------------------------------------------- the browser
@dataclass
class Console:
    errors: List[str] = field(default_factory=list)

    def watch(self, page, label: str) -> None:
        def on_console(message):
            if message.type == "error":
                self.errors.append(f"[{label}] {message.text} @ {message.location.get('url', '')}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"[{label}] uncaught: {error}"))


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def screenshot(page, name: str, full_page: bool = False) -> Path:
    """Save a screenshot as a test artifact: test-artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
