"""`make run`: one command for a complete local deployment.

Starts (or joins) the embedded PostgreSQL + pgvector and Redis unless DATABASE_URL / REDIS_URL
are set, migrates the schema, creates a demo company with sample documents on the first run,
then runs the web server (HOST, default 127.0.0.1; PORT, default 5000), one worker and one
website-sync worker (the crawl queue) as child processes until Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def main() -> int:
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env", override=False)
    from app import create_app
    from app.infra.migrate import ensure_schema

    app = create_app()
    ensure_schema(app)
    env = dict(os.environ)
    # Unset DATABASE_URL/REDIS_URL: the children join the same embedded servers themselves, each as one
    # of their registered users (so the servers stop only when the last of them exits).
    env["RAG_DATA_DIR"] = str(Path(app.config["DATA_DIR"]).resolve())
    env["SECRET_KEY"] = app.config["SECRET_KEY"]
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "5000")
    with app.app_context():
        credentials = demo_company(app, f"http://{host}:{port}")

    children = [
        subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"], env=env, cwd=ROOT),
        subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", "--queue", "crawl"], env=env,
                         cwd=ROOT),
        subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--host", host, "--port", port,
                          "--with-threads"], env=env, cwd=ROOT),
    ]
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the children too, like Ctrl-C
    time.sleep(2)
    print(f"\n  Support Agent is running at http://{host}:{port}/\n{credentials}\n  Ctrl-C stops it.\n", flush=True)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def demo_company(app, base_url: str) -> str:
    """Create the demo company, staff user and sample documents once; return the credentials text."""
    from sqlalchemy import select

    from app.infra.extensions import db
    from app.infra.models import Company, User
    from app.services.companies import create_company
    from app.services.uploads import accept_upload

    path = Path(app.config["DATA_DIR"]) / "demo-credentials.txt"
    if db.session.scalars(select(Company)).first() is not None:
        slugs = db.session.scalars(select(Company.slug).order_by(Company.created_at))
        slugs_line = "  Companies (slugs): " + ", ".join(slugs)
        if path.exists():
            text = path.read_text()
            return text if "slug" in text else f"{slugs_line}\n{text}"
        return f"{slugs_line}\n  New API key: `flask --app app companies api-key <slug>`"
    company, key = create_company("Acme Outdoor")
    company.personality = "Friendly, concise and practical."
    company.allowed_origins = [base_url]
    password = secrets.token_urlsafe(9)
    user = User(company_id=company.id, email="owner@acme.example", role="owner")
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    for sample in sorted(SAMPLES.iterdir()):
        accept_upload(company, sample.read_bytes(), sample.name)
    db.session.commit()  # the ingestion jobs are queued now
    text = (f"  Company:      {company.name} (slug {company.slug}, for `flask --app app companies … {company.slug}`)\n"
            f"  Staff login:  {base_url}/login  owner@acme.example / {password}\n"
            f"  API key:      {key}\n"
            f"  Widget key:   {company.widget_key}\n"
            f"  Try:          curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
            f"-d '{{\"message\": \"How long do I have to return an item?\"}}' {base_url}/api/chat/message/")
    path.write_text(text)
    path.chmod(0o600)
    return text


if __name__ == "__main__":
    sys.exit(main())
