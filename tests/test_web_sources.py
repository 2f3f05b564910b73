"""Website sources in the app: API → crawl queue → worker → pages recorded → answers link the page;
sync now, schedule, removal, tenant isolation, SSRF refusal, and a crawl that never starves
another company's upload and chat (its own queue and worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from tests.browser_support import make_user, staff  # noqa: F401  (fixtures)
from tests.fakes.website import LOCAL, Website, html_page, site  # noqa: F401  (site: fixture)
from tests.test_workers import worker_env
from tests.conftest import burst_runner


@pytest.fixture
def local_web(app):
    app.config["WEB_OPTIONS"] = LOCAL
    return app


@pytest.fixture
def run_crawls(app, redis_conn):
    """Run the queued website syncs (the crawl queue) in this process."""
    from app.infra.queues import CRAWL_QUEUES

    return burst_runner(app, redis_conn, CRAWL_QUEUES)


def add(client, headers, url, mode="crawl", **extra):
    return client.post("/api/knowledge/sources/", headers=headers, json={"url": url, "mode": mode, **extra})


def test_a_crawl_is_imported_by_the_crawl_worker_and_answers_link_its_pages(local_web, client, make_company, site,
                                                                           run_jobs, run_crawls):
    company_id, _, headers = make_company()
    response = add(client, headers, site.url("/help/"))
    assert response.status_code == 202
    source = response.get_json()
    assert source["status"] == "queued" and source["mode"] == "crawl" and source["sync_interval_hours"] == 24

    run_jobs()  # the default worker does not take website syncs
    assert client.get(f"/api/knowledge/sources/{source['id']}/", headers=headers).get_json()["status"] == "queued"
    run_crawls()
    source = client.get(f"/api/knowledge/sources/{source['id']}/", headers=headers).get_json()
    assert source["status"] == "idle" and source["page_count"] == 9 and source["pages_changed"] == 9
    assert source["pages_failed"] == 4 and source["last_synced_at"] and source["next_sync_at"]

    pages = client.get(f"/api/knowledge/sources/{source['id']}/pages/", headers=headers).get_json()
    by_url = {p["url"].replace(site.base, ""): p for p in pages["pages"]}
    assert by_url["/help/returns"]["status"] == "created" and by_url["/help/returns"]["title"] == "Returns policy | Acme Help"
    assert by_url["/help/missing"]["status"] == "failed" and by_url["/help/missing"]["reason"] == "Not found (HTTP 404)."
    assert by_url["/help/private/staff-notes"]["status"] == "skipped"
    failed = client.get(f"/api/knowledge/sources/{source['id']}/pages/?status=failed", headers=headers).get_json()
    assert failed["total"] == 4

    answer = client.post("/api/chat/message/", headers=headers,
                         json={"message": "How much does return shipping from Europe cost?"}).get_json()
    assert answer["answered"] and "9 euros" in answer["response"]
    cited = {source["url"]: source["title"] for source in answer["sources"]}
    assert cited[site.url("/help/returns")] == "Returns policy | Acme Help"
    documents = client.get("/api/knowledge/documents/", headers=headers).get_json()
    assert documents["total"] == 0  # pages are the source's, not uploads


def test_sync_now_embeds_nothing_when_nothing_changed_and_records_changes(local_web, client, make_company, site,
                                                                         run_crawls):
    _, _, headers = make_company()
    source = add(client, headers, site.url("/help/")).get_json()
    run_crawls()
    again = client.post(f"/api/knowledge/sources/{source['id']}/sync/", headers=headers)
    assert again.status_code == 202 and again.get_json()["status"] == "queued"
    site.pages["/help/faq"] = html_page("FAQ | Acme Help", "<h1>FAQ</h1><p>Gift cards expire after ten years.</p>")
    run_crawls()
    source = client.get(f"/api/knowledge/sources/{source['id']}/", headers=headers).get_json()
    assert (source["pages_changed"], source["pages_unchanged"], source["page_count"]) == (1, 8, 9)
    pages = client.get(f"/api/knowledge/sources/{source['id']}/pages/?status=replaced", headers=headers).get_json()
    assert [p["url"] for p in pages["pages"]] == [site.url("/help/faq")]


def test_removing_a_source_removes_its_documents(local_web, client, make_company, site, run_jobs, run_crawls):
    company_id, _, headers = make_company()
    source = add(client, headers, site.url("/sitemap_index.xml"), mode="sitemap").get_json()
    run_crawls()
    kb = local_web.extensions["knowledge_base"]
    assert len(kb.list_documents(company_id)) == 6
    assert client.delete(f"/api/knowledge/sources/{source['id']}/", headers=headers).status_code == 202
    assert client.get(f"/api/knowledge/sources/{source['id']}/", headers=headers).status_code == 404
    assert client.get("/api/knowledge/sources/", headers=headers).get_json()["total"] == 0
    run_jobs()
    assert kb.list_documents(company_id) == [] and kb.web_pages(company_id, source["id"]) == []


def test_sources_are_isolated_between_companies(local_web, client, make_company, site, run_crawls):
    _, _, a = make_company("Acme")
    _, _, b = make_company("Globex")
    source = add(client, a, site.url("/help/faq"), mode="page").get_json()
    for method, path in (("get", ""), ("get", "pages/"), ("post", "sync/"), ("delete", "")):
        response = getattr(client, method)(f"/api/knowledge/sources/{source['id']}/{path}", headers=b)
        assert response.status_code == 404, (method, path)
    assert client.get("/api/knowledge/sources/", headers=b).get_json()["total"] == 0
    theirs = add(client, b, site.url("/help/faq"), mode="page")
    assert theirs.status_code == 202 and theirs.get_json()["id"] != source["id"]
    assert add(client, a, site.url("/help/faq"), mode="page").status_code == 200  # the same source again
    run_crawls()
    answer = client.post("/api/chat/message/", headers=b, json={"message": "Do gift cards expire?"}).get_json()
    assert answer["answered"] and answer["sources"][0]["url"] == site.url("/help/faq")


@pytest.mark.parametrize("url, code", [
    ("http://127.0.0.1:8080/admin", "unsafe_url"), ("http://localhost/", "unsafe_url"),
    ("http://169.254.169.254/latest/meta-data/", "unsafe_url"), ("http://10.0.0.8/", "unsafe_url"),
    ("file:///etc/passwd", "unsafe_url"), ("http://user:pw@example.com/", "unsafe_url"), ("not a url", "unsafe_url"),
])
def test_internal_addresses_are_refused_when_the_setting_is_off(app, client, make_company, url, code):
    _, _, headers = make_company()
    response = add(client, headers, url)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == code
    assert client.get("/api/knowledge/sources/", headers=headers).get_json()["total"] == 0


def test_bad_bodies_are_422(local_web, client, make_company, site):
    _, _, headers = make_company()
    assert add(client, headers, site.url("/"), mode="everything").status_code == 422
    assert add(client, headers, site.url("/"), max_pages=0).status_code == 422
    assert add(client, headers, site.url("/"), unknown=1).status_code == 422


def test_syncs_are_scheduled_when_due(local_web, client, make_company, site, run_crawls, runner_for):
    _, _, headers = make_company()
    daily = add(client, headers, site.url("/help/faq"), mode="page").get_json()
    manual = add(client, headers, site.url("/help/shipping"), mode="page", sync_interval_hours=0).get_json()
    run_crawls()
    with local_web.app_context():
        from app.infra.extensions import db
        from app.infra.models import KnowledgeSource, now
        from app.services import websites

        sources = {s.id: s for s in db.session.query(KnowledgeSource)}
        assert sources[manual["id"]].next_sync_at is None
        assert timedelta(hours=23) < sources[daily["id"]].next_sync_at - now() <= timedelta(hours=24)
        assert websites.due_sources() == []
        sources[daily["id"]].next_sync_at = now() - timedelta(minutes=1)
        db.session.commit()
    result = runner_for(local_web).invoke(args=["knowledge", "sync-due"])
    assert "Queued 1 syncs" in result.output
    got = client.get(f"/api/knowledge/sources/{daily['id']}/", headers=headers).get_json()
    assert got["status"] == "queued"
    run_crawls()
    got = client.get(f"/api/knowledge/sources/{daily['id']}/", headers=headers).get_json()
    assert got["status"] == "idle" and got["pages_unchanged"] == 1


@pytest.fixture
def runner_for():
    def make(app):
        return app.test_cli_runner()

    return make


def test_cli_import_url(local_web, make_company, site, run_crawls):
    make_company("Acme Corp")
    runner = local_web.test_cli_runner()
    result = runner.invoke(args=["knowledge", "import-url", "acme-corp", site.url("/sitemap_index.xml"), "--sitemap"])
    assert result.exit_code == 0 and "Added" in result.output
    run_crawls()
    listed = runner.invoke(args=["knowledge", "sources", "acme-corp"])
    assert "sitemap" in listed.output and "idle" in listed.output and "pages=6" in listed.output
    refused = runner.invoke(args=["knowledge", "import-url", "acme-corp", "ftp://example.com/", "--crawl"])
    assert refused.exit_code != 0 and "Only http://" in refused.output


# ------------------------------------------------------------------------------ one crawl, other companies' work
def big_help_center(site: Website, articles: int = 120, delay: float = 0.25) -> None:
    links = "".join(f'<li><a href="article-{i}">Article {i}</a></li>' for i in range(articles))
    site.pages["/help/"] = html_page("Help Center | Acme", f"<h1>Help Center</h1><ul>{links}</ul>")
    for i in range(articles):
        site.pages[f"/help/article-{i}"] = html_page(
            f"Article {i} | Acme Help", f"<h1>Article {i}</h1><p>Topic {i}: tents, stoves and rule {i * 7}.</p>")
        site.pages[f"/help/article-{i}"].delay = delay


def source_state(app, source_id):
    with app.app_context():
        from app.infra.extensions import db
        from app.infra.models import KnowledgeSource

        db.session.expire_all()
        source = db.session.get(KnowledgeSource, source_id)
        return source.status, source.pages_done, source.worker_id


def test_a_long_crawl_does_not_starve_other_companies_and_survives_a_killed_worker(
        local_web, client, make_company, site, redis_conn, run_jobs):
    big_help_center(site)
    _, _, crawler = make_company("Big Crawl Inc")
    source = add(client, crawler, site.url("/help/"), max_pages=500).get_json()
    env = {**worker_env(local_web, redis_conn), "WEB_ALLOWED_NETWORKS": "127.0.0.1/32", "WEB_REQUEST_DELAY": "0"}
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", "--queue", "crawl"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while source_state(local_web, source["id"])[1] < 3:
            assert worker.poll() is None and time.monotonic() < deadline, "the crawl worker never got going"
            time.sleep(0.2)

        # Meanwhile another company uploads a document and chats: the default worker serves them at once.
        _, _, other = make_company("Small Shop")
        upload = client.post("/api/knowledge/documents/upload/", headers=other,
                             json={"title": "Hours", "content": "The shop opens at nine and closes at six."})
        started = time.monotonic()
        run_jobs()
        document = client.get(f"/api/knowledge/documents/{upload.get_json()['id']}/", headers=other).get_json()
        answer = client.post("/api/chat/message/", headers=other, json={"message": "When does the shop open?"})
        assert document["status"] == "completed" and answer.get_json()["answered"]
        assert time.monotonic() - started < 30
        status, done, worker_id = source_state(local_web, source["id"])
        assert status == "syncing" and done < 123  # the crawl was still running all along

        os.killpg(worker.pid, signal.SIGKILL)  # and now its worker dies mid-crawl
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert source_state(local_web, source["id"])[0] == "syncing"

    for i in range(120):
        site.pages[f"/help/article-{i}"].delay = 0
    from workers.cli import run_worker

    run_worker(local_web, burst=True, queue_names=("crawl",))  # a new crawl worker: recovery, then the sync
    final = client.get(f"/api/knowledge/sources/{source['id']}/", headers=crawler).get_json()
    # The index, its 120 articles, and the two help pages its navigation links to.
    assert final["status"] == "idle" and final["page_count"] == 123 and final["pages_done"] == 123
    kb = local_web.extensions["knowledge_base"]
    with local_web.app_context():
        from app.infra.extensions import db
        from app.infra.models import KnowledgeSource

        tenant = db.session.get(KnowledgeSource, source["id"]).company_id
    titles = [d.title for d in kb.list_documents(tenant)]
    assert len(titles) == len(set(titles)) == 123  # each page once, nothing half-written


# ------------------------------------------------------------------------------ citations on every channel
WEB_SOURCE = {"document_id": "web-1", "title": "Returns policy | Acme Help", "page": None, "chunk_id": "c1",
              "score": 0.8, "snippet": "Region: Europe; Fee: 9 euros", "url": "https://help.acme.example/returns"}
PDF_SOURCE = {"document_id": "d2", "title": "policies.pdf", "page": 2, "chunk_id": "c2", "score": 0.7, "snippet": ""}


def test_email_and_whatsapp_replies_link_the_pages_they_cite(app):
    from app.channels.outbound.email import compose
    from app.channels.outbound.whatsapp import reply_text
    from app.infra.models import Message

    message = Message(role="assistant", answered=True, content="Returns from Europe cost 9 euros. [1]",
                      sources=[WEB_SOURCE, PDF_SOURCE, {**WEB_SOURCE, "url": "javascript:alert(1)", "title": "x"}])
    text, body = compose(message)
    assert "- Returns policy | Acme Help: https://help.acme.example/returns" in text and "- policies.pdf, page 2" in text
    assert '<a href="https://help.acme.example/returns">Returns policy | Acme Help</a>' in body
    assert "javascript:" not in text + body
    assert reply_text(message).endswith(
        "Sources: Returns policy | Acme Help (https://help.acme.example/returns); policies.pdf p.2; x")


def test_staff_pages_and_the_widget_link_web_sources(app, staff):
    from app.infra.extensions import db
    from app.infra.models import Message
    from app.widget import message_json
    from tests.test_pages_dashboard import conversation

    owner = staff()
    conv_id = conversation(app, owner.company_id, customer_id="session-web-source-0001", messages=[
        ("customer", "How much is return shipping?"), ("assistant", "9 euros. [1]", True, [WEB_SOURCE, PDF_SOURCE])])
    page = owner.client.get(f"/dashboard/conversations/{conv_id}").get_data(as_text=True)
    assert f'<a class="source" href="{WEB_SOURCE["url"]}" target="_blank"' in page
    assert "policies.pdf · p. 2</span>" in page
    with app.app_context():
        reply = db.session.query(Message).filter_by(conversation_id=conv_id, role="assistant").one()
        assert message_json(reply)["sources"][0]["url"] == WEB_SOURCE["url"]


def test_the_crawl_workers_scheduler_queues_due_syncs(local_web, client, make_company, site, run_crawls):
    import threading

    from workers.context import set_app
    from workers.sources import run_scheduler

    _, _, headers = make_company()
    source = add(client, headers, site.url("/help/faq"), mode="page").get_json()
    run_crawls()
    with local_web.app_context():
        from app.infra.extensions import db
        from app.infra.models import KnowledgeSource, now

        db.session.get(KnowledgeSource, source["id"]).next_sync_at = now() - timedelta(seconds=1)
        db.session.commit()
    set_app(local_web)
    stop = threading.Event()
    thread = run_scheduler(stop, every=0.05)
    try:
        deadline = time.monotonic() + 10
        while client.get(f"/api/knowledge/sources/{source['id']}/", headers=headers).get_json()["status"] != "queued":
            assert time.monotonic() < deadline, "the scheduler never queued the due sync"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(5)
