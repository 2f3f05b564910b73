"""Redis and the embedded servers under faults: one embedded Redis per data directory however many processes
start at once; nothing embedded outlives its last user (even a killed one); with Redis down the webhooks
still store and acknowledge, the API and the web chat still answer, the rate limiter fails open, the worker
waits and recovers; a retry runs on time after a worker restart.

Real processes, signals and servers; the only fake is Twilio's API.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select

from app.infra.models import Message
from tests.fakes.twilio_api import TwilioAPI
from tests.test_channel_email import auth_header, postmark_inbound
from tests.test_channel_whatsapp import ACME_NUMBER, ACME_SID, ACME_TOKEN, inbound, post

ROOT = Path(__file__).resolve().parent.parent


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def redis_servers_of(data_dir: Path) -> list[psutil.Process]:
    """The redis-server processes serving ``data_dir`` (their title names their socket)."""
    from app.infra.embedded_redis import EmbeddedRedis

    socket = str(EmbeddedRedis(data_dir).socket)
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            if socket in " ".join(process.info["cmdline"] or []) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def python(code: str, args=()) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


USER = """
    import sys, time
    from pathlib import Path
    from app.infra.embedded_redis import embedded_redis
    start_at, hold = float(sys.argv[1]), float(sys.argv[2])
    time.sleep(max(0.0, start_at - time.time()))  # every process asks at the same instant
    server = embedded_redis(Path(sys.argv[3]))
    info = server.client().info("server")
    print(info["run_id"], info["process_id"], flush=True)
    time.sleep(hold)
"""


def start_user(data_dir: Path, start_at: float, hold: float) -> subprocess.Popen:
    return python(USER, [str(start_at), str(hold), str(data_dir)])


# ----------------------------------------------------------------------------- one server, no leftovers
def test_processes_starting_at_once_share_one_embedded_redis_which_stops_after_the_last(tmp_path):
    start_at = time.time() + 4
    users = [start_user(tmp_path, start_at, hold=3) for _ in range(3)]
    seen = [user.stdout.readline() for user in users]
    servers = redis_servers_of(tmp_path)  # while all three use it
    outputs = [user.communicate(timeout=60) for user in users]
    assert [user.returncode for user in users] == [0, 0, 0], [err[-2000:] for _, err in outputs]
    assert len({line.split()[0] for line in seen}) == 1, seen
    assert len(servers) == 1, servers  # one server, whoever started it (no second one on the same files)
    wait_until(lambda: not redis_servers_of(tmp_path), 10, "the server to stop after its last user")


def test_a_killed_user_does_not_keep_the_embedded_redis_alive(tmp_path):
    start_at = time.time() + 3
    killed, survivor = start_user(tmp_path, start_at, hold=60), start_user(tmp_path, start_at, hold=3)
    killed.stdout.readline()  # it is using the server
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    assert survivor.wait(60) == 0
    wait_until(lambda: not redis_servers_of(tmp_path), 5, "the survivor, the last user, to stop the server")

    # Every user killed: the watcher stops the server.
    lonely = start_user(tmp_path, time.time(), hold=60)
    lonely.stdout.readline()
    assert len(redis_servers_of(tmp_path)) == 1
    lonely.send_signal(signal.SIGKILL)
    lonely.wait(10)
    wait_until(lambda: not redis_servers_of(tmp_path), 15, "the watcher to stop the server")


def test_a_killed_user_does_not_keep_the_embedded_postgresql_alive(tmp_path):
    user = python("""
        import sys, time
        from pathlib import Path
        from rag_engine.database import embedded_server
        server = embedded_server(Path(sys.argv[1]))
        print(server.get_pid(), flush=True)
        time.sleep(120)
    """, args=[str(tmp_path / "pgdata")])
    line = user.stdout.readline()
    assert line.strip().isdigit(), user.stderr.read()[-3000:]
    postmaster = psutil.Process(int(line))
    user.send_signal(signal.SIGKILL)
    user.wait(10)
    wait_until(lambda: not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE, 30,
               "the watcher to stop PostgreSQL after its only user was killed")


# ----------------------------------------------------------------------------- Redis down
@pytest.fixture
def flaky_redis(tmp_path_factory):
    """An embedded Redis of this test's own that the test can stop and start again."""
    from app.infra.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("flaky-redis"))
    server.acquire()
    yield server
    server.release()


