"""The production-style stack the webhook load benchmark runs against, started from scratch.

Embedded PostgreSQL and Redis in a temporary directory (owned by this process: they live as long
as the benchmark), one company with its own WhatsApp number and a few Contoso PDFs as its
knowledge, a local stand-in for Twilio's API answering 201, gunicorn started as README's "Running
in production" says, and one ``flask --app app worker``. ``app_root`` is the checkout the two
server processes run (another checkout, e.g. ``../main``, measures its code under the same load).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from tests.fakes.twilio_api import TwilioAPI

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOCS = (ROOT / "tests/fixtures/contoso/PerksPlus.pdf", ROOT / "tests/fixtures/contoso/employee_handbook.pdf")
# README's command line before gunicorn.conf.py existed; used for a checkout without that file.
LEGACY_GUNICORN_ARGS = ("-w", "4", "-k", "gthread", "--threads", "8")
COMPANY_NUMBER, COMPANY_SID, COMPANY_TOKEN = "whatsapp:+14155550100", "AC" + "5" * 32, "load-test-auth-token"
START_TIMEOUT = 180  # seconds for the worker (it loads the embedding model) and gunicorn to be ready


class TimedTwilio(TwilioAPI):
    """The tests' Twilio stand-in, also noting when each accepted message arrived (wall clock)."""

    def __init__(self):
        super().__init__()
        self.received_at: dict[str, float] = {}  # Twilio sid we answered → time.time()

    def handle(self, request):
        status, headers, body = super().handle(request)
        if status == 201:
            with self._lock:
                self.received_at[self.sent[-1]["sid"]] = time.time()
        return status, headers, body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_args(app_root: Path, override: str | None) -> list[str]:
    """The checkout's own gunicorn.conf.py (gunicorn reads it from the working directory), else README's old flags."""
    if override is not None:
        return override.split()
    return [] if (app_root / "gunicorn.conf.py").is_file() else list(LEGACY_GUNICORN_ARGS)


class Stack:
    def __init__(self, tmp: Path, app_root: Path, base_url: str, env: dict, twilio: TimedTwilio, log_dir: Path):
        self.tmp, self.app_root, self.base_url, self.env, self.twilio, self.log_dir = (
            tmp, app_root, base_url, env, twilio, log_dir)
        self.processes: list[subprocess.Popen] = []
        self.gunicorn_command: list[str] = []

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen(command, cwd=self.app_root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def pids(self) -> dict[str, int]:
        """The top process of each part: its children (gunicorn's workers, PostgreSQL's backends) count too."""
        pids = {"web": self.processes[1].pid, "worker": self.processes[0].pid}
        for name, pidfile in (("database", self.tmp / "pgdata" / "postmaster.pid"),
                              ("redis", self.tmp / "redis" / "redis.pid")):
            try:
                pids[name] = int(pidfile.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return pids

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _server_env(tmp: Path, app_root: Path, database_uri: str, redis_socket: Path, twilio_url: str,
                base_url: str) -> dict:
    # GUNICORN_WORKERS / GUNICORN_THREADS: the web tier's sizing, to compare settings (gunicorn.conf.py)
    keep = {k: v for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "GUNICORN_WORKERS", "GUNICORN_THREADS")}
    return {**keep, "PYTHONPATH": str(app_root), "RAG_DATA_DIR": str(tmp / "data"), "DATABASE_URL": database_uri,
            "REDIS_URL": f"unix://{redis_socket}", "SECRET_KEY": "load-benchmark", "PUBLIC_BASE_URL": base_url,
            "TWILIO_API_BASE_URL": twilio_url, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}


def _setup_company(env: dict, docs) -> str:
    """Schema, the company with its own number and Twilio account, its knowledge (ingested here, once)."""
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    try:
        from app import create_app
        from app.infra.extensions import db
        from app.infra.kb import get_kb
        from app.infra.migrate import ensure_schema
        from app.services.companies import create_company

        app = create_app()
        ensure_schema(app)
        with app.app_context():
            company, _ = create_company("Contoso Load Test")
            company.whatsapp_number, company.twilio_account_sid = COMPANY_NUMBER, COMPANY_SID
            company.twilio_auth_token = COMPANY_TOKEN
            db.session.commit()
            for path in docs:
                get_kb().ingest(company.tenant_id, Path(path))
            get_kb().close()
            db.session.remove()
            db.engine.dispose()
            return company.id
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _wait_for_worker(redis_socket: Path, process: subprocess.Popen) -> None:
    import redis
    from rq import Worker

    conn = redis.Redis(unix_socket_path=str(redis_socket))
    deadline = time.monotonic() + START_TIMEOUT
    while not Worker.all(connection=conn):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker did not start (see its log)")
        time.sleep(0.5)


def _wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start (see its log)") from None
            time.sleep(0.2)


@contextmanager
def started_stack(app_root: Path, docs=DEFAULT_DOCS, gunicorn_override: str | None = None,
                  keep_logs: Path | None = None):
    """Yield a running Stack; everything it started is stopped and removed afterwards."""
    from app.infra.embedded_redis import embedded_redis
    from rag_engine.database import embedded_server

    tmp = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    log_dir = keep_logs or tmp
    log_dir.mkdir(parents=True, exist_ok=True)
    postgres = embedded_server(tmp / "pgdata")
    redis_server = embedded_redis(tmp / "redis")
    stack = None
    try:
        with TimedTwilio() as twilio:
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            env = _server_env(tmp, app_root, postgres.get_uri(), redis_server.socket, twilio.url, base_url)
            print(f"setting up: company, knowledge ({', '.join(Path(d).name for d in docs)})", file=sys.stderr)
            _setup_company(env, docs)
            stack = Stack(tmp, app_root, base_url, env, twilio, log_dir)
            worker = stack.spawn("worker", [sys.executable, "-m", "flask", "--app", "app", "worker"])
            stack.gunicorn_command = ["gunicorn", *gunicorn_args(app_root, gunicorn_override), "-b",
                                      f"127.0.0.1:{port}", "app:create_app()"]
            web = stack.spawn("gunicorn", [sys.executable, "-m", *stack.gunicorn_command])
            _wait_for_worker(redis_server.socket, worker)
            _wait_for_port(port, web)
            yield stack
    finally:
        if stack is not None:
            stack.stop()
        redis_server.release()
        postgres.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