@pytest.fixture
def outage_app(app, flaky_redis):
    """The test's app (same database and knowledge base) on a Redis that goes down."""
    from app import create_app
    from workers.context import set_app

    config = {key: app.config[key] for key in ("SQLALCHEMY_DATABASE_URI", "DATA_DIR", "UPLOAD_DIR", "KNOWLEDGE_BASE",
                                               "PUBLIC_BASE_URL", "SECRET_KEY")}
    down = create_app(dict(config, TESTING=True, WTF_CSRF_ENABLED=False, REDIS_CONNECTION=flaky_redis.client(),
                           RATELIMIT_STORAGE_URI=f"redis+unix://{flaky_redis.socket}",
                           POSTMARK_WEBHOOK_USER="postmark", POSTMARK_WEBHOOK_PASSWORD="s3cret-inbound-password"))
    set_app(down)
    yield down
    set_app(app)


def test_with_redis_down_webhooks_store_and_answer_200_and_are_answered_when_it_is_back(
        outage_app, flaky_redis, make_company):
    from rq import SimpleWorker

    from app.infra.queues import QUEUE_NAMES, get_queue
    from workers.recovery import recover_interrupted_work

    make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID, twilio_auth_token=ACME_TOKEN,
                 inbound_email="support@acme.example", postmark_server_token="pm-token",
                 postmark_from_email="support@acme.example")
    flaky_redis._stop()
    client = outage_app.test_client()
    assert post(client, inbound("How long does shipping to Europe take?")).status_code == 200
    email = client.post("/api/webhooks/email/", json=postmark_inbound(to="support@acme.example"),
                        headers=auth_header("postmark", "s3cret-inbound-password"))
    assert email.status_code == 200 and email.get_json() == {"status": "stored"}
    with outage_app.app_context():
        from app.infra.extensions import db

        assert len(db.session.scalars(select(Message).where(Message.role == "customer")).all()) == 2

    flaky_redis.acquire()  # Redis is back (empty): the worker's recovery queues what was stored meanwhile
    with TwilioAPI() as twilio:
        outage_app.config["TWILIO_API_BASE_URL"] = twilio.url
        with outage_app.app_context():
            assert recover_interrupted_work()["messages"] == 2
            conn = flaky_redis.client()
            SimpleWorker([get_queue(name, conn) for name in QUEUE_NAMES], connection=conn,
                         serializer=JSONSerializer).work(burst=True, logging_level="WARNING")
        assert [sent["To"] for sent in twilio.sent] == ["whatsapp:+34600111222"]


def test_with_redis_down_the_api_and_the_web_chat_answer_and_rate_limits_fail_open(outage_app, flaky_redis,
                                                                                   make_company, monkeypatch):
    _, _, headers = make_company("Acme Corp")
    from app.infra.extensions import db
    from app.infra.models import Company

    with outage_app.app_context():
        widget_key = db.session.scalars(select(Company.widget_key)).one()
    flaky_redis._stop()
    outage_app.config["API_RATE_LIMIT"] = "3/minute"
    client = outage_app.test_client()
    answers = [client.post("/api/chat/message/", json={"message": "Hello?"}, headers=headers) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]  # limited in memory, never a 500
    assert answers[0].get_json()["response"]
    widget = client.post(f"/widget/{widget_key}/messages", json={"message": "Hello?"})
    assert widget.status_code == 200 and b"event: done" in widget.get_data()
    upload = client.post("/api/knowledge/documents/upload/", headers=dict(headers, **{"X-Forwarded-For": "x"}),
                         json={"title": "Hours", "content": "We are open 9 to 5."})
    assert upload.status_code in (202, 429)

    # Where Redis itself is needed and missing: 503 with Retry-After, never a 500.
    from app.services import replies

    monkeypatch.setattr(replies, "answer", lambda message: (_ for _ in ()).throw(redis.ConnectionError("down")))
    outage_app.config["API_RATE_LIMIT"] = "100/minute"
    response = client.post("/api/chat/message/", json={"message": "Hello again?"},
                           headers={"Authorization": headers["Authorization"]})
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0


# ----------------------------------------------------------------------------- the worker
def start_worker(app, redis_url: str, log: Path, **extra_env) -> subprocess.Popen:
    """``flask --app app worker`` on the test's database and the given Redis."""
    env = dict(os.environ)
    env.update(DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=redis_url,
               RAG_DATA_DIR=str(app.config["DATA_DIR"]), UPLOAD_DIR=str(app.config["UPLOAD_DIR"]),
               SECRET_KEY="test", LOG_LEVEL="INFO", PUBLIC_BASE_URL="", **extra_env)
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"], cwd=ROOT, env=env,
                            stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def test_the_worker_waits_for_redis_and_recovers_what_arrived_meanwhile(app, flaky_redis, outage_app, make_company,
                                                                        tmp_path):
    make_company("Acme Corp", whatsapp_number=ACME_NUMBER, twilio_account_sid=ACME_SID, twilio_auth_token=ACME_TOKEN)
    log = tmp_path / "worker.log"
    with TwilioAPI() as twilio:
        worker = start_worker(app, flaky_redis.url, log, TWILIO_API_BASE_URL=twilio.url)
        try:
            conn = flaky_redis.client()
            wait_until(lambda: conn.keys("rq:worker:*"), 90, "the worker to start")
            flaky_redis._stop()
            assert post(outage_app.test_client(), inbound("Where is my parcel?")).status_code == 200
            time.sleep(3)
            assert worker.poll() is None, log.read_text()[-3000:]  # still there, waiting for Redis
            flaky_redis.acquire()
            wait_until(lambda: twilio.sent, 90, "the message stored during the outage to be answered")
        finally:
            stop(worker)
    assert "Redis" in log.read_text() and ("lost Redis" in log.read_text() or "waiting" in log.read_text())


def test_a_retry_runs_on_time_after_the_worker_is_killed_and_restarted(app, flaky_redis, tmp_path):
    from rq import Queue

    conn = flaky_redis.client()
    log = tmp_path / "worker.log"
    first = start_worker(app, flaky_redis.url, log)
    try:
        wait_until(lambda: conn.keys("rq:scheduler-lock:*"), 90, "the first worker's scheduler to take its locks")
    finally:
        stop(first)  # the worker and its scheduler die at once: the locks stay behind in Redis
    assert conn.keys("rq:scheduler-lock:*")
    queue = Queue("outbound", connection=conn, serializer=JSONSerializer)
    job = queue.enqueue_in(timedelta(seconds=2), "builtins.max", 1, 2)
    due = time.monotonic() + 2
    second = start_worker(app, flaky_redis.url, log)
    try:
        wait_until(lambda: Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status() == "finished",
                   60, "the scheduled job to run")
        assert time.monotonic() - due < 45, log.read_text()[-2000:]
    finally:
        stop(second)


def test_a_killed_workers_scheduler_does_not_live_on(app, flaky_redis, tmp_path):
    conn = flaky_redis.client()
    worker = start_worker(app, flaky_redis.url, tmp_path / "worker.log")
    try:
        wait_until(lambda: conn.keys("rq:scheduler-lock:*"), 90, "the scheduler to start")
        children = wait_until(lambda: psutil.Process(worker.pid).children(recursive=True), 10,
                              "the scheduler's process (a child of the worker)")
        worker.send_signal(signal.SIGKILL)  # the worker alone
        worker.wait(10)
        wait_until(lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children), 15,
                   "the orphaned scheduler to stop")
        wait_until(lambda: not conn.keys("rq:scheduler-lock:*"), 10, "its locks to be released")
    finally:
        stop(worker)
